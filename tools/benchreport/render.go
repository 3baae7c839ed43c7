package benchreport

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/tools/benchrec"
)

// report is everything the steps recorded.
type report struct {
	Rows    []stepRow
	Samples map[string][]benchrec.Row // histogram (measure) → its series
	Machine string
	Quick   bool
	Failed  []string
	When    time.Time // the newest record
}

type stepRow struct {
	benchrec.Row
	Step Step
}

// load reads every step's records from dir, in step order.
func load(dir string) (*report, error) {
	rep := &report{Samples: map[string][]benchrec.Row{}}
	for _, s := range Steps {
		rows, err := benchrec.Read(filepath.Join(dir, s.Name+".jsonl"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// A measure recorded twice keeps its place and its last value: a Go
		// benchmark runs once with b.N = 1 before the run that counts.
		rowAt, sampleAt := map[string]int{}, map[string]int{}
		for _, r := range rows {
			if t, err := time.Parse(time.RFC3339, r.When); err == nil && t.After(rep.When) {
				rep.When = t
			}
			if r.Kind == "samples" {
				k := r.Measure + "\x00" + r.Series
				if i, ok := sampleAt[k]; ok {
					rep.Samples[r.Measure][i] = r
					continue
				}
				sampleAt[k] = len(rep.Samples[r.Measure])
				rep.Samples[r.Measure] = append(rep.Samples[r.Measure], r)
				continue
			}
			k := r.Section + "\x00" + r.Measure
			if i, ok := rowAt[k]; ok {
				rep.Rows[i] = stepRow{r, s}
				continue
			}
			rowAt[k] = len(rep.Rows)
			rep.Rows = append(rep.Rows, stepRow{r, s})
		}
	}
	return rep, nil
}

// histograms are the images of the report: file, title, the sample sets.
var histograms = []struct {
	file, title, measure string
}{
	{"failover-crash.svg", "Crash failover, TTL 1 s: kill -9 of the owner → Online on another node", "crash failover ttl=1s"},
	{"failover-crash-default.svg", "Crash failover at the default TTL (" + quorum.DefaultMemberTTL.String() + ")", "crash failover ttl=" + quorum.DefaultMemberTTL.String()},
	{"failover-pacemaker.svg", "Crash failover beside Pacemaker + Corosync: ours TTL 1 s, theirs token 1 s", "Pacemaker beside us, crash ttl=1s,token=1s"},
	{"failover-chaos.svg", "Failover time under injected faults (chaos run)", "chaos"},
}

// write renders README.md and the histograms into dir.
func (rep *report) write(dir string) error {
	var imgs []string
	for _, h := range histograms {
		series := rep.Samples[h.measure]
		if len(series) == 0 {
			continue
		}
		svg := histogramSVG(h.title, series)
		if err := os.WriteFile(filepath.Join(dir, h.file), svg, 0o644); err != nil {
			return fmt.Errorf("benchreport: %w", err)
		}
		imgs = append(imgs, h.file)
	}
	if cs := curves(rep.Rows); len(cs) > 0 {
		if err := os.WriteFile(filepath.Join(dir, curvesFile), curvesSVG(cs), 0o644); err != nil {
			return fmt.Errorf("benchreport: %w", err)
		}
		imgs = append(imgs, curvesFile)
	}
	md := rep.markdown(imgs)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("benchreport: %w", err)
	}
	return nil
}

func (rep *report) markdown(imgs []string) string {
	var b strings.Builder
	b.WriteString("# Benchmark report\n\n")
	when := "never"
	if !rep.When.IsZero() {
		when = rep.When.Format("2006-01-02 15:04 MST")
	}
	fmt.Fprintf(&b, "Measured %s on %s. Every floor is measured in the same run, on the same machine and etcd, interleaved with ours where the two can share the machine: the ratio is ours ÷ floor (or ours − floor where marked). Regenerate with `go run ./tools/cmd/benchreport` (about %.0f minutes on 2 cores); each section names the command that measures it alone. Timings are never test oracles: they vary from run to run by 10–30 %% on a shared machine.\n\n",
		when, rep.Machine, totalMinutes())
	if rep.Quick {
		b.WriteString("**A quick run (`-quick`): fewer samples than the published figures; do not quote it.**\n\n")
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(&b, "**Failed:** %s\n\n", f)
	}
	for _, img := range imgs {
		fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(img, ".svg"), img)
	}
	var sections []string
	bySection := map[string][]stepRow{}
	for _, r := range rep.Rows {
		if _, ok := bySection[r.Section]; !ok {
			sections = append(sections, r.Section)
		}
		bySection[r.Section] = append(bySection[r.Section], r)
	}
	for _, sec := range sections {
		rows := bySection[sec]
		fmt.Fprintf(&b, "## %s\n\n", sec)
		var cmds []string
		for _, r := range rows {
			if c := r.Step.Command(); !slices.Contains(cmds, c) {
				cmds = append(cmds, c)
			}
		}
		for _, c := range cmds {
			fmt.Fprintf(&b, "    %s\n", c)
		}
		b.WriteString("\n| measure | ours | floor | ratio | target | n | the floor is | note |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, r := range rows {
			floor, ratio := "—", "—"
			if r.Floor > 0 {
				floor = fmtValue(r.Unit, r.Floor)
				if r.Diff {
					ratio = "+" + fmtValue(r.Unit, r.Ours-r.Floor)
					if r.Ours < r.Floor {
						ratio = "−" + fmtValue(r.Unit, r.Floor-r.Ours)
					}
				} else {
					ratio = fmt.Sprintf("%.2f×", r.Ours/r.Floor)
				}
			}
			n := ""
			if r.Samples > 0 {
				n = fmt.Sprint(r.Samples)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", cell(r.Measure), fmtValue(r.Unit, r.Ours), floor, ratio, cell(r.Target), n, cell(r.Against), cell(r.Note))
		}
		b.WriteString("\n")
	}
	if len(rep.Rows) == 0 {
		b.WriteString("Nothing was recorded.\n")
	}
	return b.String()
}

// cell keeps a value from breaking the table.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func totalMinutes() float64 {
	m := 0.0
	for _, s := range Steps {
		m += s.Minutes
	}
	return math.Ceil(m)
}

// fmtValue renders v of unit u with a readable scale.
func fmtValue(u benchrec.Unit, v float64) string {
	switch u {
	case benchrec.Seconds:
		a := math.Abs(v)
		switch {
		case a < 1e-3:
			return fmt.Sprintf("%.2f µs", v*1e6)
		case a < 1:
			return fmt.Sprintf("%.2f ms", v*1e3)
		default:
			return fmt.Sprintf("%.3f s", v)
		}
	case benchrec.Bytes:
		if math.Abs(v) >= 1<<20 {
			return fmt.Sprintf("%.1f MiB", v/(1<<20))
		}
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	case benchrec.Percent:
		return fmt.Sprintf("%.2f %%", v)
	}
	if v != math.Trunc(v) {
		// A rate (requests per second): more digits are noise.
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%g", v)
}

func quantile(vs []float64, q float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

func minOf(vs []float64) float64 {
	m := vs[0]
	for _, v := range vs[1:] {
		m = min(m, v)
	}
	return m
}

func maxOf(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	return slices.Max(vs)
}

// machine describes where the report ran: CPU, cores, Go, commit.
func machine() string {
	cpu := "an unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	desc := fmt.Sprintf("%s, %d cores, %s %s/%s", cpu, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		desc += ", commit " + strings.TrimSpace(string(out))
	}
	return desc
}
