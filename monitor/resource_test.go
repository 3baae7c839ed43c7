package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/monitor"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/plugins/wasm"
	"github.com/resmon/resmon/testutil/testbin"
)

// testtypeWasm is testutil/testtype built as a WASM module.
func testtypeWasm(t *testing.T) string {
	return testbin.BuildWASM(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-wasm")
}

// services routes progress reports to the monitor's resources, as the node does.
type services struct {
	*pluginstest.Services
	mu  sync.Mutex
	res map[string]*monitor.Resource
}

func (s *services) Progress(ctx context.Context, r model.Ref, msg string) error {
	s.mu.Lock()
	res := s.res[r.ID]
	s.mu.Unlock()
	if res != nil {
		res.Progress()
	}
	return s.Services.Progress(ctx, r, msg)
}

type harness struct {
	t      *testing.T
	svc    *services
	driver *wasm.Driver
	spec   plugins.TypeSpec
	n      int
}

func newHarness(t *testing.T) *harness {
	svc := &services{Services: pluginstest.New(), res: map[string]*monitor.Resource{}}
	d := wasm.New(wasm.Config{Services: svc, CacheDir: filepath.Join(os.TempDir(), "resmon-monitor-test-cache")})
	t.Cleanup(func() { d.Close(context.Background()) })
	return &harness{t: t, svc: svc, driver: d, spec: plugins.TypeSpec{Name: "testtype", Kind: "wasm", Path: testtypeWasm(t)}}
}

// open opens a resource of the test type with props and quick properties.
func (h *harness) open(props map[string]any, tune func(*model.Properties), onFail func(monitor.Failure)) *monitor.Resource {
	h.t.Helper()
	h.n++
	p := model.DefaultProperties()
	p.PendingTimeout = model.Duration(2 * time.Second)
	p.DeadlockTimeout = model.Duration(20 * time.Second)
	p.LooksAlivePollInterval = model.Duration(20 * time.Millisecond)
	p.IsAlivePollInterval = model.Duration(time.Hour)
	if tune != nil {
		tune(&p)
	}
	rec := model.Resource{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", h.n), Name: fmt.Sprintf("r%d", h.n), Properties: p}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inst, err := h.driver.Open(ctx, h.spec, plugins.ResourceSpec{ID: rec.ID, Name: rec.Name, Properties: props, DeadlockTimeout: p.DeadlockTimeout.D()})
	if err != nil {
		h.t.Fatal(err)
	}
	r := monitor.NewResource(monitor.ResourceConfig{Record: rec, Instance: inst, OnFailure: onFail})
	h.svc.mu.Lock()
	h.svc.res[rec.ID] = r
	h.svc.mu.Unlock()
	h.t.Cleanup(func() { r.Terminate(context.Background()); r.Close(context.Background()) })
	return r
}

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestResourceOnlineOffline(t *testing.T) {
	h := newHarness(t)
	r := h.open(nil, nil, nil)
	if r.State() != model.ResourceOffline {
		t.Fatalf("new resource is %v", r.State())
	}
	if err := r.Online(ctx30(t)); err != nil {
		t.Fatal(err)
	}
	if r.State() != model.ResourceOnline {
		t.Fatalf("after Online: %v", r.State())
	}
	if err := r.Offline(ctx30(t)); err != nil {
		t.Fatal(err)
	}
	if r.State() != model.ResourceOffline {
		t.Fatalf("after Offline: %v", r.State())
	}
}

// Progress reports restart the PendingTimeout clock: an Online three times
// longer than PendingTimeout succeeds while it keeps reporting.
func TestPendingTimeoutIsMeasuredBetweenProgressReports(t *testing.T) {
	h := newHarness(t)
	r := h.open(map[string]any{"OnlineDelayMs": 900, "ProgressMs": 30}, func(p *model.Properties) {
		p.PendingTimeout = model.Duration(300 * time.Millisecond)
	}, nil)
	if err := r.Online(ctx30(t)); err != nil {
		t.Fatalf("Online with progress failed: %v", err)
	}
	if n, _ := h.svc.ProgressCount(r.ID()); n < 3 {
		t.Fatalf("only %d progress reports", n)
	}
}

// An Online that hangs without progress is terminated at PendingTimeout and
// the resource is Failed.
func TestPendingTimeoutTerminatesAndFails(t *testing.T) {
	h := newHarness(t)
	r := h.open(map[string]any{"HangIn": "Online"}, func(p *model.Properties) {
		p.PendingTimeout = model.Duration(200 * time.Millisecond)
	}, nil)
	err := r.Online(ctx30(t))
	if !errors.Is(err, monitor.ErrPendingTimeout) {
		t.Fatalf("hanging Online: %v", err)
	}
	if r.State() != model.ResourceFailed {
		t.Fatalf("after a pending timeout: %v", r.State())
	}
}

// Offline past PendingTimeout calls Terminate; the resource ends Failed.
func TestOfflinePendingTimeoutCallsTerminate(t *testing.T) {
	h := newHarness(t)
	r := h.open(map[string]any{"HangIn": "Offline"}, func(p *model.Properties) {
		p.PendingTimeout = model.Duration(200 * time.Millisecond)
	}, nil)
	if err := r.Online(ctx30(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.Offline(ctx30(t)); !errors.Is(err, monitor.ErrPendingTimeout) {
		t.Fatalf("hanging Offline: %v", err)
	}
	if r.State() != model.ResourceFailed {
		t.Fatalf("after Offline timeout: %v", r.State())
	}
}

// LooksAlive false runs IsAlive at once; IsAlive false fails the resource
// and terminates it.
func TestHealthFailureFailsAndTerminates(t *testing.T) {
	for _, c := range []struct {
		name  string
		props map[string]any
		fails bool
	}{
		{"LooksAliveFalseIsAliveTrue", map[string]any{"LooksAlive": false, "IsAlive": true}, false},
		{"LooksAliveFalseIsAliveFalse", map[string]any{"LooksAlive": false, "IsAlive": false}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			failed := make(chan monitor.Failure, 1)
			r := h.open(c.props, nil, func(f monitor.Failure) { failed <- f })
			if err := r.Online(ctx30(t)); err != nil {
				t.Fatal(err)
			}
			if !c.fails {
				// Many LooksAlive polls (every 20ms) with IsAlive true: still online.
				deadline := time.Now().Add(300 * time.Millisecond)
				for time.Now().Before(deadline) {
					select {
					case f := <-failed:
						t.Fatalf("failed although IsAlive is true: %v", f.Err)
					case <-time.After(20 * time.Millisecond):
					}
				}
				if r.State() != model.ResourceOnline {
					t.Fatalf("state %v", r.State())
				}
				return
			}
			select {
			case f := <-failed:
				if f.Resource != r.Name() || f.Err == nil {
					t.Fatalf("failure %+v", f)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("IsAlive false did not fail the resource")
			}
			if r.State() != model.ResourceFailed {
				t.Fatalf("state %v", r.State())
			}
		})
	}
}

// TestResourcePropertyChangeWhileOnline: a common property edited while
// the resource is online applies at once: an Offline that hangs is
// terminated after the new, short PendingTimeout, not the hour it had.
func TestResourcePropertyChangeWhileOnline(t *testing.T) {
	h := newHarness(t)
	r := h.open(map[string]any{"HangIn": "Offline"}, func(p *model.Properties) { p.PendingTimeout = model.Duration(time.Hour) }, nil)
	if err := r.Online(ctx30(t)); err != nil {
		t.Fatal(err)
	}
	rec := r.Record()
	rec.Properties.PendingTimeout = model.Duration(100 * time.Millisecond)
	r.SetRecord(rec)
	if err := r.Offline(ctx30(t)); !errors.Is(err, monitor.ErrPendingTimeout) {
		t.Fatalf("Offline after the edit: %v, want ErrPendingTimeout", err)
	}
}
