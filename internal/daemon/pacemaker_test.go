package daemon_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/pacemaker"
	"github.com/resmon/resmon/tools/benchrec"
)

// TestPacemakerBesideUs measures Pacemaker + Corosync, from Debian's
// packages, the way crash failover and planned move are measured for us,
// and ours in the same run beside them:
//
//	RESMON_BENCH=1 go test ./internal/daemon -run '^TestPacemakerBesideUs$' -v
//
// Theirs: three nodes on this machine, each in network and mount
// namespaces of its own, no fencing, one Dummy resource (the settings are
// in testutil/pacemaker). Crash failover is kill -9 of every process of
// the owner's stack (Corosync and all Pacemaker daemons) → the Dummy
// started on another node; planned move is crm_resource --move to the next
// node → started there (the constraint is then cleared). Both are seen by
// crm_resource --locate on a surviving node, polled every 50 ms, so a
// sample is late by up to one interval and one poll (logged and noted).
// The killed node is started again between samples and the next sample
// waits until it has rejoined and the cluster is idle. Each is measured
// with a 1 s token (token_coefficient 0) and with Corosync's default.
//
// Ours: three clusterd processes and a WASM resource, as in
// BenchmarkCrashFailover and BenchmarkPlannedMove (kill -9 of the owner's
// clusterd → Online elsewhere, seen by a watch on its status; the etcd
// they share is the test's and survives), with a 1 s lease TTL beside the
// 1 s token, and the defaults for one etcd member (quorum.DefaultMemberTTL)
// and for a node majority (3 s) beside the default token.
// RESMON_BENCH_SAMPLES sets the number of samples of each (default 6).
func TestPacemakerBesideUs(t *testing.T) {
	if os.Getenv("RESMON_BENCH") == "" {
		t.Skip("set RESMON_BENCH=1 to run the Pacemaker comparison")
	}
	pacemaker.Need(t)
	n := 6
	if v, err := strconv.Atoi(os.Getenv("RESMON_BENCH_SAMPLES")); err == nil && v > 0 {
		n = v
	}
	const sec = "Pacemaker beside resmon (three nodes, one machine, no fencing)"
	for _, tc := range []struct {
		name  string
		ttl   time.Duration
		token time.Duration // 0: Corosync's default
		label string        // what the TTL is
	}{
		{"ttl=1s,token=1s", time.Second, time.Second, ""},
		{fmt.Sprintf("ttl=%v,token=default", quorum.DefaultMemberTTL), quorum.DefaultMemberTTL, 0, " (the default with one etcd member)"},
		// Three nodes each hosting an etcd member get a longer default,
		// so that an etcd leader election fits in the lease
		// (internal/config/timing.go); their etcd is the test's here.
		{"ttl=3s,token=default", 3 * time.Second, 0, " (the node-majority default)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var oursCrash, oursMove []time.Duration
			t.Run("resmon", func(t *testing.T) { oursCrash, oursMove = oursFailovers(t, tc.ttl, n) })
			var th theirs
			t.Run("pacemaker", func(t *testing.T) { th = pacemakerFailovers(t, tc.token, n) })
			if t.Failed() || len(oursCrash) == 0 || len(th.crash) == 0 {
				return
			}
			ttl := fmt.Sprintf("TTL %v", tc.ttl) + tc.label
			token := fmt.Sprintf("token %v", th.token)
			if tc.token == 0 {
				token = fmt.Sprintf("Corosync's default token, %v with three nodes", th.token)
			}
			lag := fmt.Sprintf("theirs seen by crm_resource --locate polled every %v (on a survivor after a crash; one poll p50 %v), ours by a watch on the group's status", pacemaker.Poll, th.poll.Round(100*time.Microsecond))
			t.Logf("%s\ncrash: ours %v\n       theirs %v\nmove:  ours %v\n       theirs %v", tc.name, oursCrash, th.crash, oursMove, th.move)
			t.Logf("crash failover p50: ours %v, theirs %v (%.2f×); planned move p50: ours %v, theirs %v (%.2f×)",
				p50(oursCrash), p50(th.crash), float64(p50(oursCrash))/float64(p50(th.crash)),
				p50(oursMove), p50(th.move), float64(p50(oursMove))/float64(p50(th.move)))
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: "crash failover p50: ours " + ttl + ", theirs " + token, Unit: benchrec.Seconds,
				Ours: p50(oursCrash).Seconds(), Floor: p50(th.crash).Seconds(), Samples: len(oursCrash),
				Against: fmt.Sprintf("%s: kill -9 of Corosync and every Pacemaker daemon of the owner → Dummy Started on another node (consensus %v)", th.versions, th.consensus),
				Note:    "ours: kill -9 of the owner's clusterd → Online elsewhere; " + lag})
			benchrec.Add(t, benchrec.Row{Section: sec, Measure: "planned move p50: ours " + ttl + ", theirs " + token, Unit: benchrec.Seconds,
				Ours: p50(oursMove).Seconds(), Floor: p50(th.move).Seconds(), Samples: len(oursMove),
				Against: th.versions + ": crm_resource --move to the next node → Dummy Started there",
				Note:    "ours: a move request → Online on the next node; " + lag})
			benchrec.Durations(t, "ours", "Pacemaker beside us, crash "+tc.name, oursCrash)
			benchrec.Durations(t, "Pacemaker + Corosync", "Pacemaker beside us, crash "+tc.name, th.crash)
		})
	}
}

