package chaos

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"
)

// Print writes the summary table.
func (rep *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\nchaos: seed %d, %d rounds, %d etcd member(s), %s, run dir %s\n\n", rep.Seed, rep.Rounds, rep.EtcdMembers, rep.Elapsed.Round(time.Second), rep.Dir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\tfaults\tfailovers\tmedian\tmax\t")
	var all []time.Duration
	total, moved := 0, 0
	for _, k := range AllKinds {
		if rep.Faults[k] == 0 {
			continue
		}
		ts := rep.Times[k]
		all = append(all, ts...)
		total += rep.Faults[k]
		moved += rep.Failovers[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t\n", k, rep.Faults[k], rep.Failovers[k], median(ts), maxOf(ts))
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%s\t%s\t\n", total, moved, median(all), maxOf(all))
	tw.Flush()
	fmt.Fprintf(w, "\nstale-token writes refused: %d; corrupt checkpoints detected: %d; fenced stale tenures overlapping their successor: %d\n",
		rep.Probes, rep.Detected, rep.Tolerated)
	fmt.Fprintf(w, "counter values confirmed stored: %d; Onlines whose restored counter was checked against them: %d\n", rep.Confirmed, rep.Restored)
	if len(rep.Gaps) > 0 {
		fmt.Fprintf(w, "application processes watched: %d; handovers between tenures: %d, gap from the last old process ending to the first new one starting: min %s, median %s, max %s\n",
			rep.Apps, len(rep.Gaps), minOf(rep.Gaps), median(rep.Gaps), maxOf(rep.Gaps))
	}
	if rep.Orphans > 0 {
		fmt.Fprintf(w, "orphan rounds checked: %d\n", rep.Orphans)
	}
	fmt.Fprintf(w, "violations: %d\n", len(rep.Violations))
	for _, v := range rep.Violations {
		fmt.Fprintf(w, "  %s\n", v)
	}
	if len(rep.Violations) > 0 {
		fmt.Fprintf(w, "replay with: -seed %d -rounds %d (logs in %s)\n", rep.Seed, rep.Requested, rep.Dir)
	}
}

func median(ts []time.Duration) string {
	if len(ts) == 0 {
		return "-"
	}
	s := slices.Clone(ts)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond).String()
}

func minOf(ts []time.Duration) string {
	if len(ts) == 0 {
		return "-"
	}
	return slices.Min(ts).Round(time.Millisecond).String()
}

func maxOf(ts []time.Duration) string {
	if len(ts) == 0 {
		return "-"
	}
	return slices.Max(ts).Round(time.Millisecond).String()
}

// Main is the chaos command: it parses args, runs, prints the summary and
// returns the exit code (1 on any violation, 2 when the run failed).
func Main(args []string) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	var cfg Config
	var kinds string
	fs.IntVar(&cfg.Rounds, "rounds", 20, "number of faults to inject")
	fs.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()), "seed of the fault sequence (printed; pass it to replay)")
	fs.IntVar(&cfg.Nodes, "nodes", 3, "clusterd processes")
	fs.IntVar(&cfg.Groups, "groups", 3, "go-plugin groups of the test type")
	fs.IntVar(&cfg.WasmGroups, "wasm-groups", 1, "WASM groups of the test type (the trap and hang faults need one)")
	fs.IntVar(&cfg.EtcdMembers, "etcd-members", 1, "etcd members: 1 or 3")
	fs.DurationVar(&cfg.Lease, "lease", time.Second, "node lease TTL (whole seconds)")
	fs.StringVar(&cfg.Out, "out", "", "run directory for logs, configs and witness files (default: a new temp dir)")
	fs.StringVar(&kinds, "kinds", "", "comma-separated fault kinds to use (default all that apply)")
	fs.StringVar(&cfg.Clusterd, "clusterd", "", "clusterd binary (default: go build it)")
	fs.StringVar(&cfg.Testtype, "testtype", "", "testtype-plugin binary (default: go build it)")
	fs.StringVar(&cfg.TesttypeWASM, "testtype-wasm", "", "testtype-wasm module (default: go build it)")
	fs.StringVar(&cfg.App, "app", "", "applife-app, the application every resource runs (default: go build it)")
	fs.DurationVar(&cfg.Liveness, "liveness", 30*time.Second, "bound for every group to be online once the faults stop")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if cfg.Kinds, err = ParseKinds(kinds); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.Log = os.Stderr
	fmt.Fprintf(os.Stderr, "chaos: seed %d\n", cfg.Seed)
	// Ctrl-C still tears the cluster down.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		rep.Print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v (seed %d)\n", err, cfg.Seed)
		return 2
	}
	if len(rep.Violations) > 0 {
		return 1
	}
	return 0
}
