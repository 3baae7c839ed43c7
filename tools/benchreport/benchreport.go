// Package benchreport runs every benchmark report of the repository in one
// go — entry points, checkpoints, crash detection, crash failover, planned
// move, density, mass failover, Pacemaker beside us, and a short
// fault-injection run — and writes what they measured, ours beside the
// floor measured in the same run, as a markdown table with failover-time
// histograms (SVG) into a report folder.
package benchreport

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/resmon/resmon/tools/benchrec"
	"github.com/resmon/resmon/tools/chaos"
)

// Step is one report: a go test invocation whose test records rows through
// benchrec, or the in-process chaos run.
type Step struct {
	Name    string   // also the base name of its records and log files
	Title   string   // what it measures, for progress lines
	Package string   // ./quorum …; "" for the chaos run
	Args    []string // go test flags after the package
	Quick   []string // replaces Args with -quick
	Env     []string // besides RESMON_BENCH=1 and the records file
	Minutes float64  // rough duration on 2 cores, for the progress line
}

// Command is how to run the step alone, for the report.
func (s Step) Command() string {
	if s.Package == "" {
		return "go run ./tools/cmd/chaos -rounds N"
	}
	var env string
	for _, e := range append([]string{"RESMON_BENCH=1"}, s.Env...) {
		env += e + " "
	}
	return env + "go test " + s.Package + " " + strings.Join(quoteArgs(s.Args), " ") + " -v"
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "|^$*") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

