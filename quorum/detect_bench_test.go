package quorum_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/tools/benchrec"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestCrashDetectionLatency measures how long after a node's last keepalive
// another node's watcher sees the node's group ownership disappear when the
// node crashes (keepalives stop, nothing is revoked), against the raw etcd
// floor measured in the same run: a plain lease with the same TTL, a key
// bound to it, one keepalive, then silence. It also measures a planned leave
// (Leave → the watcher sees the delete) against a raw Revoke.
//
//	RESMON_BENCH=1 go test ./quorum/ -run TestCrashDetectionLatency -v
//
// It reports numbers and asserts no timings.
func TestCrashDetectionLatency(t *testing.T) {
	if os.Getenv("RESMON_BENCH") != "1" {
		t.Skip("set RESMON_BENCH=1 to run the crash-detection measurement (about a minute)")
	}
	for _, c := range []struct {
		name           string
		tick, election uint
		ttl            time.Duration
		n              int
	}{
		{"fast(tick=10ms,election=100ms,ttl=1s)", 10, 100, time.Second, 10},
		{"default(tick=100ms,election=1s,ttl=10s)", 100, 1000, 10 * time.Second, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := quorum.StartEmbedded(context.Background(), quorum.EmbedConfig{
				Name: "bench", DataDir: t.TempDir(), ClientURL: quorumtest.FreeURL(t), PeerURL: quorumtest.FreeURL(t),
				TickMs: c.tick, ElectionMs: c.election, StartTimeout: 30 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Close)
			nodeCli := quorumtest.Client(t, e.Endpoints()...)
			watchCli := quorumtest.Client(t, e.Endpoints()...)
			node := mtStore(t, nodeCli)
			watcher := mtStore(t, watchCli)
			ctx := mtCtx(t, 10*time.Minute)

			var ours, raw, leave, revoke []time.Duration
			var ttl time.Duration
			for i := range c.n {
				var wg sync.WaitGroup
				var o, r time.Duration
				wg.Go(func() {
					var m *quorum.Member
					o, m = detectCrashOurs(t, ctx, node, watcher, fmt.Sprintf("crash%d", i), c.ttl)
					if m != nil {
						ttl = m.TTL()
					}
				})
				wg.Go(func() { r = detectCrashRaw(t, ctx, nodeCli, watchCli, fmt.Sprintf("/bench/raw/%d", i), c.ttl) })
				wg.Wait()
				ours, raw = append(ours, o), append(raw, r)
				leave = append(leave, detectLeaveOurs(t, ctx, node, watchCli, fmt.Sprintf("leave%d", i), c.ttl))
				revoke = append(revoke, detectRevokeRaw(t, ctx, nodeCli, watchCli, fmt.Sprintf("/bench/revoke/%d", i), c.ttl))
			}
			t.Logf("crash samples ours %v", ours)
			t.Logf("crash samples raw  %v", raw)
			report := func(what string, ours, raw []time.Duration) {
				op50, omean, omax := detectStats(ours)
				rp50, rmean, rmax := detectStats(raw)
				benchrec.Latency(t, "Crash detection (quorum)", c.name+" "+what+" p50", op50, rp50, "a raw lease of the same TTL (or a raw Revoke)", len(ours))
				r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
				t.Logf("%-28s n=%-2d ours p50 %-8v mean %-8v max %-8v | raw p50 %-8v mean %-8v max %-8v | ratio p50 %.2f mean %.2f",
					what, len(ours), r(op50), r(omean), r(omax), r(rp50), r(rmean), r(rmax),
					float64(op50)/float64(rp50), float64(omean)/float64(rmean))
			}
			t.Logf("granted TTL %s, default margin %s", ttl, quorum.DefaultMargin(ttl))
			report("crash: last keepalive→delete", ours, raw)
			report("planned: leave/revoke→delete", leave, revoke)
		})
	}
}

// detectPhase is the period of etcd's lease expiry check. Each sample starts
// at a random point of it: a sample begins right after the previous one saw a
// delete, that is right after an expiry check, and would otherwise always hit
// the same phase.
const detectPhase = 500 * time.Millisecond

