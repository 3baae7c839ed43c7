package wasm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/plugins/wasm"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm/abi"
	"github.com/resmon/resmon/tools/benchrec"
)

// rawGuest is the floor: the same module, instantiated in a plain wazero
// runtime with stub imports, its resource opened by
// hand, so that resmon_looks_alive can be called with nothing of the host
// stack around it.
type rawGuest struct {
	rt         wazero.Runtime
	mod        api.Module
	looksAlive api.Function
	stack      []uint64
}

// With interruptible, the runtime watches contexts (WithCloseOnContextDone),
// as the host's must: that floor includes wazero's price for interruption.
func newRawGuest(tb testing.TB, path string, interruptible bool) *rawGuest {
	tb.Helper()
	ctx := context.Background()
	bin, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(sharedCache(tb)).WithCloseOnContextDone(interruptible))
	tb.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	cm, err := rt.CompileModule(ctx, bin)
	if err != nil {
		tb.Fatal(err)
	}
	payload, _ := abi.EncodeOpen(sdk.OpenRequest{ID: "raw", Name: "raw"})
	pos := 0
	b := rt.NewHostModuleBuilder(abi.ModuleName)
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod != abi.ModuleName {
			continue
		}
		results := imp.ResultTypes()
		fn := func(_ context.Context, m api.Module, stack []uint64) {
			if len(results) > 0 {
				stack[0] = 0
			}
		}
		if name == abi.ImportInputRead {
			fn = func(_ context.Context, m api.Module, stack []uint64) {
				n := min(int(uint32(stack[1])), len(payload)-pos)
				m.Memory().Write(uint32(stack[0]), payload[pos:pos+n])
				pos += n
				stack[0] = uint64(n)
			}
		}
		b = b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(fn), imp.ParamTypes(), results).Export(name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		tb.Fatal(err)
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions().WithSysNanotime().WithSysWalltime())
	if err != nil {
		tb.Fatal(err)
	}
	if init := mod.ExportedFunction(abi.ExportInitialize); init != nil {
		if _, err := init.Call(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	res, err := mod.ExportedFunction(abi.ExportOpen).Call(ctx, uint64(len(payload)))
	if err != nil || int32(res[0]) <= 0 {
		tb.Fatalf("raw open: %v %v", res, err)
	}
	return &rawGuest{rt: rt, mod: mod, looksAlive: mod.ExportedFunction(abi.ExportLooksAlive), stack: []uint64{res[0]}}
}

func (g *rawGuest) call(ctx context.Context, tb testing.TB) {
	h := g.stack[0]
	if err := g.looksAlive.CallWithStack(ctx, g.stack); err != nil || g.stack[0] != 1 {
		tb.Fatalf("raw looks_alive: %v %v", g.stack, err)
	}
	g.stack[0] = h
}

var caches = map[string]wazero.CompilationCache{}

func sharedCache(tb testing.TB) wazero.CompilationCache {
	if c, ok := caches[cacheDir()]; ok {
		return c
	}
	c, err := wazero.NewCompilationCacheWithDir(cacheDir())
	if err != nil {
		tb.Fatal(err)
	}
	caches[cacheDir()] = c
	return c
}

func hostLooksAlive(tb testing.TB, path string) plugins.Instance {
	d := newDriver(tb, pluginstest.New())
	rs := resSpec(nil)
	rs.DeadlockTimeout = 300 * time.Second // the Windows default
	return open(tb, d, typeSpec("bench", path), rs)
}

func BenchmarkLooksAlive(b *testing.B) {
	guests := map[string]string{"Go": goGuest(b, guestTestType)}
	if p := cGuestPath(b); p != "" {
		guests["C"] = p
	}
	ctx := context.Background()
	for _, name := range slices.Sorted(mapKeys(guests)) {
		path := guests[name]
		b.Run(name+"/raw", func(b *testing.B) {
			g := newRawGuest(b, path, false)
			for b.Loop() {
				g.call(ctx, b)
			}
		})
		b.Run(name+"/raw-interruptible", func(b *testing.B) {
			g := newRawGuest(b, path, true)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			for b.Loop() {
				g.call(ctx, b)
			}
		})
		b.Run(name+"/host", func(b *testing.B) {
			in := hostLooksAlive(b, path)
			for b.Loop() {
				if ok, err := in.LooksAlive(ctx); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for name, path := range map[string]string{"Go": goGuest(b, guestTestType), "C": cGuestPath(b)} {
		if path == "" {
			continue
		}
		b.Run(name, func(b *testing.B) {
			d := newDriver(b, pluginstest.New())
			ts := typeSpec("bench", path)
			ctx := context.Background()
			for b.Loop() {
				in, err := d.Open(ctx, ts, resSpec(nil))
				if err != nil {
					b.Fatal(err)
				}
				in.Close(ctx)
			}
		})
	}
}

// cGuestPath is the C guest, or "" when it cannot be built here.
func cGuestPath(tb testing.TB) string {
	path, skip, err := buildCGuest()
	if skip != "" {
		tb.Log(skip)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func pct(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestBenchReport prints the numbers of the WASM host, each with its floor
// measured in the same run. RESMON_BENCH=1 enables it.
func TestBenchReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") != "1" {
		t.Skip("set RESMON_BENCH=1 to measure")
	}
	guests := map[string]string{"Go": goGuest(t, guestTestType)}
	if p := cGuestPath(t); p != "" {
		guests["C"] = p
	}
	ctx := context.Background()
	const calls = 200000
	for _, name := range slices.Sorted(mapKeys(guests)) {
		path := guests[name]
		fi, _ := os.Stat(path)

		// LooksAlive: full host stack vs the raw export, plain and with
		// wazero's context watching (the host needs it to interrupt guests).
		raw := newRawGuest(t, path, false)
		rawI := newRawGuest(t, path, true)
		in := hostLooksAlive(t, path)
		cctx, cancel := context.WithCancel(ctx)
		rawT := make([]time.Duration, 0, calls)
		rawIT := make([]time.Duration, 0, calls)
		hostT := make([]time.Duration, 0, calls)
		for range 2000 { // warm up
			raw.call(ctx, t)
			rawI.call(cctx, t)
			in.LooksAlive(ctx)
		}
		for range calls {
			s := time.Now()
			raw.call(ctx, t)
			rawT = append(rawT, time.Since(s))
			s = time.Now()
			rawI.call(cctx, t)
			rawIT = append(rawIT, time.Since(s))
			s = time.Now()
			if ok, err := in.LooksAlive(ctx); !ok || err != nil {
				t.Fatal(ok, err)
			}
			hostT = append(hostT, time.Since(s))
		}
		cancel()
		r50, ri50, h50 := pct(rawT, .5), pct(rawIT, .5), pct(hostT, .5)
		t.Logf("%s guest (%d KiB): LooksAlive through the host p50 %v (p99 %v); raw export p50 %v (p99 %v): ratio %.1f×; raw interruptible export p50 %v (p99 %v): ratio %.2f×",
			name, fi.Size()>>10, h50, pct(hostT, .99), r50, pct(rawT, .99), float64(h50)/float64(r50),
			ri50, pct(rawIT, .99), float64(h50)/float64(ri50))
		benchrec.Add(t, benchrec.Row{Section: "Entry points", Measure: "WASM " + name + " guest LooksAlive p50", Unit: benchrec.Seconds, Ours: h50.Seconds(), Floor: ri50.Seconds(),
			Against: "a raw wazero call of the export, interrupt mode", Samples: calls, Note: fmt.Sprintf("plain raw export %v", r50)})

		// Type load with a warm compilation cache, and without one.
		var loads []time.Duration
		for range 10 {
			d := wasm.New(wasm.Config{Services: pluginstest.New(), CacheDir: cacheDir()})
			s := time.Now()
			if err := wasm.LoadType(ctx, d, typeSpec("load", path)); err != nil {
				t.Fatal(err)
			}
			loads = append(loads, time.Since(s))
			d.Close(ctx)
		}
		cold := wasm.New(wasm.Config{Services: pluginstest.New(), CacheDir: filepath.Join(t.TempDir(), "cold")})
		s := time.Now()
		if err := wasm.LoadType(ctx, cold, typeSpec("load", path)); err != nil {
			t.Fatal(err)
		}
		coldT := time.Since(s)
		cold.Close(ctx)
		t.Logf("%s guest: type load with a warm compilation cache p50 %v (min %v); cold compile %v", name, pct(loads, .5), pct(loads, 0), coldT)
		benchrec.Add(t, benchrec.Row{Section: "Entry points", Measure: "WASM " + name + " guest type load, warm cache p50", Unit: benchrec.Seconds, Ours: pct(loads, .5).Seconds(), Floor: coldT.Seconds(),
			Against: "a cold compile", Target: "≤ 50 ms", Samples: len(loads)})

		// Instantiate per resource: Driver.Open on a loaded type (instantiate,
		// _initialize, version check, the guest's Open) vs raw instantiation.
		d := newDriver(t, pluginstest.New())
		ts := typeSpec("inst", path)
		open(t, d, ts, resSpec(nil))
		var opens, raws []time.Duration
		cm, err := raw.rt.CompileModule(ctx, mustRead(t, path))
		if err != nil {
			t.Fatal(err)
		}
		for range 30 {
			s := time.Now()
			in, err := d.Open(ctx, ts, resSpec(nil))
			if err != nil {
				t.Fatal(err)
			}
			opens = append(opens, time.Since(s))
			in.Close(ctx)
			s = time.Now()
			m, err := raw.rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
			if err != nil {
				t.Fatal(err)
			}
			raws = append(raws, time.Since(s))
			m.Close(ctx)
		}
		t.Logf("%s guest: Open (instantiate + _initialize + open) p50 %v vs raw InstantiateModule p50 %v", name, pct(opens, .5), pct(raws, .5))
		benchrec.Add(t, benchrec.Row{Section: "Entry points", Measure: "WASM " + name + " guest Open p50", Unit: benchrec.Seconds, Ours: pct(opens, .5).Seconds(), Floor: pct(raws, .5).Seconds(),
			Against: "a raw InstantiateModule", Samples: len(opens)})

		// Memory per instance.
		const n = 20
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ins := make([]plugins.Instance, n)
		for i := range ins {
			ins[i] = open(t, d, ts, resSpec(nil))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		t.Logf("%s guest: memory per instance %.2f MiB of Go heap (linear memory %.2f MiB)", name,
			float64(after.HeapInuse-before.HeapInuse)/n/(1<<20), float64(wasm.GuestMemoryBytes(ins[0]))/(1<<20))
		benchrec.Add(t, benchrec.Row{Section: "Density", Measure: "WASM " + name + " guest memory per instance (host heap)", Unit: benchrec.Bytes,
			Ours: float64(after.HeapInuse-before.HeapInuse) / n, Samples: n, Note: fmt.Sprintf("guest linear memory %.2f MiB", float64(wasm.GuestMemoryBytes(ins[0]))/(1<<20))})
		for _, in := range ins {
			in.Close(ctx)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