// Steps are the reports, in the order they run.
var Steps = []Step{
	{Name: "goplugin", Title: "go-plugin entry points vs raw gRPC", Package: "./plugins/goplugin",
		Args: []string{"-run", "^TestLooksAliveVersusRawGRPC$"}, Minutes: 0.5},
	{Name: "wasm", Title: "WASM entry points vs raw wazero", Package: "./plugins/wasm",
		Args: []string{"-run", "^TestBenchReport$"}, Minutes: 1},
	{Name: "quorum-cpt", Title: "checkpoint put vs raw etcd Put", Package: "./quorum",
		Args: []string{"-run", "^TestCheckpointPutLatencyReport$"}, Env: []string{"RESMON_BENCH_N=300"}, Minutes: 1},
	{Name: "quorum-tls", Title: "checkpoint put over TLS and plaintext vs raw etcd Put", Package: "./quorum",
		Args: []string{"-run", "^TestCheckpointPutTLSCostReport$"}, Env: []string{"RESMON_BENCH_N=300"}, Minutes: 1},
	{Name: "checkpoint", Title: "registry write → CPT durable vs raw Put", Package: "./checkpoint",
		Args: []string{"-run", "^TestCheckpointBenchReport$"}, Env: []string{"RESMON_BENCH_N=300"}, Minutes: 1},
	{Name: "quorum-detect", Title: "crash detection vs a raw lease", Package: "./quorum",
		Args: []string{"-run", "^TestCrashDetectionLatency$"}, Minutes: 1.5},
	{Name: "crash", Title: "crash failover of real clusterd processes", Package: "./internal/daemon",
		Args: []string{"-run", "^$", "-bench", "^BenchmarkCrashFailover$", "-benchtime", "12x"}, Quick: []string{"-run", "^$", "-bench", "^BenchmarkCrashFailover/ttl=1s", "-benchtime", "4x"}, Minutes: 3},
	{Name: "move", Title: "planned move", Package: "./internal/daemon",
		Args: []string{"-run", "^$", "-bench", "^BenchmarkPlannedMove$", "-benchtime", "20x"}, Quick: []string{"-run", "^$", "-bench", "^BenchmarkPlannedMove$", "-benchtime", "5x"}, Minutes: 0.5},
	{Name: "density", Title: "1,000 WASM resources on one node", Package: "./internal/daemon",
		Args: []string{"-run", "^TestDensityReport$"}, Minutes: 1},
	{Name: "size", Title: "cluster size curve: 4, 16 and 32 nodes with 100 groups each", Package: "./internal/daemon",
		Args: []string{"-run", "^TestClusterSizeReport$", "-timeout", "90m"}, Minutes: 30},
	{Name: "guest-density", Title: "1,000 Go-guest WASM resources on one node against C guests", Package: "./internal/daemon",
		Args: []string{"-run", "^TestGuestDensityReport$"}, Minutes: 1.5},
	{Name: "massfailover", Title: "kill -9 of the node owning 1,000 groups of 10 WASM resources, 10 nodes", Package: "./internal/daemon",
		Args: []string{"-run", "^TestMassFailoverReport$"},
		Env:  []string{"RESMON_BENCH_NODES=10", "RESMON_BENCH_GROUPS=1000"}, Minutes: 3},
	{Name: "ocf", Title: "OCF agents: monitor vs the agent run directly; floating IP failover", Package: "./types/ocf",
		Args: []string{"-run", "^(TestMonitorOverheadReport|TestIPaddr2ThreeNodes)$"}, Minutes: 2.5},
	{Name: "pacemaker", Title: "Pacemaker + Corosync beside us: crash failover and planned move, 1 s and default token, our two defaults", Package: "./internal/daemon",
		Args: []string{"-run", "^TestPacemakerBesideUs$"}, Quick: []string{"-run", "^TestPacemakerBesideUs$"}, Env: []string{"RESMON_BENCH_SAMPLES=6"}, Minutes: 7.5},
	{Name: "soak", Title: "spurious self-fences against lease TTL: 30 min per topology (node majority, external etcd) with the CPUs oversubscribed 2× and a disk writer beside etcd", Package: "./internal/daemon",
		Args: []string{"-run", "^TestFenceSoakReport$", "-timeout", "90m"}, Quick: []string{"-run", "^TestFenceSoakReport$", "-short"}, Minutes: 64},
	{Name: "leadercrash", Title: "survivors fenced by the crash of the node hosting the etcd leader, against lease TTL", Package: "./internal/daemon",
		Args: []string{"-run", "^TestLeaderCrashFenceReport$", "-timeout", "60m"}, Quick: []string{"-run", "^TestLeaderCrashFenceReport$"},
		Env: []string{"RESMON_SOAK_TTLS=1,2,3,4,5", "RESMON_BENCH_N=6"}, Minutes: 3.5},
	{Name: "leadercrash-500ms", Title: "survivors fenced by the crash of the node hosting the etcd leader, heartbeat 50 ms, election 500 ms (the embedded default)", Package: "./internal/daemon",
		Args: []string{"-run", "^TestLeaderCrashFenceReport$", "-timeout", "60m"}, Quick: []string{"-run", "^TestLeaderCrashFenceReport$"},
		Env: []string{"RESMON_SOAK_TTLS=2,3", "RESMON_SOAK_HEARTBEAT=50ms", "RESMON_SOAK_ELECTION=500ms", "RESMON_BENCH_N=20"}, Minutes: 3},
	{Name: "soak-500ms", Title: "spurious self-fences of a node majority at heartbeat 50 ms, election 500 ms (the embedded default): 30 min with the CPUs oversubscribed 2× and a disk writer beside etcd", Package: "./internal/daemon",
		Args: []string{"-run", "^TestFenceSoakReport$", "-timeout", "60m"}, Quick: []string{"-run", "^TestFenceSoakReport$", "-short"},
		Env: []string{"RESMON_SOAK_KINDS=majority", "RESMON_SOAK_TTLS=2,3", "RESMON_SOAK_HEARTBEAT=50ms", "RESMON_SOAK_ELECTION=500ms"}, Minutes: 32},
	{Name: "chaos", Title: "failover under injected faults", Minutes: 1},
}

// Config says what to run and where the report goes.
type Config struct {
	Out         string   // report folder (default "report")
	Only        []string // step names; nil: all
	Quick       bool     // fewer samples: a smoke run, not for publishing
	RenderOnly  bool     // rebuild README.md and the images from Out/raw
	ChaosRounds int      // rounds of the chaos step (default 44: four decks of kinds)
	Log         io.Writer
}

