package daemon_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/testutil/testbin"
	"github.com/resmon/resmon/tools/benchrec"
)

// TestGuestDensityReport runs 1,000 resources of a WASM type on one
// clusterd (100 groups of 10, default poll intervals) twice in one run:
// with the C test guest, the floor, and with the Go test type (a guest
// built by Go for wasip1, whose runtime starts in every instance). It
// reports the time until every group is online, the node's resident
// memory, its cost per resource against the C guest's, and idle CPU:
//
//	RESMON_BENCH=1 go test ./internal/daemon -run TestGuestDensityReport -v
func TestGuestDensityReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") == "" {
		t.Skip("set RESMON_BENCH=1 to run the guest density report")
	}
	type result struct {
		up       time.Duration
		rss, per float64 // bytes: the node, and the node over its resources
		cpu      float64 // share of one core while idle
	}
	run := func(t *testing.T, path string) result {
		c, n, up := startDense(t, path)
		pid := n.cmd.Process.Pid
		res := result{up: up}
		time.Sleep(5 * time.Second) // let the start settle before measuring idle
		cpu0, t0 := procCPU(t, pid), time.Now()
		time.Sleep(20 * time.Second)
		cpu1, t1 := procCPU(t, pid), time.Now()
		res.cpu = float64(cpu1-cpu0) / float64(t1.Sub(t0))
		res.rss = float64(procRSS(t, pid))
		res.per = res.rss / (denseGroups * densePerGroup)
		c.kill("node1")
		return res
	}
	var cg, gg result
	t.Run("C", func(t *testing.T) { cg = run(t, testbin.BuildC(t, "plugins/wasm/testdata/cguest/cguest.c")) })
	t.Run("Go", func(t *testing.T) {
		gg = run(t, testbin.BuildWASM(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-wasm"))
	})
	if cg.up == 0 || gg.up == 0 {
		t.Fatal("a run failed")
	}
	t.Logf("1,000 resources on one node: C guest online %s, RSS %.1f MiB, idle CPU %.2f%%; Go guest online %s, RSS %.1f MiB (%.2f MiB per resource, %.1f× the C guest's), idle CPU %.2f%%",
		cg.up.Round(time.Millisecond), cg.rss/(1<<20), 100*cg.cpu, gg.up.Round(time.Millisecond), gg.rss/(1<<20), gg.per/(1<<20), gg.rss/cg.rss, 100*gg.cpu)
	const sec = "Guest density (1,000 WASM resources, 100 groups, one clusterd: the Go test type against the C guest in the same run)"
	benchrec.Add(t, benchrec.Row{Section: sec, Measure: "all online after start", Unit: benchrec.Seconds, Ours: gg.up.Seconds(), Floor: cg.up.Seconds(), Against: "the same with the C guest"})
	benchrec.Add(t, benchrec.Row{Section: sec, Measure: "resident memory of the node", Unit: benchrec.Bytes, Ours: gg.rss, Floor: cg.rss, Against: "the same with the C guest",
		Note: fmt.Sprintf("%.2f MiB per Go resource", gg.per/(1<<20))})
	benchrec.Add(t, benchrec.Row{Section: sec, Measure: "idle CPU of one core", Unit: benchrec.Percent, Ours: 100 * gg.cpu, Floor: 100 * cg.cpu, Against: "the same with the C guest"})
}

// The density reports' node: 100 groups of 10 resources of one WASM type.
const denseGroups, densePerGroup = 100, 10

// startDense starts one clusterd owning denseGroups groups of
// densePerGroup resources of the WASM module at path and returns once
// every group is online, with the time that took.
func startDense(t *testing.T, path string) (*mpCluster, *mpNode, time.Duration) {
	t.Helper()
	var spec strings.Builder
	fmt.Fprintf(&spec, "\n[[resource_type]]\nname = \"guest\"\nkind = \"wasm\"\npath = %q\n", path)
	for g := range denseGroups {
		fmt.Fprintf(&spec, "\n[[group]]\nname = \"g%03d\"\npreferred_owners = [\"node1\"]\npersistent_state = true\n", g)
		for r := range densePerGroup {
			fmt.Fprintf(&spec, "\n[[resource]]\nname = \"r%03d-%d\"\ntype = \"guest\"\ngroup = \"g%03d\"\n", g, r, g)
		}
	}
	c := newMPClusterOf(t, "", fmt.Sprintf("lease_ttl = %q", quorum.DefaultMemberTTL), "", "", "") // the default lease
	c.spec = spec.String()
	start := time.Now()
	n := c.start("node1")
	waitFor(t, "every group online", 10*time.Minute, func() bool {
		sts, err := c.store.GroupStatuses(context.Background())
		online := 0
		for _, st := range sts {
			if st.State == "Online" {
				online++
			}
		}
		return err == nil && online == denseGroups
	})
	return c, n, time.Since(start)
}
