package ocf_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/resmon/resmon/sdk/sdktest"
	"github.com/resmon/resmon/tools/benchrec"
)

// TestMonitorOverheadReport measures LooksAlive of an OCF resource — the
// agent's monitor run by the type, in process and through the go-plugin
// host — against running the same agent's monitor directly with the same
// OCF_RESKEY_ variables, interleaved in rounds in one run so that all see
// the same machine. The agent's own run time dominates; the ratio is what
// the type and the host add to it. It prints a table and never fails on a
// timing.
func TestMonitorOverheadReport(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	root := testRoot(t)
	rounds, per := 10, 20
	if os.Getenv("RESMON_BENCH") == "" {
		rounds, per = 2, 5
	}
	type row struct{ agent, how string }
	var table []string
	for _, agent := range []struct {
		name  string
		props map[string]any
		path  string
	}{
		{"heartbeat:Dummy", map[string]any{"Agent": "Dummy"}, filepath.Join(root, "resource.d/heartbeat/Dummy")},
		{"resmontest:classes", map[string]any{"Provider": "resmontest", "Agent": "classes"}, filepath.Join(root, "resource.d/resmontest/classes")},
	} {
		state := filepath.Join(t.TempDir(), "state")
		agent.props["state"] = state
		targets := targets(t, root)
		var opened []res
		for _, tg := range targets {
			req := openReq("bench "+tg.name+" "+agent.name, agent.props)
			r, err := tg.open(t, sdktest.NewHost(req.ID), req)
			must(t, "Open", err)
			must(t, "Online", r.Online(ctxT(t)))
			t.Cleanup(func() { r.Close(context.Background()) })
			opened = append(opened, r)
		}
		// The floor: the agent's monitor run directly, as an operator
		// would from a shell.
		raw := func() error {
			cmd := exec.Command(agent.path, "monitor")
			cmd.Env = []string{"OCF_ROOT=" + root, "OCF_RESKEY_state=" + state, "OCF_RESOURCE_INSTANCE=bench",
				"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HA_LOGFACILITY=none"}
			return cmd.Run()
		}
		calls := []func() error{raw}
		for _, r := range opened {
			calls = append(calls, func() error { return r.health(context.Background(), false) })
		}
		samples := make([][]time.Duration, len(calls))
		for range rounds {
			for i, call := range calls {
				for range per {
					start := time.Now()
					if err := call(); err != nil {
						t.Fatalf("%s call %d: %v", agent.name, i, err)
					}
					samples[i] = append(samples[i], time.Since(start))
				}
			}
		}
		floor := median(samples[0])
		table = append(table, fmt.Sprintf("| %s | agent run directly | %v | 1.00× |", agent.name, floor.Round(time.Microsecond)))
		for i, tg := range targets {
			p := median(samples[i+1])
			table = append(table, fmt.Sprintf("| %s | LooksAlive, %s | %v | %.2f× |", agent.name, tg.name, p.Round(time.Microsecond), float64(p)/float64(floor)))
			benchrec.Latency(t, "OCF agents", fmt.Sprintf("LooksAlive (monitor) of ocf:%s, %s, p50", agent.name, tg.name), p, floor,
				"the agent's monitor run directly with the same OCF_RESKEY_ variables", len(samples[i+1]))
		}
	}
	t.Logf("monitor p50, %d rounds of %d calls each:\n| agent | how | p50 | ratio |\n| --- | --- | --- | --- |\n%s", rounds, per, joinLines(table))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func joinLines(ls []string) string {
	out := ""
	for _, l := range ls {
		out += l + "\n"
	}
	return out
}