// Run runs the steps and writes the report. A step that fails is named in
// the report and the error; the others still run.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Out == "" {
		cfg.Out = "report"
	}
	if cfg.ChaosRounds == 0 {
		cfg.ChaosRounds = 44
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	steps, err := selectSteps(cfg.Only)
	if err != nil {
		return err
	}
	raw := filepath.Join(cfg.Out, "raw")
	logs := filepath.Join(cfg.Out, "logs")
	for _, d := range []string{raw, logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("benchreport: %w", err)
		}
	}
	var failed []error
	if !cfg.RenderOnly {
		// Where it ran is recorded with the records, for a later -render.
		if err := os.WriteFile(filepath.Join(raw, "machine.txt"), []byte(machine()+"\n"), 0o644); err != nil {
			return fmt.Errorf("benchreport: %w", err)
		}
		for i, s := range steps {
			fmt.Fprintf(cfg.Log, "[%d/%d] %s: %s (about %.1f min)\n", i+1, len(steps), s.Name, s.Title, s.Minutes)
			start := time.Now()
			err := runStep(ctx, cfg, s, filepath.Join(raw, s.Name+".jsonl"), filepath.Join(logs, s.Name+".log"))
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				fmt.Fprintf(cfg.Log, "      failed after %s: %v\n", time.Since(start).Round(time.Second), err)
				failed = append(failed, fmt.Errorf("step %s: %w", s.Name, err))
				continue
			}
			fmt.Fprintf(cfg.Log, "      done in %s\n", time.Since(start).Round(time.Second))
		}
	}
	rep, err := load(raw)
	if err != nil {
		return err
	}
	rep.Quick = cfg.Quick
	if b, err := os.ReadFile(filepath.Join(raw, "machine.txt")); err == nil {
		rep.Machine = strings.TrimSpace(string(b))
	} else {
		rep.Machine = machine()
	}
	for _, f := range failed {
		rep.Failed = append(rep.Failed, f.Error())
	}
	if err := rep.write(cfg.Out); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Log, "report: %s\n", filepath.Join(cfg.Out, "README.md"))
	return errors.Join(failed...)
}

