package monitor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk"
)

// fakeDriver opens instances that do what they are told at once; it
// counts the instances online, per node, to check that a group runs on
// one node at a time.
type fakeDriver struct {
	node   string
	mu     *sync.Mutex
	online map[string]int // node → instances online
}

func (d *fakeDriver) Open(_ context.Context, _ plugins.TypeSpec, r plugins.ResourceSpec) (plugins.Instance, error) {
	return &fakeInstance{d: d}, nil
}
func (d *fakeDriver) Close(context.Context) error { return nil }

type fakeInstance struct {
	d  *fakeDriver
	on bool
}

func (i *fakeInstance) set(on bool) {
	i.d.mu.Lock()
	defer i.d.mu.Unlock()
	if on != i.on {
		i.on = on
		if on {
			i.d.online[i.d.node]++
		} else {
			i.d.online[i.d.node]--
		}
	}
}
func (i *fakeInstance) Online(context.Context) error             { i.set(true); return nil }
func (i *fakeInstance) Offline(context.Context) error            { i.set(false); return nil }
func (i *fakeInstance) Terminate(context.Context) error          { i.set(false); return nil }
func (i *fakeInstance) LooksAlive(context.Context) (bool, error) { return true, nil }
func (i *fakeInstance) IsAlive(context.Context) (bool, error)    { return true, nil }
func (i *fakeInstance) Close(context.Context) error              { return nil }
func (i *fakeInstance) Control(context.Context, sdk.ControlCode, []byte) ([]byte, error) {
	return nil, sdk.ErrInvalidFunction
}

// fakeNode is a monitor running against a fakeCluster.
type fakeNode struct {
	mon  *Monitor
	sess *fakeSession
	stop context.CancelFunc
	done chan error
}

func startFake(t *testing.T, c *fakeCluster, node string, mu *sync.Mutex, online map[string]int) *fakeNode {
	t.Helper()
	m, err := New(Config{Node: node, Cluster: c, Checkpoints: fakeCheckpoints{}, StartupGrace: -1,
		Drivers: map[string]plugins.Driver{model.KindWASM: &fakeDriver{node: node, mu: mu, online: online}}})
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{mon: m, sess: c.session(node), done: make(chan error, 1)}
	ctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	go func() { n.done <- m.Run(ctx, n.sess) }()
	t.Cleanup(func() { stop(); <-n.done })
	return n
}

func waitFake(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestExecutorWithoutEtcd runs two monitors against the in-memory cluster:
// the group comes online on its first preferred owner, an operator move
// gets a typed reply and the group comes online on the other node under a
// larger token, and when that node's session fences and its lease expires
// the first takes the group back and counts a failover. At no time do both
// nodes run the resource.
func TestExecutorWithoutEtcd(t *testing.T) {
	c := newFakeCluster()
	g := model.DefaultGroup("g1")
	g.PreferredOwners, g.PersistentState = []string{"n1", "n2"}, true
	p := model.DefaultProperties()
	p.LooksAlivePollInterval, p.IsAlivePollInterval = model.Duration(time.Hour), model.Duration(time.Hour)
	c.setDB(model.Database{
		Types:     []model.ResourceType{{Name: "fake", Kind: model.KindWASM}},
		Groups:    []model.Group{g},
		Resources: []model.Resource{{ID: "id-a", Name: "a", Type: "fake", Group: "g1", Properties: p}},
	})
	c.setNodes("n1", "n2")
	var mu sync.Mutex
	online := map[string]int{}
	both := false
	count := func(node string) int {
		mu.Lock()
		defer mu.Unlock()
		both = both || (online["n1"] > 0 && online["n2"] > 0)
		return online[node]
	}
	onlineOn := func(node string) func() bool {
		return func() bool {
			st := c.groupStatus("g1")
			return st.State == "Online" && st.Owner == node && count(node) == 1
		}
	}
	startFake(t, c, "n1", &mu, online)
	n2 := startFake(t, c, "n2", &mu, online)
	waitFake(t, "online on n1", onlineOn("n1"))
	first := c.groupStatus("g1")

	req := c.file(model.Request{Group: "g1", Action: model.RequestMove, Operator: "ann"})
	waitFake(t, "online on n2", onlineOn("n2"))
	rep, ok := c.reply(req.ID)
	if !ok || rep.Code != model.ResultDone || rep.Node != "n1" || rep.Message != "moved to n2 by ann" {
		t.Fatalf("reply %+v (%v)", rep, ok)
	}
	moved := c.groupStatus("g1")
	if moved.Token <= first.Token || len(moved.Failovers) != 0 {
		t.Fatalf("after the move: %+v (first token %d)", moved, first.Token)
	}

	close(n2.sess.fenced) // n2's lease deadline passes...
	select {
	case err := <-n2.done:
		if err != ErrSelfFenced {
			t.Fatalf("n2 returned %v, want ErrSelfFenced", err)
		}
		n2.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("n2 did not stop on its fence")
	}
	if count("n2") != 0 {
		t.Fatal("n2 fenced itself but its resource still runs")
	}
	c.setNodes("n1")
	c.expire("n2") // ...then etcd expires its lease
	waitFake(t, "online on n1 again", onlineOn("n1"))
	back := c.groupStatus("g1")
	if back.Token <= moved.Token || len(back.Failovers) != 1 {
		t.Fatalf("after the crash: %+v", back)
	}
	if both {
		t.Fatal("the resource ran on both nodes at once")
	}
}
