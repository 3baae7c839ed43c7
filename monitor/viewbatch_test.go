package monitor

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/resmon/resmon/model"
)

var _ ViewReader = (*fakeCluster)(nil)

// gatedViews is a ViewReader whose reads wait for the gate to open; it
// records the groups of every call as the call begins.
type gatedViews struct {
	gate  chan struct{}
	mu    sync.Mutex
	calls [][]string
}

func (g *gatedViews) GroupViews(ctx context.Context, groups []string) ([]model.GroupView, error) {
	g.mu.Lock()
	g.calls = append(g.calls, groups)
	g.mu.Unlock()
	<-g.gate
	out := make([]model.GroupView, len(groups))
	for i, name := range groups {
		out[i] = model.GroupView{Status: model.GroupStatus{Group: name}}
	}
	return out, nil
}

func (g *gatedViews) reading() (calls, groups int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.calls {
		groups += len(c)
	}
	return len(g.calls), groups
}

// TestViewsAreReadTogether: the views of groups this node does not own,
// asked for while earlier reads are in flight, go to etcd together, at
// most MaxViewReads in one call, each caller getting its own group's view;
// one whose caller has gone is not read. One call per view made a dead
// node's thousand groups a thousand reads on every survivor.
func TestViewsAreReadTogether(t *testing.T) {
	const n = 100
	m := &Monitor{}
	vr := &gatedViews{gate: make(chan struct{})}
	type result struct {
		group string
		view  model.GroupView
		err   error
	}
	results := make(chan result, n)
	gone, leave := context.WithCancel(context.Background())
	for i := range n {
		ctx := context.Background()
		if i == n-1 {
			ctx = gone
		}
		go func() {
			g := fmt.Sprintf("g%03d", i)
			v, err := m.batchedView(ctx, vr, g)
			results <- result{g, v, err}
		}()
	}
	waitFake(t, "every view asked for", func() bool {
		m.views.mu.Lock()
		waiting := len(m.views.waiting)
		m.views.mu.Unlock()
		_, reading := vr.reading()
		return waiting+reading == n
	})
	first, _ := vr.reading()
	if first > viewReaders {
		t.Fatalf("%d reads in flight, at most %d allowed", first, viewReaders)
	}
	// The last caller leaves before its view is read (unless its view is
	// already being read).
	leave()
	close(vr.gate)
	got := map[string]model.GroupView{}
	for range n {
		r := <-results
		if r.err != nil {
			if r.group != fmt.Sprintf("g%03d", n-1) {
				t.Fatalf("view of %s: %v", r.group, r.err)
			}
			continue
		}
		if r.view.Status.Group != r.group {
			t.Fatalf("the caller asking for %s got the view of %q", r.group, r.view.Status.Group)
		}
		got[r.group] = r.view
	}
	calls, groups := vr.reading()
	if calls > first+(n+MaxViewReads-1)/MaxViewReads {
		t.Errorf("%d views read in %d calls (%d in flight before the others waited): want the waiting ones read %d at a time", groups, calls, first, MaxViewReads)
	}
	for _, c := range vr.calls {
		if len(c) > MaxViewReads {
			t.Errorf("one call read %d views, at most %d allowed", len(c), MaxViewReads)
		}
	}
	if len(got) < n-1 || groups > n {
		t.Errorf("%d views returned, %d read, for %d asked (one caller left)", len(got), groups, n)
	}
}

// TestATakeByAnotherNodeWakesNobodyElse: an ownership taken by another
// node leaves this node nothing to decide about the group, so its executor
// is not woken to read the group's view; every survivor of a dead node
// read the view of each of its groups again as each was taken.
func TestATakeByAnotherNodeWakesNobodyElse(t *testing.T) {
	c := newFakeCluster()
	group := func(name string) model.Group {
		g := model.DefaultGroup(name)
		g.PreferredOwners = []string{"n2"} // up, but runs no monitor
		return g
	}
	c.setDB(model.Database{Groups: []model.Group{group("taken"), group("marker")}})
	c.setNodes("n1", "n2")
	runN1(t, c, c, 0)
	ctx := context.Background()
	waitFake(t, "both views read at start", func() bool {
		v, _ := c.reads()
		return v["taken"] > 0 && v["marker"] > 0
	})
	base, _ := c.reads()
	if _, err := c.session("n2").Acquire(ctx, "taken"); err != nil {
		t.Fatal(err)
	}
	// A request for marker, after the take: once its view is read, the
	// take has been handled too.
	c.file(model.Request{Group: "marker", Action: model.RequestOnline})
	waitFake(t, "marker's view read after its request", func() bool {
		v, _ := c.reads()
		return v["marker"] > base["marker"]
	})
	if v, _ := c.reads(); v["taken"] != base["taken"] {
		t.Fatalf("n2 taking the group made n1 read its view %d more times", v["taken"]-base["taken"])
	}
}