func selectSteps(only []string) ([]Step, error) {
	if len(only) == 0 {
		return Steps, nil
	}
	var out []Step
	for _, name := range only {
		found := false
		for _, s := range Steps {
			if s.Name == name {
				out, found = append(out, s), true
			}
		}
		if !found {
			var names []string
			for _, s := range Steps {
				names = append(names, s.Name)
			}
			return nil, fmt.Errorf("benchreport: unknown step %q (steps: %s)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// runStep runs one step with its records going to recs (replaced) and its
// output to logPath.
func runStep(ctx context.Context, cfg Config, s Step, recs, logPath string) error {
	if err := os.Remove(recs); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	if s.Package == "" {
		return runChaos(ctx, cfg, recs, logf)
	}
	args := s.Args
	if cfg.Quick && s.Quick != nil {
		args = s.Quick
	}
	env := append(os.Environ(), "RESMON_BENCH=1", benchrec.EnvOut+"="+absPath(recs))
	env = append(env, s.Env...)
	if cfg.Quick {
		env = append(env, "RESMON_BENCH_N=50")
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", s.Package, "-count=1", "-timeout", "30m", "-v"}, args...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test %s: %w (output in %s)", s.Package, err, logPath)
	}
	if _, err := os.Stat(recs); err != nil {
		return fmt.Errorf("go test %s recorded nothing (skipped? output in %s)", s.Package, logPath)
	}
	return nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// runChaos runs a short fault-injection run in process and records its
// failover times by kind.
func runChaos(ctx context.Context, cfg Config, recs string, log io.Writer) error {
	dir, err := os.MkdirTemp("", "resmon-benchreport-chaos-")
	if err != nil {
		return err
	}
	rep, err := chaos.Run(ctx, chaos.Config{Rounds: cfg.ChaosRounds, Seed: 1, WasmGroups: 1, Out: dir, Log: log})
	if rep != nil {
		rep.Print(log)
	}
	if err != nil {
		return err
	}
	rows := ChaosRows(rep)
	f, err := os.Create(recs)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, r := range rows {
		if err := benchrec.Encode(f, r); err != nil {
			return err
		}
	}
	if len(rep.Violations) > 0 {
		return fmt.Errorf("%d invariant violation(s), seed %d (run dir %s)", len(rep.Violations), rep.Seed, dir)
	}
	return os.RemoveAll(dir)
}

// ChaosRows turns a chaos report into records: the failover time by kind
// and the samples of the histogram, grouped by what the fault does to the
// owner.
func ChaosRows(rep *chaos.Report) []benchrec.Row {
	const sec = "Failover under injected faults (chaos run: fault → the group's new tenure witnessed Online)"
	var rows []benchrec.Row
	series := map[string][]float64{}
	for _, k := range chaos.AllKinds {
		ts := rep.Times[k]
		if len(ts) == 0 {
			continue
		}
		vs := make([]float64, len(ts))
		for i, t := range ts {
			vs[i] = t.Seconds()
		}
		rows = append(rows, benchrec.Row{Kind: "row", Section: sec, Measure: string(k) + " p50", Unit: benchrec.Seconds, Ours: quantile(vs, .5), Samples: len(vs),
			Note: fmt.Sprintf("max %s over %d faults", fmtValue(benchrec.Seconds, maxOf(vs)), rep.Faults[k])})
		g := chaosSeries(k)
		series[g] = append(series[g], vs...)
	}
	for _, g := range []string{seriesNodeLost, seriesDrain, seriesResource} {
		if len(series[g]) > 0 {
			rows = append(rows, benchrec.Row{Kind: "samples", Series: g, Measure: "chaos", Unit: benchrec.Seconds, Values: series[g], Samples: len(series[g])})
		}
	}
	rows = append(rows, benchrec.Row{Kind: "row", Section: sec, Measure: "invariant violations", Unit: benchrec.Count, Ours: float64(len(rep.Violations)),
		Note: fmt.Sprintf("%d rounds, seed %d; %d stale writes refused, %d counter values confirmed", rep.Rounds, rep.Seed, rep.Probes, rep.Confirmed)})
	if len(rep.Gaps) > 0 {
		overlaps := 0
		for _, v := range rep.Violations {
			if v.Check == chaos.CheckOneCopy {
				overlaps++
			}
		}
		gaps := make([]float64, len(rep.Gaps))
		for i, g := range rep.Gaps {
			gaps[i] = g.Seconds()
		}
		rows = append(rows,
			benchrec.Row{Kind: "row", Section: sec, Measure: "application copies overlapping between nodes", Unit: benchrec.Count, Ours: float64(overlaps),
				Note: fmt.Sprintf("%d application processes watched from outside, %d handovers between tenures", rep.Apps, len(rep.Gaps))},
			benchrec.Row{Kind: "row", Section: sec, Measure: "handover gap p50 (old tenure's last process ends → new tenure's first starts)", Unit: benchrec.Seconds,
				Ours: quantile(gaps, .5), Samples: len(gaps), Note: fmt.Sprintf("min %s, max %s", fmtValue(benchrec.Seconds, minOf(gaps)), fmtValue(benchrec.Seconds, maxOf(gaps)))})
	}
	return rows
}

const (
	seriesNodeLost = "node lost (kill, stop, cut, corrupt)"
	seriesDrain    = "node restarted (drained, or killed and started at once)"
	seriesResource = "resource or plugin failed past its restart threshold"
)

func chaosSeries(k chaos.Kind) string {
	switch k {
	case chaos.KindKill, chaos.KindStop, chaos.KindCut, chaos.KindCorrupt, chaos.KindMember, chaos.KindLeader:
		return seriesNodeLost
	case chaos.KindRestart, chaos.KindBounce:
		return seriesDrain
	}
	return seriesResource
}

// Main is the benchreport command.
func Main(args []string) int {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	var cfg Config
	var only string
	fs.StringVar(&cfg.Out, "out", "report", "report folder: README.md, the SVG histograms, raw/ records, logs/")
	fs.StringVar(&only, "only", "", "comma-separated steps to run (default all): "+stepNames())
	fs.BoolVar(&cfg.Quick, "quick", false, "fewer samples: a smoke run, marked as such in the report")
	fs.BoolVar(&cfg.RenderOnly, "render", false, "only rebuild README.md and the images from the records in -out/raw")
	fs.IntVar(&cfg.ChaosRounds, "chaos-rounds", 44, "rounds of the fault-injection step")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "benchreport: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if only != "" {
		cfg.Only = strings.Split(only, ",")
	}
	if _, err := selectSteps(cfg.Only); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		return 1
	}
	return 0
}

func stepNames() string {
	var names []string
	for _, s := range Steps {
		names = append(names, s.Name)
	}
	return strings.Join(names, ",")
}
