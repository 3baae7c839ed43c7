package sdktest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/resmon/resmon/sdk"
)

// Target is a resource type under test, reached directly or through a
// transport (a go-plugin process, a WASM instance). Transport adapters live
// with the transports; Direct calls the type in-process.
type Target interface {
	// Open opens a resource whose host is h.
	Open(ctx context.Context, h *Host, req sdk.OpenRequest) (Opened, error)
	// Close releases the target (stops processes, runtimes).
	Close(ctx context.Context) error
}

// Opened is an opened resource as a target exposes it.
type Opened interface {
	Online(ctx context.Context) error
	Offline(ctx context.Context) error
	Terminate(ctx context.Context) error
	LooksAlive(ctx context.Context) (bool, error)
	IsAlive(ctx context.Context) (bool, error)
	Close(ctx context.Context) error
}

// Direct returns a Target that calls t in this process.
func Direct(t sdk.ResourceType) Target { return direct{t} }

type direct struct{ t sdk.ResourceType }

func (d direct) Open(ctx context.Context, h *Host, req sdk.OpenRequest) (Opened, error) {
	r, err := d.t.Open(ctx, h, req)
	if err != nil {
		return nil, err
	}
	return directResource{r}, nil
}

func (direct) Close(context.Context) error { return nil }

type directResource struct{ r sdk.Resource }

func (d directResource) Online(ctx context.Context) error    { return d.r.Online(ctx) }
func (d directResource) Offline(ctx context.Context) error   { return d.r.Offline(ctx) }
func (d directResource) Terminate(ctx context.Context) error { return d.r.Terminate(ctx) }
func (d directResource) Close(ctx context.Context) error     { return d.r.Close(ctx) }
func (d directResource) LooksAlive(ctx context.Context) (bool, error) {
	return d.r.LooksAlive(ctx), nil
}
func (d directResource) IsAlive(ctx context.Context) (bool, error) { return d.r.IsAlive(ctx), nil }

// Options tune the conformance run.
type Options struct {
	// Properties are the private properties every resource is opened with.
	Properties map[string]any
	// Timeout bounds each entry point (default 30s, well under the default
	// PendingTimeout of 180s).
	Timeout time.Duration
	// Setup, when set, runs before each subtest, e.g. to free a port.
	Setup func(t *testing.T)
}

// Run checks that target behaves as the monitor expects of a resource type:
// every entry point returns within the timeout; a resource is healthy once
// online; it can be taken offline and brought online again; Terminate takes
// it down at once, may be repeated, and leaves it restartable; Close works
// after Offline and after Terminate. Each check is a subtest.
func Run(t *testing.T, target Target, o Options) {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
		defer cancel()
		if err := target.Close(ctx); err != nil {
			t.Errorf("closing the target: %v", err)
		}
	})
	n := 0
	open := func(t *testing.T) (Opened, *Host) {
		t.Helper()
		if o.Setup != nil {
			o.Setup(t)
		}
		n++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
		h := NewHost(id)
		var r Opened
		call(t, o.Timeout, "Open", func(ctx context.Context) (err error) {
			r, err = target.Open(ctx, h, sdk.OpenRequest{ID: id, Name: "conformance " + t.Name(), Properties: o.Properties})
			return err
		})
		return r, h
	}
	healthy := func(t *testing.T, r Opened) {
		t.Helper()
		var looks, is bool
		call(t, o.Timeout, "LooksAlive", func(ctx context.Context) (err error) { looks, err = r.LooksAlive(ctx); return })
		call(t, o.Timeout, "IsAlive", func(ctx context.Context) (err error) { is, err = r.IsAlive(ctx); return })
		if !looks || !is {
			t.Fatalf("online resource reports LooksAlive=%v IsAlive=%v, want both true", looks, is)
		}
	}
	t.Run("OnlineHealthyOfflineClose", func(t *testing.T) {
		r, _ := open(t)
		call(t, o.Timeout, "Online", r.Online)
		healthy(t, r)
		call(t, o.Timeout, "Offline", r.Offline)
		call(t, o.Timeout, "Close", r.Close)
	})
	t.Run("OnlineAgainAfterOffline", func(t *testing.T) {
		r, _ := open(t)
		for i := range 2 {
			call(t, o.Timeout, fmt.Sprintf("Online #%d", i+1), r.Online)
			healthy(t, r)
			call(t, o.Timeout, fmt.Sprintf("Offline #%d", i+1), r.Offline)
		}
		call(t, o.Timeout, "Close", r.Close)
	})
	t.Run("TerminateIsPromptRepeatableAndRestartable", func(t *testing.T) {
		r, _ := open(t)
		call(t, o.Timeout, "Online", r.Online)
		call(t, o.Timeout, "Terminate", r.Terminate)
		call(t, o.Timeout, "Terminate again", r.Terminate)
		call(t, o.Timeout, "Online after Terminate", r.Online)
		healthy(t, r)
		call(t, o.Timeout, "Terminate", r.Terminate)
		call(t, o.Timeout, "Close after Terminate", r.Close)
	})
	t.Run("TerminateWithoutOnline", func(t *testing.T) {
		r, _ := open(t)
		call(t, o.Timeout, "Terminate", r.Terminate)
		call(t, o.Timeout, "Close", r.Close)
	})
}

// call runs f with a deadline and fails the test on an error or a hang.
func call(t *testing.T, timeout time.Duration, what string, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(timeout + time.Second):
		t.Fatalf("%s did not return within %s", what, timeout)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("%s returned only at its deadline (%s)", what, timeout)
	}
}
