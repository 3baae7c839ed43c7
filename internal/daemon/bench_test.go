package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/resmon/resmon/internal/testbin"
	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Benchmarks of the failover engine with three real clusterd processes and
// a trivial WASM resource whose checkpointed counter must be restored on
// every move. Each reports its p50 beside the raw etcd floor measured in
// the same run, on the same etcd:
//
//	go test ./internal/daemon -run '^$' -bench 'CrashFailover|PlannedMove' -benchtime 10x
//
// The crash floor is a bare lease kept alive at clusterd's keepalive
// interval and abandoned at a random moment, timed until a watcher sees its
// key deleted; the planned-move floor is Revoke → watcher sees the delete.

func wasmTypeTOML(tb testing.TB) string {
	return fmt.Sprintf("kind = \"wasm\"\npath = %q", testbin.BuildWASM(tb, "github.com/resmon/resmon/internal/testtype/cmd/testtype-wasm"))
}

// statusWatch reports the group's published status on every change.
func statusWatch(ctx context.Context, c *mpCluster) <-chan quorum.GroupStatus {
	out := make(chan quorum.GroupStatus, 64)
	key := c.store.Keys().GroupState("app")
	go func() {
		defer close(out)
		for wr := range c.store.Client().Watch(ctx, key) {
			for _, ev := range wr.Events {
				var st quorum.GroupStatus
				if err := jsonUnmarshal(ev.Kv.Value, &st); err == nil {
					out <- st
				}
			}
		}
	}()
	return out
}

func waitOnline(tb testing.TB, ch <-chan quorum.GroupStatus, notOn string, token int64) quorum.GroupStatus {
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
	key := fmt.Sprintf("/bench/floor/%x", g.ID)
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

func BenchmarkCrashFailover(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"ttl=1s", time.Second}, {"ttl=10s", 10 * time.Second}} {
		b.Run(tc.name, func(b *testing.B) {
			c := newMPClusterOf(b, wasmTypeTOML(b), fmt.Sprintf("lease_ttl = %q", tc.ttl), "failover_threshold = 100000", "", "")
			c.startAll()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := statusWatch(ctx, c)
			st := c.waitStatus("online", func(s quorum.GroupStatus) bool { return s.State == "Online" })
			margin := quorum.DefaultMargin(tc.ttl)
			interval := (tc.ttl - margin) / 3
			var ours, floor []time.Duration
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
				floor = append(floor, crashFloor(b, c.store.Client(), int64(tc.ttl/time.Second), interval))
				c.start(owner)
				b.StartTimer()
			}
			b.StopTimer()
			c.waitCount(uint64(b.N + 1)) // every failover restored the counter
			b.Logf("ours %v\nfloor %v", ours, floor)
			b.ReportMetric(ms(p50(ours)), "ours-p50-ms")
			b.ReportMetric(ms(p50(floor)), "floor-p50-ms")
			b.ReportMetric(float64(p50(ours))/float64(p50(floor)), "ratio-p50")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func BenchmarkPlannedMove(b *testing.B) {
	c := newMPClusterOf(b, wasmTypeTOML(b), "", "", "", "")
	c.startAll()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := statusWatch(ctx, c)
	st := c.waitStatus("online", func(s quorum.GroupStatus) bool { return s.State == "Online" })
	cli := c.store.Client()
	var ours, floor []time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := c.store.RequestGroup(ctx, quorum.GroupRequest{Group: "app", Action: quorum.RequestMove}); err != nil {
			b.Fatal(err)
		}
		st = waitOnline(b, ch, st.Owner, st.Token)
		ours = append(ours, time.Since(t0))

		b.StopTimer()
		g, err := cli.Grant(ctx, 10)
		if err != nil {
			b.Fatal(err)
		}
		key := fmt.Sprintf("/bench/revoke/%x", g.ID)
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
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