// oursFailovers measures n crash failovers and n planned moves of three
// clusterd processes with lease TTL ttl.
func oursFailovers(t *testing.T, ttl time.Duration, n int) (crash, move []time.Duration) {
	c := newMPClusterWith(t, quorumtest.Options{}, wasmTypeTOML(t), fmt.Sprintf("lease_ttl = %q", ttl), "failover_threshold = 100000", "", "")
	c.startAll()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := statusWatch(ctx, c)
	st := c.waitStatus("online", func(s model.GroupStatus) bool { return s.State == "Online" })
	for range n {
		// A random pause keeps the kill from falling at the same phase of
		// the keepalives and of etcd's expiry tick every round.
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
		owner := st.Owner
		t0 := time.Now()
		c.kill(owner)
		st = waitOnline(t, ch, owner, st.Token)
		crash = append(crash, time.Since(t0))
		c.start(owner)
	}
	for range n {
		t0 := time.Now()
		if _, err := c.store.File(ctx, model.Request{Group: "app", Action: model.RequestMove}); err != nil {
			t.Fatal(err)
		}
		st = waitOnline(t, ch, st.Owner, st.Token)
		move = append(move, time.Since(t0))
	}
	c.waitCount(uint64(2*n + 1)) // every failover and move restored the counter
	return crash, move
}

type theirs struct {
	crash, move      []time.Duration
	token, consensus time.Duration // as Corosync runs them
	poll             time.Duration // one crm_resource --locate, p50
	versions         string
}

// pacemakerFailovers measures n crash failovers and n planned moves of a
// three-node Pacemaker cluster with Corosync token token (0: default).
func pacemakerFailovers(t *testing.T, token time.Duration, n int) theirs {
	c := pacemaker.New(t, pacemaker.Options{Token: token})
	var r theirs
	r.token, r.consensus = c.Totem(pacemaker.Nodes[0])
	r.versions = c.Versions()
	t.Logf("%s; token %v, consensus %v", r.versions, r.token, r.consensus)
	survivor := func(owner string) string {
		for _, n := range pacemaker.Nodes {
			if n != owner {
				return n
			}
		}
		return ""
	}
	st := c.WaitSettled(pacemaker.Nodes[0], 3, 60*time.Second)
	owner := st.Started[0]
	var polls []time.Duration
	for range n {
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second)))) // as ours: a random phase of the token's rotation
		via := survivor(owner)
		t0 := c.Kill(owner)
		next, seen := c.WaitStarted(via, 120*time.Second, func(n string) bool { return n != owner })
		r.crash = append(r.crash, seen.Sub(t0))
		t.Logf("kill -9 of %s's stack → Dummy started on %s after %v", owner, next, seen.Sub(t0))
		c.Start(owner)
		c.WaitSettled(via, 3, 120*time.Second)
		p0 := time.Now()
		c.Locate(via)
		polls = append(polls, time.Since(p0))
		owner = next
	}
	for i := range n {
		target := pacemaker.Nodes[(slices.Index(pacemaker.Nodes, owner)+1)%len(pacemaker.Nodes)]
		via := pacemaker.Nodes[i%len(pacemaker.Nodes)]
		t0 := time.Now()
		if out, err := c.Run(via, "crm_resource", "--move", "-r", pacemaker.Resource, "-N", target); err != nil {
			t.Fatalf("crm_resource --move: %v\n%s", err, out)
		}
		_, seen := c.WaitStarted(via, 60*time.Second, func(n string) bool { return n == target })
		r.move = append(r.move, seen.Sub(t0))
		if out, err := c.Run(via, "crm_resource", "--clear", "-r", pacemaker.Resource); err != nil {
			t.Fatalf("crm_resource --clear: %v\n%s", err, out)
		}
		c.WaitSettled(via, 3, 60*time.Second)
		owner = target
	}
	r.poll = p50(polls)
	return r
}
