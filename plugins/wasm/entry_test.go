package wasm_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/plugins/wasm"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm/abi"
)

// Every entry point through the transport, with the registry and the
// checkpoint control codes used from inside Online.
func TestEveryEntryPoint(t *testing.T) {
	eachGuest(t, func(t *testing.T, path string) {
		svc := pluginstest.New()
		d := newDriver(t, svc)
		rs := resSpec(map[string]any{
			"CheckpointKey": `SOFTWARE\Onyone`, "RegistryKey": `SOFTWARE\Onyone\State`,
			"LooksAlive": true, "IsAlive": false,
		})
		in := open(t, d, typeSpec("entry", path), rs)
		ctx := ctxT(t)
		if !logsContain(svc, rs.Name, "opened") {
			t.Fatalf("Open's log line is missing: %q", svc.Logs())
		}
		if err := in.Online(ctx); err != nil {
			t.Fatalf("Online: %v", err)
		}
		if got := svc.Checkpoints.List(rs.ID, false); len(got) != 1 || got[0] != `SOFTWARE\Onyone` {
			t.Fatalf("checkpoints after Online: %q", got)
		}
		if vs, err := svc.Reg.Values(ctx, `SOFTWARE\Onyone\State`); err != nil || len(vs) != 1 {
			t.Fatalf("registry after Online: %v %v", vs, err)
		}
		if ok, err := in.LooksAlive(ctx); !ok || err != nil {
			t.Fatalf("LooksAlive = %v, %v", ok, err)
		}
		if ok, err := in.IsAlive(ctx); ok || err != nil {
			t.Fatalf("IsAlive = %v, %v; want false (property)", ok, err)
		}
		out, err := in.Control(ctx, 1, []byte("echo me"))
		if err != nil || string(out) != "echo me" {
			t.Fatalf("Control(1) = %q, %v", out, err)
		}
		svc.SetFencingToken(rs.ID, 4242)
		if out, err := in.Control(ctx, 2, nil); err != nil || string(out) != "4242" {
			t.Fatalf("Control(2) fencing token = %q, %v", out, err)
		}
		if _, err := in.Control(ctx, 0x777, nil); !errors.Is(err, sdk.ErrInvalidFunction) {
			t.Fatalf("unknown control code: %v", err)
		}
		if _, err := in.Control(ctx, sdk.AddRegistryCheckpoint, []byte(`SOFTWARE\Y`)); !errors.Is(err, sdk.ErrInvalidParameter) {
			t.Fatalf("checkpoint code through Instance.Control: %v", err)
		}
		if err := in.Offline(ctx); err != nil {
			t.Fatalf("Offline: %v", err)
		}
		if err := in.Online(ctx); err != nil { // the checkpoint exists now: ALREADY_EXISTS is tolerated
			t.Fatalf("Online again: %v", err)
		}
		if err := in.Terminate(ctx); err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		if err := in.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := in.Online(ctx); !errors.Is(err, plugins.ErrPluginExited) {
			t.Fatalf("Online after Close: %v", err)
		}
	})
}

// Each function wazero hands out has a call engine and a 10 KiB stack of
// its own, which lives as long as it is kept: an idle instance keeps only
// the health checks' functions, the calls made every few seconds, and calls
// Open, Online and Offline again with fresh ones.
func TestOnlyHealthChecksKeepTheirFunctions(t *testing.T) {
	eachGuest(t, func(t *testing.T, path string) {
		d := newDriver(t, pluginstest.New())
		in := open(t, d, typeSpec("kept", path), resSpec(map[string]any{"LooksAlive": true, "IsAlive": true}))
		ctx := ctxT(t)
		for range 2 {
			if err := in.Online(ctx); err != nil {
				t.Fatalf("Online: %v", err)
			}
			if ok, err := in.LooksAlive(ctx); !ok || err != nil {
				t.Fatalf("LooksAlive = %v, %v", ok, err)
			}
			if ok, err := in.IsAlive(ctx); !ok || err != nil {
				t.Fatalf("IsAlive = %v, %v", ok, err)
			}
			if got := wasm.KeptFunctions(in); !slices.Equal(got, []string{"LooksAlive", "IsAlive"}) {
				t.Fatalf("functions kept by an online instance: %q; want the health checks'", got)
			}
			if err := in.Offline(ctx); err != nil {
				t.Fatalf("Offline: %v", err)
			}
		}
	})
}

