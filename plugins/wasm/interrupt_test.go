package wasm_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/plugins/wasm"
)

var wasmBusy = wasm.Busy

// startOnline runs Online in the background and returns once the call is
// in progress.
func startOnline(t *testing.T, in plugins.Instance) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- in.Online(ctxT(t)) }()
	waitFor(t, "Online to be in progress", func() bool { return wasmBusy(in) })
	return done
}

// Terminate arriving while Online hangs (sleeping in the guest) and while
// the guest spins: Online fails at once with ErrPluginExited, not at its
// deadline, Terminate succeeds, and the resource works afterwards.
func TestTerminateWhileOnlineIsInProgress(t *testing.T) {
	for _, how := range []string{"HangIn", "SpinIn"} {
		t.Run(how, func(t *testing.T) {
			eachGuest(t, func(t *testing.T, path string) {
				svc := pluginstest.New()
				d := newDriver(t, svc)
				rs := resSpec(map[string]any{how: "Online"})
				rs.DeadlockTimeout = 10 * time.Minute // Online must not end by its deadline
				in := open(t, d, typeSpec("term", path), rs)
				done := startOnline(t, in)
				if err := in.Terminate(ctxT(t)); err != nil {
					t.Fatalf("Terminate: %v", err)
				}
				err := <-done
				if !errors.Is(err, plugins.ErrPluginExited) || errors.Is(err, plugins.ErrDeadlock) || !strings.Contains(err.Error(), "interrupted by Terminate") {
					t.Fatalf("Online: %v", err)
				}
				if ok, err := in.LooksAlive(ctxT(t)); !ok || err != nil {
					t.Fatalf("LooksAlive after Terminate: %v %v", ok, err)
				}
				if err := in.Close(ctxT(t)); err != nil {
					t.Fatalf("Close: %v", err)
				}
			})
		})
	}
}

// A guest spinning in an infinite loop is interrupted at DeadlockTimeout;
// the instance is discarded and the next call runs in a fresh one.
func TestSpinInterruptedAtDeadline(t *testing.T) {
	eachGuest(t, func(t *testing.T, path string) {
		d := newDriver(t, pluginstest.New())
		rs := resSpec(map[string]any{"SpinIn": "Online"})
		rs.DeadlockTimeout = 200 * time.Millisecond
		in := open(t, d, typeSpec("spin", path), rs)
		err := in.Online(ctxT(t))
		if !errors.Is(err, plugins.ErrDeadlock) || !strings.Contains(err.Error(), "DeadlockTimeout") {
			t.Fatalf("Online: %v", err)
		}
		if ok, err := in.LooksAlive(ctxT(t)); !ok || err != nil {
			t.Fatalf("LooksAlive in a fresh instance: %v %v", ok, err)
		}
	})
}

// A guest hanging in Open (Go: blocked on its context) ends at the deadline.
func TestHangInOpenEndsAtDeadline(t *testing.T) {
	d := newDriver(t, pluginstest.New())
	rs := resSpec(map[string]any{"HangIn": "Open"})
	rs.DeadlockTimeout = 200 * time.Millisecond
	if _, err := d.Open(ctxT(t), typeSpec("hang", goGuest(t, guestTestType)), rs); !errors.Is(err, plugins.ErrDeadlock) {
		t.Fatalf("Open: %v", err)
	}
}

// A trap (a Go panic, a C __builtin_trap) fails the call with
// ErrPluginExited, discards the instance, and the next call works.
func TestTrapDiscardsTheInstance(t *testing.T) {
	eachGuest(t, func(t *testing.T, path string) {
		svc := pluginstest.New()
		d := newDriver(t, svc)
		ts := typeSpec("trap", path)
		in := open(t, d, ts, resSpec(map[string]any{"PanicIn": "Online"}))
		err := in.Online(ctxT(t))
		if !errors.Is(err, plugins.ErrPluginExited) || !strings.Contains(err.Error(), "discarded") {
			t.Fatalf("Online: %v", err)
		}
		if strings.Contains(path, "testtype") && !strings.Contains(err.Error(), "panic: testtype: injected panic in Online") {
			t.Fatalf("the Go panic message is missing: %v", err)
		}
		t.Log(err)
		if ok, err := in.IsAlive(ctxT(t)); !ok || err != nil {
			t.Fatalf("IsAlive in a fresh instance: %v %v", ok, err)
		}
		if err := in.Terminate(ctxT(t)); err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		// A second resource of the type is unaffected.
		other := open(t, d, ts, resSpec(nil))
		if err := other.Online(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("GoPanicInOpen", func(t *testing.T) {
		d := newDriver(t, pluginstest.New())
		ts := typeSpec("trap", goGuest(t, guestTestType))
		if _, err := d.Open(ctxT(t), ts, resSpec(map[string]any{"PanicIn": "Open"})); !errors.Is(err, plugins.ErrPluginExited) {
			t.Fatalf("Open: %v", err)
		}
		open(t, d, ts, resSpec(nil))
	})
}

// Close of the driver interrupts calls in progress.
func TestDriverCloseInterruptsCalls(t *testing.T) {
	d := wasm.New(wasm.Config{Services: pluginstest.New(), CacheDir: cacheDir()})
	in, err := d.Open(ctxT(t), typeSpec("dclose", goGuest(t, guestTestType)), resSpec(map[string]any{"HangIn": "Online"}))
	if err != nil {
		t.Fatal(err)
	}
	done := startOnline(t, in)
	if err := d.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, plugins.ErrPluginExited) {
		t.Fatalf("Online: %v", err)
	}
	if _, err := d.Open(ctxT(t), typeSpec("dclose", goGuest(t, guestTestType)), resSpec(nil)); !errors.Is(err, plugins.ErrPluginExited) {
		t.Fatalf("Open after Close: %v", err)
	}
}
