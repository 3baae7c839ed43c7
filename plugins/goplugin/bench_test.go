package goplugin_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/goplugin"
	"github.com/resmon/resmon/tools/benchrec"
)

// rawFloor starts testdata/rawgrpc, the floor: the same LooksAlive RPC over
// plain gRPC between two processes on a unix socket, with none of go-plugin,
// AutoMTLS or the resmon host stack.
func rawFloor(tb testing.TB) func(context.Context) (bool, error) {
	tb.Helper()
	build(tb)
	dir, err := os.MkdirTemp("", "raw")
	if err != nil {
		tb.Fatal(err)
	}
	sock := filepath.Join(dir, "raw.sock")
	cmd := exec.Command(bins.rawgrpc, sock)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		tb.Fatalf("rawgrpc: %q %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		_ = stdin.Close()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	})
	c := pluginproto.NewResourceTypeClient(conn)
	call := &pluginproto.Call{Id: "raw"}
	return func(ctx context.Context) (bool, error) {
		rep, err := c.LooksAlive(ctx, call)
		return rep.GetAlive(), err
	}
}

// pluginLooksAlive opens a testtype resource through the driver (with a
// DeadlockTimeout, as in production: a timer per call) and returns its
// LooksAlive.
func pluginLooksAlive(tb testing.TB) func(context.Context) (bool, error) {
	tb.Helper()
	e := newEnv(tb)
	r := res("bench", nil)
	r.DeadlockTimeout = 5 * time.Minute
	return e.open(tb, r).LooksAlive
}

// sample times n calls of f and returns the durations.
func sample(tb testing.TB, n int, f func(context.Context) (bool, error)) []time.Duration {
	tb.Helper()
	c := context.Background()
	out := make([]time.Duration, n)
	for i := range out {
		start := time.Now()
		ok, err := f(c)
		out[i] = time.Since(start)
		if !ok || err != nil {
			tb.Fatalf("LooksAlive: %v %v", ok, err)
		}
	}
	return out
}

func p50(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func benchCalls(b *testing.B, f func(context.Context) (bool, error)) {
	sample(b, 200, f) // warm up
	var ds []time.Duration
	c := context.Background()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if ok, err := f(c); !ok || err != nil {
			b.Fatal(ok, err)
		}
		ds = append(ds, time.Since(start))
	}
	b.ReportMetric(float64(p50(ds).Nanoseconds())/1e3, "p50-µs")
}

// BenchmarkLooksAliveGoPlugin: Instance.LooksAlive through the full host
// stack (driver, deadlock timer, go-plugin connection with AutoMTLS, the
// sdk/plugin server adapter, testtype's LooksAlive).
func BenchmarkLooksAliveGoPlugin(b *testing.B) { benchCalls(b, pluginLooksAlive(b)) }

// BenchmarkLooksAliveRawGRPC: the floor.
func BenchmarkLooksAliveRawGRPC(b *testing.B) { benchCalls(b, rawFloor(b)) }

// BenchmarkPluginStart: Open of a SeparateMonitor resource, that is start
// of a plugin process, go-plugin handshake with AutoMTLS, dial and the Open
// RPC; then Close (not timed).
func BenchmarkPluginStart(b *testing.B) {
	e := newEnv(b)
	var ds []time.Duration
	for i := 0; b.Loop(); i++ {
		d, in := startOnce(b, e, i)
		ds = append(ds, d)
		b.StopTimer()
		_ = in.Close(context.Background())
		b.StartTimer()
	}
	b.ReportMetric(float64(p50(ds).Microseconds())/1e3, "p50-ms")
}

func startOnce(tb testing.TB, e *env, i int) (time.Duration, plugins.Instance) {
	tb.Helper()
	r := res("start", nil)
	r.SeparateMonitor = true
	start := time.Now()
	in, err := e.d.Open(context.Background(), testtypeSpec(), r)
	d := time.Since(start)
	if err != nil {
		tb.Fatal(i, err)
	}
	return d, in
}

// TestLooksAliveVersusRawGRPC measures both in the same run, interleaved
// in rounds so that both see the same machine, and logs the p50s and their
// ratio (target ≤ 1.2×), plus the p50 of a plugin start. It asserts the
// ratio only with RESMON_BENCH_STRICT=1: timings on a shared CI machine
// are no test oracle.
func TestLooksAliveVersusRawGRPC(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	plugin, raw := pluginLooksAlive(t), rawFloor(t)
	sample(t, 300, plugin)
	sample(t, 300, raw)
	var ps, rs []time.Duration
	for range 20 {
		ps = append(ps, sample(t, 100, plugin)...)
		rs = append(rs, sample(t, 100, raw)...)
	}
	pp, rp := p50(ps), p50(rs)
	ratio := float64(pp) / float64(rp)
	t.Logf("LooksAlive p50: go-plugin full stack %v, raw gRPC %v, ratio %.2f× (target ≤ 1.2×)", pp, rp, ratio)
	benchrec.Add(t, benchrec.Row{Section: "Entry points", Measure: "go-plugin LooksAlive p50", Unit: benchrec.Seconds, Ours: pp.Seconds(), Floor: rp.Seconds(),
		Against: "the same RPC over plain gRPC between two processes", Target: "≤ 1.2×", Samples: len(ps)})

	e := newEnv(t)
	in := e.open(t, res("cb", nil))
	withCallback := func(c context.Context) (bool, error) {
		out, err := in.Control(c, 2, nil) // testtype asks the host for the fencing token
		return len(out) > 0, err
	}
	sample(t, 200, withCallback)
	cb := p50(sample(t, 1000, withCallback))
	t.Logf("entry point with one plugin→host callback (Control → FencingToken) p50: %v, so one callback ≈ %v", cb, cb-pp)
	benchrec.Add(t, benchrec.Row{Section: "Entry points", Measure: "go-plugin entry point + one plugin→host callback p50", Unit: benchrec.Seconds, Ours: cb.Seconds(), Floor: pp.Seconds(),
		Against: "the entry point alone", Diff: true, Samples: 1000, Note: "the difference is one callback"})

	var starts []time.Duration
	for i := range 15 {
		d, in := startOnce(t, e, i)
		starts = append(starts, d)
		_ = in.Close(context.Background())
	}
	t.Logf("plugin start + handshake + Open p50: %v (min %v)", p50(starts), slices.Min(starts))
	benchrec.Add(t, benchrec.Row{Section: "Entry points", Measure: "go-plugin start + handshake + Open p50", Unit: benchrec.Seconds, Ours: p50(starts).Seconds(), Samples: len(starts),
		Note: "AutoMTLS key generation is most of it; paid once per plugin process"})
	if os.Getenv("RESMON_BENCH_STRICT") == "1" && ratio > 1.2 {
		t.Fatalf("ratio %.2f× above 1.2×", ratio)
	}
}

var _ = goplugin.Kind