// detectCrashOurs joins a member, lets it own a group, waits for an
// acknowledged keepalive, then abandons it; it returns the time from its last
// keepalive to the watcher seeing the ownership gone.
func detectCrashOurs(t *testing.T, ctx context.Context, node, watcher *quorum.Store, name string, ttl time.Duration) (time.Duration, *quorum.Member) {
	time.Sleep(rand.N(detectPhase)) // random phase, see detectPhase
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m, err := node.Join(mctx, quorum.MemberConfig{Node: name, TTL: ttl})
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	if _, err := node.Acquire(ctx, m, name); err != nil {
		t.Error(err)
		return 0, m
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	events := watcher.WatchOwner(wctx, name)
	if ev := <-events; !ev.Owned {
		t.Errorf("%s: not owned at start", name)
		return 0, m
	}
	joined := m.LastKeepAlive()
	for !m.LastKeepAlive().After(joined) {
		time.Sleep(time.Millisecond) // polling for the next acknowledged keepalive
	}
	m.Abandon()
	last := m.LastKeepAlive()
	for ev := range events {
		if !ev.Owned {
			return time.Since(last), m
		}
	}
	t.Errorf("%s: watch ended", name)
	return 0, m
}

// detectCrashRaw is the floor: a lease, a key on it, one keepalive, silence.
func detectCrashRaw(t *testing.T, ctx context.Context, cli, watchCli *clientv3.Client, key string, ttl time.Duration) time.Duration {
	g, err := cli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		t.Error(err)
		return 0
	}
	put, err := cli.Put(ctx, key, "x", clientv3.WithLease(g.ID))
	if err != nil {
		t.Error(err)
		return 0
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := watchCli.Watch(wctx, key, clientv3.WithRev(put.Header.Revision+1))
	time.Sleep(rand.N(detectPhase)) // random phase, see detectPhase
	tSend := time.Now()
	if _, err := cli.KeepAliveOnce(ctx, g.ID); err != nil {
		t.Error(err)
		return 0
	}
	for wr := range wch {
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return time.Since(tSend)
			}
		}
	}
	t.Errorf("%s: watch ended", key)
	return 0
}

// detectLeaveOurs times Leave → a watcher seeing the ownership gone.
func detectLeaveOurs(t *testing.T, ctx context.Context, node *quorum.Store, watchCli *clientv3.Client, name string, ttl time.Duration) time.Duration {
	m, err := node.Join(ctx, quorum.MemberConfig{Node: name, TTL: ttl})
	if err != nil {
		t.Error(err)
		return 0
	}
	if _, err := node.Acquire(ctx, m, name); err != nil {
		t.Error(err)
		return 0
	}
	seen := detectDelete(t, ctx, watchCli, node.Keys().Owner(name))
	start := time.Now()
	if err := m.Leave(ctx); err != nil {
		t.Error(err)
		return 0
	}
	return (<-seen).Sub(start)
}

// detectRevokeRaw times a raw Revoke → a watcher seeing the key gone.
func detectRevokeRaw(t *testing.T, ctx context.Context, cli, watchCli *clientv3.Client, key string, ttl time.Duration) time.Duration {
	g, err := cli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		t.Error(err)
		return 0
	}
	if _, err := cli.Put(ctx, key, "x", clientv3.WithLease(g.ID)); err != nil {
		t.Error(err)
		return 0
	}
	seen := detectDelete(t, ctx, watchCli, key)
	start := time.Now()
	if _, err := cli.Revoke(ctx, g.ID); err != nil {
		t.Error(err)
		return 0
	}
	return (<-seen).Sub(start)
}

// detectDelete watches key from the current revision and returns once the
// watch is established; the channel receives when the key is deleted (or
// the zero time if the watch ends first).
func detectDelete(t *testing.T, ctx context.Context, cli *clientv3.Client, key string) <-chan time.Time {
	wctx, cancel := context.WithCancel(ctx)
	wch := cli.Watch(wctx, key, clientv3.WithCreatedNotify())
	if wr := <-wch; !wr.Created {
		t.Errorf("watch %s not created: %v", key, wr.Err())
	}
	out := make(chan time.Time, 1)
	go func() {
		defer cancel()
		for wr := range wch {
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					out <- time.Now()
					return
				}
			}
		}
		out <- time.Time{}
	}()
	return out
}

func detectStats(ds []time.Duration) (p50, mean, maxD time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0, 0
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return s[len(s)/2], sum / time.Duration(len(s)), s[len(s)-1]
}
