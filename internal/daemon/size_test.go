package daemon_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/testutil/testbin"
	"github.com/resmon/resmon/tools/benchrec"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// sizeTTL is the lease of the size curve. Sixteen or more clusterd
// processes on two cores, bringing up their groups together, starve one
// another for longer than the default 2 s lease allows: a node fences, its
// groups fail over, the others take on the work and fence in turn (a run
// at 2 s with 16 nodes counted 427 fences in 12 minutes and never came to
// rest). The curve measures cost at rest, so it runs at a lease such a
// machine sustains.
const sizeTTL = 10 * time.Second

// TestClusterSizeReport measures what a cluster costs as it grows: for
// each size (RESMON_BENCH_SIZES, default 4,16,32 clusterd processes on one
// etcd) with RESMON_BENCH_GROUPS_PER_NODE groups per node (default 100, one
// C WASM resource each, default poll intervals, lease sizeTTL), idle:
//
//   - etcd writes per second (puts, transactions, deletes) and the bytes
//     written under the cluster's keys, over 30 s of rest;
//
//   - each clusterd's resident memory and CPU, and etcd's database size;
//
//   - how long a newly started node takes to be serving (its presence in
//     etcd), against the same on the smallest cluster;
//
//   - a planned move, and a crash failover (kill -9 of a node owning its
//     share of the groups) against its floor: the dead node's presence key
//     seen deleted.
//
//     RESMON_BENCH=1 go test ./internal/daemon -run TestClusterSizeReport -v -timeout 90m
//
// The rate at which the groups are created is measured too: every
// database change reaches every node, which reads the record it names and
// wakes that group's executor, so creation slows as the cluster grows. A
// size whose groups are not all created within RESMON_BENCH_CREATE_BUDGET
// (default 20 min) records how many were, and nothing else.
//
// Every node starts before the groups exist; the test then creates them,
// each preferring its home node and then the next, so each node owns its
// share from the start.
func TestClusterSizeReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") == "" {
		t.Skip("set RESMON_BENCH=1 to run the cluster size report")
	}
	sizes := []int{4, 16, 32}
	if s := os.Getenv("RESMON_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 {
				t.Fatalf("RESMON_BENCH_SIZES=%q: want sizes of at least 2, comma-separated", s)
			}
			sizes = append(sizes, n)
		}
	}
	perNode := envInt(t, "RESMON_BENCH_GROUPS_PER_NODE", 100)
	budget := envDuration(t, "RESMON_BENCH_CREATE_BUDGET", 20*time.Minute)
	guest := testbin.BuildC(t, "plugins/wasm/testdata/cguest/cguest.c")
	sec := fmt.Sprintf("Cluster size curve (idle at default poll intervals, lease %v; one C WASM resource per group)", sizeTTL)
	for _, n := range sizes {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			r := measureSize(t, guest, n, perNode, budget)
			label := fmt.Sprintf("%d nodes × %d groups: ", n, perNode)
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "groups created per second", Unit: benchrec.Count, Ours: float64(r.created) / r.creating.Seconds(),
				Note: fmt.Sprintf("a group and its resource, one after the other, with every node up; %d in %s", r.created, r.creating.Round(time.Second))})
			if r.created < n*perNode {
				// Every database change reaches every node: past some
				// size the creation alone outlasts the budget, and that
				// is the result.
				t.Logf("%s only %d of %d groups created within %s: the cluster never came to rest, nothing else measured", label, r.created, n*perNode, budget)
				benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "groups created within the budget", Unit: benchrec.Count, Ours: float64(r.created),
					Note: fmt.Sprintf("of %d within %s (RESMON_BENCH_CREATE_BUDGET); nothing else measured at this size", n*perNode, budget)})
				return
			}
			t.Logf("%s etcd %.1f writes/s, %.0f B/s; clusterd RSS %.1f MiB and CPU %.2f%% each; etcd DB %.1f MiB; a new node serving after %s; planned move %s; crash failover %s (floor %s, %.2f×)",
				label, r.writes, r.bytes, r.rss/(1<<20), 100*r.cpu, r.db/(1<<20), r.join.Round(time.Millisecond), r.move.Round(time.Millisecond),
				r.crash.Round(time.Millisecond), r.crashFloor.Round(time.Millisecond), float64(r.crash)/float64(r.crashFloor))
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "etcd writes at rest", Unit: benchrec.Count, Ours: r.writes, Note: fmt.Sprintf("write transactions per second (etcd revisions); %.2f per node", r.writes/float64(n))})
			var reqs []string
			total := 0.0
			for m, v := range r.requests {
				reqs, total = append(reqs, fmt.Sprintf("%s %.2f", m, v)), total+v
			}
			slices.Sort(reqs)
			t.Logf("%s etcd requests at rest per second: %s", label, strings.Join(reqs, ", "))
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "etcd requests at rest", Unit: benchrec.Count, Ours: total, Note: "per second: " + strings.Join(reqs, ", ")})
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "bytes written at rest", Unit: benchrec.Bytes, Ours: r.bytes, Note: "per second, keys and values under the cluster's prefix"})
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "clusterd resident memory, each", Unit: benchrec.Bytes, Ours: r.rss})
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "clusterd idle CPU, each", Unit: benchrec.Percent, Ours: 100 * r.cpu, Note: "of one core"})
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "etcd database size", Unit: benchrec.Bytes, Ours: r.db})
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "a new node serving after its start", Unit: benchrec.Seconds, Ours: r.join.Seconds()})
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "planned move p50", Unit: benchrec.Seconds, Ours: r.move.Seconds(), Samples: 3})
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: label + "crash failover of a node's groups", Unit: benchrec.Seconds, Ours: r.crash.Seconds(), Floor: r.crashFloor.Seconds(),
				Against: "the dead node's presence key seen deleted", Samples: perNode})
		})
	}
}

