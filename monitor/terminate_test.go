package monitor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
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

// abandonOnly is the one checkpoint call a fenced tenure makes.
type abandonOnly struct{ Checkpoints }

func (abandonOnly) Abandon(model.Resource) {}

// TestCloseNeverOvertakesTerminate: when a fence terminates a tenure while
// its group's runner, or a lost ownership, ends the tenure, the instances
// are closed only after Terminate returned. A chaos run caught the runner
// closing a plugin resource whose Terminate was still on its way (the
// plugin answered "not open" and the application kept running) and a WASM
// instance closed before its Terminate could run.
func TestCloseNeverOvertakesTerminate(t *testing.T) {
	for _, second := range []struct {
		name string
		run  func(g *groupRunner)
	}{
		{"the runner sees the fence", func(g *groupRunner) { g.terminateAll(""); g.endTenure(false) }},
		{"the ownership is lost", func(g *groupRunner) { g.lost("test") }},
	} {
		t.Run(second.name, func(t *testing.T) {
			m := &Monitor{cfg: Config{Checkpoints: abandonOnly{}, Observer: nopObserver{}, Events: func(string, string, string) {}},
				log: hclog.NewNullLogger(), owned: map[string]bool{}, ownedCh: make(chan struct{}), byID: map[string]*groupRunner{}}
			g := newGroupRunner(m, "g1", func() {})
			inst := &orderInstance{entered: make(chan struct{}), release: make(chan struct{})}
			rec := model.Resource{ID: "id1", Name: "r1", Group: "g1"}
			g.t = &tenure{res: map[string]*hosted{"r1": {rec: rec, r: NewResource(ResourceConfig{Record: rec, Instance: inst})}},
				byID: map[string]*hosted{}, down: make(chan struct{})}

			fenceDone := make(chan struct{})
			go func() {
				defer close(fenceDone)
				g.terminateAll("the node fenced itself")
			}()
			<-inst.entered
			secondDone := make(chan struct{})
			go func() {
				defer close(secondDone)
				second.run(g)
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
