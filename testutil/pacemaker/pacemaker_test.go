package pacemaker_test

import (
	"os"
	"testing"
	"time"

	"github.com/resmon/resmon/testutil/pacemaker"
)

// TestClusterFailsOver builds the cluster with a 1 s token, kills the
// resource's node and sees it started on another, then starts the killed
// node again and moves the resource to it. It runs with the benchmark
// reports only (RESMON_BENCH=1): it takes half a minute.
func TestClusterFailsOver(t *testing.T) {
	if os.Getenv("RESMON_BENCH") == "" {
		t.Skip("builds a Pacemaker cluster: set RESMON_BENCH=1")
	}
	c := pacemaker.New(t, pacemaker.Options{Token: time.Second})
	token, consensus := c.Totem("node1")
	t.Logf("%s; token %v, consensus %v", c.Versions(), token, consensus)
	st, err := c.Status("node1")
	if err != nil || len(st.Online) != 3 || len(st.Started) != 1 {
		t.Fatalf("status %+v, %v", st, err)
	}
	owner := st.Started[0]
	via := "node1"
	if owner == via {
		via = "node2"
	}
	t0 := c.Kill(owner)
	next, seen := c.WaitStarted(via, 60*time.Second, func(n string) bool { return n != owner })
	t.Logf("kill -9 of %s → started on %s after %v", owner, next, seen.Sub(t0))
	c.Start(owner)
	c.WaitSettled(via, 3, 60*time.Second)
	t1 := time.Now()
	if out, err := c.Run(via, "crm_resource", "--move", "-r", pacemaker.Resource, "-N", owner); err != nil {
		t.Fatalf("move: %v\n%s", err, out)
	}
	_, seen = c.WaitStarted(via, 60*time.Second, func(n string) bool { return n == owner })
	t.Logf("move to %s → started there after %v", owner, seen.Sub(t1))
	if out, err := c.Run(via, "crm_resource", "--clear", "-r", pacemaker.Resource); err != nil {
		t.Fatalf("clear: %v\n%s", err, out)
	}
}
