package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
	"github.com/resmon/resmon/tools/benchrec"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Benchmarks of the failover engine with three real clusterd processes and
// a trivial WASM resource whose checkpointed counter must be restored on
// every move. Each reports its p50 beside the raw etcd floor measured in
// the same run, on the same etcd:
//
//	go test ./internal/daemon -run '^$' -bench 'CrashFailover|PlannedMove' -benchtime 10x
//
// Crash failover has two floors: the killed node's own lease seen expiring
// by a watcher (kill → its presence key deleted; the same event, so the
// ratio is our overhead on top of detection), and a bare lease kept alive at
// clusterd's keepalive interval and abandoned at a random moment. The
// planned-move floor is Revoke → a watcher sees the delete.

func wasmTypeTOML(tb testing.TB) string {
	return fmt.Sprintf("kind = \"wasm\"\npath = %q", testbin.BuildWASM(tb, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-wasm"))
}

// statusWatch reports the group's published status on every change.
func statusWatch(ctx context.Context, c *mpCluster) <-chan model.GroupStatus {
	out := make(chan model.GroupStatus, 64)
	key := c.store.Keys().GroupState("app")
	go func() {
		defer close(out)
		for wr := range c.raw.Watch(ctx, key) {
			for _, ev := range wr.Events {
				var st model.GroupStatus
				if err := jsonUnmarshal(ev.Kv.Value, &st); err == nil {
					out <- st
				}
			}
		}
	}()
	return out
}

func waitOnline(tb testing.TB, ch <-chan model.GroupStatus, notOn string, token int64) model.GroupStatus {
	tb.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case st := <-ch:
			if st.State == "Online" && st.Owner != notOn && st.Token > token {
				return st
			}
		case <-timeout:
			tb.Fatalf("group never came online away from %s", notOn)
		}
	}
}

func p50(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// crashFloor is one raw lease-expiry detection: keepalives every interval,
// abandoned at a uniformly random point after the last one.
func crashFloor(tb testing.TB, cli *clientv3.Client, ttl int64, interval time.Duration) time.Duration {
	ctx := context.Background()
	g, err := cli.Grant(ctx, ttl)
	if err != nil {
		tb.Fatal(err)
	}
	key := fmt.Sprintf("%sbench/floor/%x", quorum.NewKeys("fo").Prefix(), g.ID)
	if _, err := cli.Put(ctx, key, "x", clientv3.WithLease(g.ID)); err != nil {
		tb.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := cli.Watch(wctx, key)
	time.Sleep(time.Duration(rand.Int64N(int64(time.Second)))) // decorrelate from the expiry tick
	if _, err := cli.KeepAliveOnce(ctx, g.ID); err != nil {
		tb.Fatal(err)
	}
	time.Sleep(time.Duration(rand.Int64N(int64(interval))))
	t0 := time.Now()
	for wr := range w {
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return time.Since(t0)
			}
		}
	}
	tb.Fatal("floor watch ended")
	return 0
}

// The nodes reach etcd over TLS with client certificates and etcd auth
// on, as they do by default; the plaintext case (insecure_plaintext) shows
// what TLS costs a failover, each against its own floors.
func BenchmarkCrashFailover(b *testing.B) {
	for _, tc := range []struct {
		name      string
		ttl       time.Duration
		plaintext bool
	}{{"ttl=1s", time.Second, false}, {"ttl=1s,plaintext", time.Second, true}, {fmt.Sprintf("ttl=%v", quorum.DefaultMemberTTL), quorum.DefaultMemberTTL, false}} {
		b.Run(tc.name, func(b *testing.B) {
			c := newMPClusterWith(b, quorumtest.Options{Plaintext: tc.plaintext}, wasmTypeTOML(b), fmt.Sprintf("lease_ttl = %q", tc.ttl), "failover_threshold = 100000", "", "")
			c.startAll()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := statusWatch(ctx, c)
			st := c.waitStatus("online", func(s model.GroupStatus) bool { return s.State == "Online" })
			margin := quorum.DefaultMargin(tc.ttl)
			interval := (tc.ttl - margin) / 3
			// Paired floor: the killed node's own presence key, bound to the
			// same lease as its ownerships, seen deleted by a watcher.
			type departure struct {
				node string
				at   time.Time
			}
			gone := make(chan departure, 16)
			go func() {
				for wr := range c.raw.Watch(ctx, c.store.Keys().Nodes(), clientv3.WithPrefix()) {
					for _, ev := range wr.Events {
						if ev.Type == clientv3.EventTypeDelete {
							gone <- departure{strings.TrimPrefix(string(ev.Kv.Key), c.store.Keys().Nodes()), time.Now()}
						}
					}
				}
			}()
			var ours, paired, floor []time.Duration
			b.ResetTimer()
			for range b.N {
				// etcd checks lease expiry on a 500ms tick: a random pause
				// keeps the kill from falling at the same phase every round.
				b.StopTimer()
				time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
				b.StartTimer()
				owner := st.Owner
				t0 := time.Now()
				c.kill(owner)
				st = waitOnline(b, ch, owner, st.Token)
				ours = append(ours, time.Since(t0))
				b.StopTimer()
				for d := range gone {
					if d.node == owner {
						paired = append(paired, d.at.Sub(t0))
						break
					}
				}
				floor = append(floor, crashFloor(b, c.raw, int64(tc.ttl/time.Second), interval))
				c.start(owner)
				b.StartTimer()
			}
			b.StopTimer()
			c.waitCount(uint64(b.N + 1)) // every failover restored the counter
			b.Logf("ours %v\nsame lease seen expiring %v\nraw lease %v", ours, paired, floor)
			b.ReportMetric(ms(p50(ours)), "ours-p50-ms")
			b.ReportMetric(ms(p50(paired)), "expiry-p50-ms")
			b.ReportMetric(ms(p50(floor)), "rawlease-p50-ms")
			b.ReportMetric(float64(p50(ours))/float64(p50(paired)), "ratio-expiry")
			b.ReportMetric(float64(p50(ours))/float64(p50(floor)), "ratio-rawlease")
			b.ReportMetric(0, "ns/op")
			sec := "Crash failover (kill -9 of the owner → Online elsewhere)"
			if tc.plaintext {
				sec = "Crash failover over plaintext etcd (insecure_plaintext)"
			}
			benchrec.Latency(b, sec, tc.name+" p50 vs the killed node's lease seen expiring", p50(ours), p50(paired), "the same lease expiring, seen by a watcher (the ratio is what we add to detection)", len(ours))
			benchrec.Latency(b, sec, tc.name+" p50 vs a raw lease", p50(ours), p50(floor), "a bare lease kept alive at clusterd's interval and abandoned", len(ours))
			benchrec.Durations(b, "ours", "crash failover "+tc.name, ours)
			benchrec.Durations(b, "the killed node's lease seen expiring", "crash failover "+tc.name, paired)
			benchrec.Durations(b, "raw lease expiry", "crash failover "+tc.name, floor)
		})
	}
}

