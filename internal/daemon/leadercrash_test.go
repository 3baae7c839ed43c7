package daemon_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/testutil/testbin"
	"github.com/resmon/resmon/tools/benchrec"
)

// TestLeaderCrashFenceReport measures what the crash of the node hosting
// the etcd leader costs the two that survive it, for each lease TTL
// (RESMON_SOAK_TTLS, default 1,2,3,5,10 s): three clusterd processes each
// host a member of their etcd, as in TestFenceSoakReport's majority
// topology; each of RESMON_BENCH_N rounds (default 6) kill -9s the
// clusterd whose member leads, counts the survivors that fence themselves
// because no renewal was answered while their members elected a new
// leader, and starts the killed node again. The election timeout is etcd's
// default 1 s (700 ms for TTL 1 s) at its default 100 ms heartbeat, or
// RESMON_SOAK_ELECTION and RESMON_SOAK_HEARTBEAT.
//
//	RESMON_BENCH=1 go test ./internal/daemon -run '^TestLeaderCrashFenceReport$' -v
//
// It reports numbers and asserts no timings.
func TestLeaderCrashFenceReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") == "" {
		t.Skip("set RESMON_BENCH=1 to run the leader-crash measurement")
	}
	rounds := 6
	if v, err := strconv.Atoi(os.Getenv("RESMON_BENCH_N")); err == nil && v > 0 {
		rounds = v
	}
	ttls := []int{1, 2, 3, 5, 10}
	if s := os.Getenv("RESMON_SOAK_TTLS"); s != "" {
		ttls = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("RESMON_SOAK_TTLS=%q: want whole seconds, comma-separated", s)
			}
			ttls = append(ttls, n)
		}
	}
	plugin := testbin.Build(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-plugin")
	typeTOML := fmt.Sprintf("kind = \"plugin\"\npath = %q", plugin)
	const sec = "Survivors fenced by the crash of the node hosting the etcd leader (3 nodes, each hosting a member)"
	for _, ttl := range ttls {
		t.Run(fmt.Sprintf("ttl=%ds", ttl), func(t *testing.T) {
			c := startMajoritySoak(t, typeTOML, ttl)
			fenced := 0
			var elections []time.Duration
			for r := range rounds {
				var leader *mpNode
				waitFor(t, "an etcd leader", 30*time.Second, func() bool { leader = c.leader(c.nodes); return leader != nil })
				var survivors []*mpNode
				for _, n := range c.nodes {
					if n != leader {
						survivors = append(survivors, n)
					}
				}
				before, _ := soakCounts(survivors)
				t0 := time.Now()
				if err := leader.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				<-leader.exited
				waitFor(t, "a new etcd leader", 30*time.Second, func() bool { return c.leader(survivors) != nil })
				elections = append(elections, time.Since(t0))
				// A survivor that has not fenced a full TTL after the new
				// leader has renewed since: its deadline moved past the
				// loss. Its log says so within that time if it fenced.
				settle := time.Now().Add(time.Duration(ttl) * time.Second)
				for time.Now().Before(settle) {
					if f, _ := soakCounts(survivors); f-before == len(survivors) {
						break
					}
					time.Sleep(50 * time.Millisecond) // polling the logs, bounded by settle
				}
				after, _ := soakCounts(survivors)
				fenced += after - before
				c.run(leader)
				waitFor(t, leader.name+" to join again", 2*time.Minute, func() bool { return strings.Contains(leader.logs.String(), "node joined") })
				for _, n := range survivors {
					waitFor(t, n.name+" to be joined", 2*time.Minute, func() bool {
						l := n.logs.String()
						return strings.LastIndex(l, "node joined") > strings.LastIndex(l, "self-fenced: every resource was terminated")
					})
				}
				// The group is not waited for: when every survivor fences in
				// round after round, its failover threshold holds it Failed.
				t.Logf("TTL %ds round %d: killed %s, new leader after %v, survivors fenced so far %d", ttl, r+1, leader.name, elections[len(elections)-1].Round(time.Millisecond), fenced)
			}
			p50, worst := medianMax(elections)
			margin := quorum.DefaultMargin(time.Duration(ttl) * time.Second)
			iv, _ := quorum.KeepaliveTiming(time.Duration(ttl)*time.Second, margin, 0, 0)
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: fmt.Sprintf("%s: survivors fenced", soakSetting(ttl)), Unit: benchrec.Count,
				Ours: float64(fenced), Samples: 2 * rounds,
				Note: fmt.Sprintf("of %d survivors in %d crashes; heartbeat %s, election %s; a new leader %v after the kill (p50), %v (max); lease_ttl − fence_margin − keepalive_interval = %v",
					2*rounds, rounds, soakHeartbeat(), soakElection(ttl), p50.Round(time.Millisecond), worst.Round(time.Millisecond), (time.Duration(ttl)*time.Second - margin - iv).Round(time.Millisecond))})
			t.Logf("TTL %ds: %d of %d survivors fenced; new leader p50 %v max %v", ttl, fenced, 2*rounds, p50, worst)
		})
	}
}

func medianMax(ds []time.Duration) (p50, worst time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}