// A guest's error crosses the boundary with its message; sdk sentinels and
// *sdk.MoreDataError survive.
func TestGuestErrorsCrossTheBoundary(t *testing.T) {
	t.Run("Go", func(t *testing.T) {
		d := newDriver(t, pluginstest.New())
		in := open(t, d, typeSpec("errs", goGuest(t, guestTestType)), resSpec(map[string]any{"FailIn": "Online"}))
		err := in.Online(ctxT(t))
		if err == nil || err.Error() != "testtype: injected failure in Online" {
			t.Fatalf("Online: %v", err)
		}
		var ae *abi.Error
		if !errors.As(err, &ae) || ae.Status != abi.StatusFailed {
			t.Fatalf("status: %#v", err)
		}
		if _, err := d.Open(ctxT(t), typeSpec("errs", goGuest(t, guestTestType)), resSpec(map[string]any{"FailIn": "Open"})); err == nil || !strings.Contains(err.Error(), "injected failure in Open") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("C", func(t *testing.T) {
		d := newDriver(t, pluginstest.New())
		in := open(t, d, typeSpec("errs", cGuest(t)), resSpec(nil))
		ctx := ctxT(t)
		_, err := in.Control(ctx, 4, nil)
		var more *sdk.MoreDataError
		if !errors.As(err, &more) || more.Needed != 1000 || !errors.Is(err, sdk.ErrMoreData) {
			t.Fatalf("MORE_DATA from the guest: %v", err)
		}
		if _, err := in.Control(ctx, 5, nil); !errors.Is(err, sdk.ErrAlreadyExists) || !strings.Contains(err.Error(), "cguest: it already exists") {
			t.Fatalf("ALREADY_EXISTS from the guest: %v", err)
		}
	})
}

// Progress reports made during Online reach Services while Online runs.
func TestProgressReachesServices(t *testing.T) {
	eachGuest(t, func(t *testing.T, path string) {
		svc := pluginstest.New()
		d := newDriver(t, svc)
		rs := resSpec(map[string]any{"OnlineDelayMs": 400, "ProgressMs": 20})
		in := open(t, d, typeSpec("progress", path), rs)
		n0, next := svc.ProgressCount(rs.ID)
		done := make(chan error, 1)
		go func() { done <- in.Online(ctxT(t)) }()
		// At least two reports arrive before Online returns.
		for seen := 0; seen < 2; {
			select {
			case <-next:
				var n int
				n, next = svc.ProgressCount(rs.ID)
				seen = n - n0
			case err := <-done:
				t.Fatalf("Online returned (%v) before two progress reports", err)
			case <-time.After(30 * time.Second):
				t.Fatal("no progress reports")
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// Checkpoint control codes from inside Online are answered by the host
// while the guest's call is in progress: no re-entry, no deadlock, even
// with many resources doing it at once on one driver.
func TestCheckpointCodesFromOnlineAreDeadlockFree(t *testing.T) {
	eachGuest(t, func(t *testing.T, path string) {
		svc := pluginstest.New()
		d := newDriver(t, svc)
		const n = 6
		ins := make([]plugins.Instance, n)
		specs := make([]plugins.ResourceSpec, n)
		for i := range ins {
			specs[i] = resSpec(map[string]any{"CheckpointKey": `SOFTWARE\Shared\R` + strconv.Itoa(i)})
			specs[i].DeadlockTimeout = 20 * time.Second
			ins[i] = open(t, d, typeSpec("cpt", path), specs[i])
		}
		errs := make(chan error, n)
		for _, in := range ins {
			go func() { errs <- in.Online(ctxT(t)) }()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for i, rs := range specs {
			if got := svc.Checkpoints.List(rs.ID, false); len(got) != 1 || got[0] != `SOFTWARE\Shared\R`+strconv.Itoa(i) {
				t.Fatalf("resource %d checkpoints: %q", i, got)
			}
		}
	})
}

// Calls from many goroutines into one instance are serialized.
func TestConcurrentCallsAreSerialized(t *testing.T) {
	eachGuest(t, func(t *testing.T, path string) {
		d := newDriver(t, pluginstest.New())
		in := open(t, d, typeSpec("conc", path), resSpec(nil))
		ctx := ctxT(t)
		errs := make(chan error, 8)
		for g := range 8 {
			go func() {
				for range 50 {
					var err error
					switch g % 3 {
					case 0:
						_, err = in.LooksAlive(ctx)
					case 1:
						_, err = in.IsAlive(ctx)
					default:
						_, err = in.Control(ctx, 1, []byte("x"))
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// Large payloads cross the boundary in both directions; payloads over the
// limit are refused before entering the guest.
func TestLargeAndOversizedPayloads(t *testing.T) {
	eachGuest(t, func(t *testing.T, path string) {
		d := newDriver(t, pluginstest.New())
		in := open(t, d, typeSpec("big", path), resSpec(nil))
		ctx := ctxT(t)
		big := make([]byte, 3<<20)
		for i := range big {
			big[i] = byte(i * 7)
		}
		out, err := in.Control(ctx, 1, big)
		if err != nil || len(out) != len(big) || string(out) != string(big) {
			t.Fatalf("3 MiB echo: %d bytes, %v", len(out), err)
		}
		if _, err := in.Control(ctx, 1, make([]byte, abi.MaxPayload+1)); !errors.Is(err, sdk.ErrInvalidParameter) {
			t.Fatalf("oversized control input: %v", err)
		}
		if _, err := d.Open(ctx, typeSpec("big", path), resSpec(map[string]any{"bad": make(chan int)})); !errors.Is(err, sdk.ErrInvalidParameter) {
			t.Fatalf("unencodable property: %v", err)
		}
		if ok, err := in.LooksAlive(ctx); !ok || err != nil {
			t.Fatalf("LooksAlive after: %v %v", ok, err)
		}
	})
}

func TestCallerContextCancelled(t *testing.T) {
	d := newDriver(t, pluginstest.New())
	in := open(t, d, typeSpec("cancel", goGuest(t, guestTestType)), resSpec(map[string]any{"HangIn": "Online"}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Online(ctx) }()
	waitFor(t, "Online to start", func() bool { return wasmBusy(in) })
	cancel()
	if err := <-done; !errors.Is(err, plugins.ErrPluginExited) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Online after cancel: %v", err)
	}
	if ok, err := in.LooksAlive(ctxT(t)); !ok || err != nil {
		t.Fatalf("LooksAlive in a fresh instance: %v %v", ok, err)
	}
}

// Every sdk.Registry call from a Go guest, through the host, with the
// sentinels the guest sees.
func TestGoGuestRegistry(t *testing.T) {
	svc := pluginstest.New()
	d := newDriver(t, svc)
	in := open(t, d, typeSpec("reg", goGuest(t, guestCaps)), resSpec(nil))
	out, err := in.Control(ctxT(t), 0x30, []byte(`SOFTWARE\Tour`))
	if err != nil {
		t.Fatal(err)
	}
	want := `get s REG_SZ "text" [] 0 0
get d REG_DWORD "" [] 7 0
get q REG_QWORD "" [] 1099511627776 0
get m REG_MULTI_SZ "" [a b] 0 0
get big REG_BINARY "" [] 0 3000
get e REG_EXPAND_SZ "%X%" [] 0 0
subkeys ["Sub"]
values ["big" "d" "e" "m" "q" "s"]
deleted value: notfound=true
delete again: notfound=true msg="not found: registry value \"s\" in \"SOFTWARE\\\\Tour\""
subkeys after delete []
delete missing checkpoint: notfound=true
`
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	if v, err := svc.Reg.GetValue(ctxT(t), `software\tour`, "Q"); err != nil || v.Num != 1<<40 {
		t.Fatalf("host registry: %v %v", v, err)
	}
}