func BenchmarkPlannedMove(b *testing.B) {
	c := newMPClusterOf(b, wasmTypeTOML(b), "", "", "", "")
	c.startAll()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := statusWatch(ctx, c)
	st := c.waitStatus("online", func(s model.GroupStatus) bool { return s.State == "Online" })
	cli := c.raw
	var ours, floor []time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := c.store.File(ctx, model.Request{Group: "app", Action: model.RequestMove}); err != nil {
			b.Fatal(err)
		}
		st = waitOnline(b, ch, st.Owner, st.Token)
		ours = append(ours, time.Since(t0))

		b.StopTimer()
		g, err := cli.Grant(ctx, 10)
		if err != nil {
			b.Fatal(err)
		}
		key := fmt.Sprintf("%sbench/revoke/%x", c.store.Keys().Prefix(), g.ID)
		cli.Put(ctx, key, "x", clientv3.WithLease(g.ID))
		wctx, wcancel := context.WithCancel(ctx)
		w := cli.Watch(wctx, key)
		t1 := time.Now()
		cli.Revoke(ctx, g.ID)
		for wr := range w {
			if len(wr.Events) > 0 {
				break
			}
		}
		floor = append(floor, time.Since(t1))
		wcancel()
		b.StartTimer()
	}
	b.StopTimer()
	c.waitCount(uint64(b.N + 1))
	b.ReportMetric(ms(p50(ours)), "ours-p50-ms")
	b.ReportMetric(ms(p50(floor)), "floor-p50-ms")
	b.ReportMetric(ms(p50(ours)-p50(floor)), "above-floor-ms")
	b.ReportMetric(0, "ns/op")
	benchrec.Add(b, benchrec.Row{Section: "Planned move (operator move → Online on the next node)", Measure: "p50", Unit: benchrec.Seconds,
		Ours: p50(ours).Seconds(), Floor: p50(floor).Seconds(), Against: "Revoke → a watcher sees the delete", Diff: true, Target: "≤ 30 ms above the floor", Samples: len(ours)})
	benchrec.Durations(b, "ours", "planned move", ours)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestDensityReport runs one clusterd with 1,000 resources of the C test
// type (100 groups of 10) at the default poll intervals (LooksAlive 5 s,
// IsAlive 60 s) and reports its resident memory and its CPU use while
// idle, against the target of 3 % of one core:
//
//	RESMON_BENCH=1 go test ./internal/daemon -run TestDensityReport -v
func TestDensityReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") == "" {
		t.Skip("set RESMON_BENCH=1 to run the density report")
	}
	_, n, up := startDense(t, testbin.BuildC(t, "plugins/wasm/testdata/cguest/cguest.c"))
	pid := n.cmd.Process.Pid
	time.Sleep(5 * time.Second) // let the start settle before measuring idle
	cpu0, t0 := procCPU(t, pid), time.Now()
	time.Sleep(30 * time.Second)
	cpu1, t1 := procCPU(t, pid), time.Now()
	share := float64(cpu1-cpu0) / float64(t1.Sub(t0))
	t.Logf("1,000 C WASM resources on one node: all online %s after start; RSS %.1f MiB; idle CPU %.2f%% of one core (target ≤ 3%%)",
		up.Round(time.Millisecond), float64(procRSS(t, pid))/(1<<20), 100*share)
	const sec = "Density (1,000 C WASM resources, 100 groups, one clusterd, default poll intervals)"
	benchrec.Add(t, benchrec.Row{Section: sec, Measure: "all online after start", Unit: benchrec.Seconds, Ours: up.Seconds()})
	benchrec.Add(t, benchrec.Row{Section: sec, Measure: "resident memory", Unit: benchrec.Bytes, Ours: float64(procRSS(t, pid))})
	benchrec.Add(t, benchrec.Row{Section: sec, Measure: "idle CPU of one core", Unit: benchrec.Percent, Ours: 100 * share, Target: "≤ 3 %"})
}

// procCPU is the user+system CPU time a process has used.
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// procRSS is a process's resident set size in bytes.
func procRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