type sizeResult struct {
	writes, bytes, rss, cpu, db float64
	requests                    map[string]float64 // etcd requests per second at rest, by method
	join, move                  time.Duration
	crash, crashFloor           time.Duration
	created                     int // groups created, all of them unless the budget ran out
	creating                    time.Duration
}

func measureSize(t *testing.T, guest string, nodes, perNode int, budget time.Duration) sizeResult {
	c := newMPClusterOf(t, "", fmt.Sprintf("lease_ttl = %q", sizeTTL), "", "", "")
	c.spec = fmt.Sprintf("\n[[resource_type]]\nname = \"cguest\"\nkind = \"wasm\"\npath = %q\n", guest)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := trackGroups(ctx, c)
	name := func(i int) string { return fmt.Sprintf("node%d", i) }
	c.start(name(1))
	for i := 2; i <= nodes; i++ {
		c.startNoWait(name(i))
	}
	for i := 2; i <= nodes; i++ {
		c.waitUp(name(i), true)
	}
	groups := nodes * perNode
	home := func(g int) int { return 1 + g%nodes }
	var r sizeResult
	createStart := time.Now()
	for g := range groups {
		if r.creating = time.Since(createStart); r.creating > budget {
			return r
		}
		r.created = g
		grp := model.DefaultGroup(fmt.Sprintf("g%05d", g))
		grp.PreferredOwners = []string{name(home(g)), name(1 + (home(g))%nodes)}
		grp.PersistentState = true
		if err := c.store.CreateGroup(ctx, grp); err != nil {
			t.Fatal(err)
		}
		if _, err := c.store.CreateResource(ctx, model.Resource{Name: grp.Name + "-r", Type: "cguest", Group: grp.Name, Properties: model.DefaultProperties()}); err != nil {
			t.Fatal(err)
		}
	}
	r.created, r.creating = groups, time.Since(createStart)
	tr.wait(t, "every group online", 10*time.Minute, func(cur map[string]model.GroupStatus) bool {
		return countOnline(cur, func(o string) bool { return o != "" }) == groups
	})
	// Rest: wait until the nodes together use under a fifth of a core.
	waitFor(t, "the cluster at rest", 5*time.Minute, func() bool {
		cpu0, at0 := clusterCPU(t, c), time.Now()
		time.Sleep(2 * time.Second) // the window the CPU use is measured over
		return float64(clusterCPU(t, c)-cpu0) < 0.2*float64(time.Since(at0))
	})

	// Idle: etcd's writes and the bytes put under the cluster's keys.
	const window = 30 * time.Second
	wctx, wcancel := context.WithTimeout(ctx, window)
	bytes := make(chan int64, 1)
	w := c.raw.Watch(wctx, c.store.Keys().Prefix(), clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	<-w
	go func() {
		var sum int64
		for wr := range w {
			for _, ev := range wr.Events {
				sum += int64(len(ev.Kv.Key) + len(ev.Kv.Value))
			}
		}
		bytes <- sum
	}()
	// Every write transaction advances etcd's revision by one.
	revision := func() int64 {
		resp, err := c.raw.Get(ctx, c.store.Keys().Prefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	rev0, msgs0, cpu0, at0 := revision(), etcdCounters(t), clusterCPU(t, c), time.Now()
	<-wctx.Done()
	wcancel()
	rev1, msgs1, cpu1, at1 := revision(), etcdCounters(t), clusterCPU(t, c), time.Now()
	span := at1.Sub(at0).Seconds()
	r.writes = float64(rev1-rev0) / span
	r.requests = map[string]float64{}
	for k, v := range msgs1 {
		if m, ok := strings.CutPrefix(k, "msg:"); ok && v > msgs0[k] {
			r.requests[m] = (v - msgs0[k]) / span
		}
	}
	r.bytes = float64(<-bytes) / span
	r.cpu = float64(cpu1-cpu0) / float64(at1.Sub(at0)) / float64(nodes)
	for i := 1; i <= nodes; i++ {
		r.rss += float64(procRSS(t, c.nodes[name(i)].cmd.Process.Pid)) / float64(nodes)
	}
	if st, err := c.raw.Status(ctx, c.etcd); err == nil {
		r.db = float64(st.DbSize)
	}

	// A new node: from its start to its presence in etcd.
	joined := watchNode(ctx, t, c, name(nodes+1))
	start := time.Now()
	c.startNoWait(name(nodes + 1))
	select {
	case at := <-joined:
		r.join = at.Sub(start)
	case <-time.After(2 * time.Minute):
		t.Fatal("the new node never joined")
	}

	// Planned moves of group g00000 between its home (node1) and node2.
	var moves []time.Duration
	for i := range 3 {
		to := name(2 - i%2) // node2, node1, node2
		t0 := time.Now()
		if _, err := c.store.File(ctx, model.Request{Group: "g00000", Action: model.RequestMove, Node: to, Operator: "bench"}); err != nil {
			t.Fatal(err)
		}
		tr.wait(t, "g00000 online on "+to, time.Minute, func(cur map[string]model.GroupStatus) bool {
			st := cur["g00000"]
			return st.Owner == to && st.State == "Online"
		})
		moves = append(moves, time.Since(t0))
	}
	slices.Sort(moves)
	r.move = moves[len(moves)/2]

	// Crash: kill -9 of the last node, which owns its share.
	victim := name(nodes)
	gone := watchNodeGone(ctx, t, c, victim)
	tr.arm(victim)
	t0 := time.Now()
	c.kill(victim)
	every := tr.wait(t, "every group online away from "+victim, 5*time.Minute, func(cur map[string]model.GroupStatus) bool {
		return countOnline(cur, func(o string) bool { return o != "" && o != victim }) == groups
	})
	r.crash = every.Sub(t0)
	select {
	case at := <-gone:
		r.crashFloor = at.Sub(t0)
	case <-time.After(time.Minute):
		t.Fatal("the victim's presence key was never seen deleted")
	}
	return r
}

// watchNode reports when node's presence key is first put.
func watchNode(ctx context.Context, t *testing.T, c *mpCluster, node string) <-chan time.Time {
	return watchKey(ctx, t, c, c.store.Keys().Node(node), false)
}

// watchNodeGone reports when node's presence key is deleted.
func watchNodeGone(ctx context.Context, t *testing.T, c *mpCluster, node string) <-chan time.Time {
	return watchKey(ctx, t, c, c.store.Keys().Node(node), true)
}

// watchKey reports when key is first put, or deleted.
func watchKey(ctx context.Context, t *testing.T, c *mpCluster, key string, deleted bool) <-chan time.Time {
	t.Helper()
	out := make(chan time.Time, 1)
	w := c.raw.Watch(ctx, key, clientv3.WithCreatedNotify())
	<-w // in place
	go func() {
		for wr := range w {
			for _, ev := range wr.Events {
				if (ev.Type == clientv3.EventTypeDelete) == deleted {
					out <- time.Now()
					return
				}
			}
		}
	}()
	return out
}
