package monitor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
)

// orderInstance records the order in which the monitor calls Terminate and
// Close; Terminate blocks until release is closed. Only those two entry
// points may be called.
type orderInstance struct {
	plugins.Instance
	entered, release chan struct{}

	mu    sync.Mutex
	calls []string
}

func (o *orderInstance) record(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, s)
}

func (o *orderInstance) Terminate(ctx context.Context) error {
	close(o.entered)
	<-o.release
	o.record("terminate")
	return nil
}

func (o *orderInstance) Close(ctx context.Context) error {
	o.record("close")
	return nil
}

// TestCloseNeverOvertakesTerminate: when a fence terminates every resource
// of the node while the group's executor ends its tenure (it stops, or it
// finds the ownership lost), the instances are closed only after Terminate
// returned, and Terminate runs once. A chaos run caught a plugin resource
// closed while its Terminate was still on its way (the plugin answered "not
// open" and the application kept running) and a WASM instance closed
// before its Terminate could run.
func TestCloseNeverOvertakesTerminate(t *testing.T) {
	for _, second := range []struct {
		name string
		run  func(x *executor)
	}{
		{"the executor stops", func(x *executor) { x.end() }},
		{"the ownership is lost", func(x *executor) { x.lost("test") }},
	} {
		t.Run(second.name, func(t *testing.T) {
			c := newFakeCluster()
			m, err := New(Config{Node: "n1", Cluster: c, Checkpoints: fakeCheckpoints{}})
			if err != nil {
				t.Fatal(err)
			}
			s := c.session("n1")
			lease, err := s.Acquire(context.Background(), "g1")
			if err != nil {
				t.Fatal(err)
			}
			x := newExecutor(m, s, "g1", func() {})
			inst := &orderInstance{entered: make(chan struct{}), release: make(chan struct{})}
			rec := model.Resource{ID: "id1", Name: "r1", Group: "g1"}
			r := NewResource(ResourceConfig{Record: rec, Instance: inst})
			x.t = &tenure{lease: lease, res: []*hosted{{rec: rec, r: r}}, published: map[string]model.ResourceStatus{}}
			m.hosted.add("g1", lease.Fence().Token, r)

			fenceDone := make(chan struct{})
			go func() {
				defer close(fenceDone)
				m.hosted.terminate("", "the node fenced itself", m.log)
			}()
			<-inst.entered
			secondDone := make(chan struct{})
			go func() {
				defer close(secondDone)
				second.run(x)
			}()
			select {
			case <-secondDone:
				t.Fatalf("the tenure ended while Terminate was still running: calls %v", inst.calls)
			case <-time.After(50 * time.Millisecond): // it must still be waiting: a bounded look, not a synchronisation
			}
			close(inst.release)
			<-fenceDone
			<-secondDone
			inst.mu.Lock()
			defer inst.mu.Unlock()
			if len(inst.calls) != 2 || inst.calls[0] != "terminate" || inst.calls[1] != "close" {
				t.Fatalf("calls %v, want terminate then close", inst.calls)
			}
		})
	}
}
