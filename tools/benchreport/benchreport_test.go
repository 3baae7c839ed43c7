package benchreport

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/tools/benchrec"
	"github.com/resmon/resmon/tools/chaos"
)

// copyRaw puts the testdata records where a run would have left them.
func copyRaw(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "raw"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("testdata/raw")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata/raw", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, "raw", e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestRenderFromRecords(t *testing.T) {
	out := copyRaw(t)
	if err := Run(context.Background(), Config{Out: out, RenderOnly: true}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Entry points",
		"| go-plugin LooksAlive p50 | 79.20 µs | 75.90 µs | 1.04× | ≤ 1.2× | 2000 |", // ratio to the floor
		"| p50 | 27.40 ms | 1.50 ms | +25.90 ms |",                                   // a difference where marked
		`go-plugin start \| handshake`,                                               // a pipe cannot break the table
		"RESMON_BENCH=1 go test ./plugins/goplugin -run '^TestLooksAliveVersusRawGRPC$' -v",
		"![failover-crash](failover-crash.svg)",
		"Measured 2026-12-03 11:00 UTC", // the newest record
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("README.md lacks %q:\n%s", want, md)
		}
	}
	if n := strings.Count(string(md), "| p50 |"); n != 1 {
		t.Errorf("the planned move has %d rows; a benchmark's b.N = 1 run must give way to the run that counts", n)
	}
	if strings.Index(string(md), "## Entry points") > strings.Index(string(md), "## Crash failover") {
		t.Errorf("sections out of step order:\n%s", md)
	}
	svg, err := os.ReadFile(filepath.Join(out, "failover-crash.svg"))
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, svg)
	for _, want := range []string{"ours — n=5, median 1.200 s", "raw lease expiry — n=4, median 1.050 s"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("histogram lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "failover-chaos.svg")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a histogram without samples was drawn: %v", err)
	}
}

func wellFormed(t *testing.T, svg []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

func TestBadRecordsNameTheFileAndLine(t *testing.T) {
	out := copyRaw(t)
	bad := filepath.Join(out, "raw", "wasm.jsonl")
	os.WriteFile(bad, []byte(`{"section":"x","measure":"y","unit":"s","ours":1,"kind":"row"}`+"\n"+`{"kind":"row","ours":"fast"}`+"\n"), 0o644)
	err := Run(context.Background(), Config{Out: out, RenderOnly: true})
	if err == nil || !strings.Contains(err.Error(), "wasm.jsonl:2") {
		t.Fatalf("got %v, want an error naming wasm.jsonl:2", err)
	}
}

func TestChaosRows(t *testing.T) {
	rep := &chaos.Report{Seed: 7, Rounds: 3,
		Faults: map[chaos.Kind]int{chaos.KindKill: 2, chaos.KindTrap: 1},
		Times:  map[chaos.Kind][]time.Duration{chaos.KindKill: {time.Second, 1200 * time.Millisecond}, chaos.KindTrap: {80 * time.Millisecond}},
		Apps:   4, Gaps: []time.Duration{30 * time.Millisecond, 700 * time.Millisecond, 1500 * time.Millisecond},
		Violations: []chaos.Violation{{Round: 2, Check: chaos.CheckOneCopy, Detail: "both ran"}}}
	rows := ChaosRows(rep)
	var kinds, series []string
	for _, r := range rows {
		switch r.Kind {
		case "row":
			kinds = append(kinds, r.Measure)
		case "samples":
			series = append(series, r.Series)
		}
	}
	if strings.Join(kinds, ",") != "kill p50,trap p50,invariant violations,application copies overlapping between nodes,handover gap p50 (old tenure's last process ends → new tenure's first starts)" {
		t.Errorf("rows %q", kinds)
	}
	if len(series) != 2 || series[0] != seriesNodeLost || series[1] != seriesResource {
		t.Errorf("series %q", series)
	}
	for _, r := range rows {
		switch {
		case strings.HasPrefix(r.Measure, "application copies") && r.Ours != 1:
			t.Errorf("overlaps = %v, want the one violation", r.Ours)
		case strings.HasPrefix(r.Measure, "handover gap") && (r.Ours != 0.7 || !strings.Contains(r.Note, "min 30")):
			t.Errorf("handover gap row %+v", r)
		}
	}
	if rows[0].Ours != 1.2 {
		t.Errorf("kill p50 = %v, want the upper median 1.2", rows[0].Ours)
	}
}

func TestMainRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-only", "nosuchstep"}, {"-bogus"}, {"extra"}} {
		if code := Main(args); code != 2 {
			t.Errorf("Main(%q) = %d, want 2", args, code)
		}
	}
}

func TestStepCommands(t *testing.T) {
	names := map[string]bool{}
	for _, s := range Steps {
		if names[s.Name] {
			t.Errorf("step %q twice", s.Name)
		}
		names[s.Name] = true
		if s.Package != "" {
			if _, err := os.Stat(filepath.Join("..", "..", s.Package)); err != nil {
				t.Errorf("step %s: package %s: %v", s.Name, s.Package, err)
			}
		}
	}
}

// TestSizeCurves: the size report's rows become one curve per measure,
// points by size, drawn as well-formed SVG.
func TestSizeCurves(t *testing.T) {
	row := func(m string, v float64) stepRow {
		return stepRow{Row: benchrec.Row{Measure: m, Unit: benchrec.Seconds, Ours: v}}
	}
	rows := []stepRow{
		row("16 nodes × 100 groups: planned move p50", 0.02),
		row("4 nodes × 100 groups: planned move p50", 0.01),
		row("4 nodes × 100 groups: etcd writes at rest", 0),
		row("crash p50", 1),
		row("32 nodes × 100 groups: planned move p50", 0.04),
	}
	cs := curves(rows)
	if len(cs) != 2 || cs[0].name != "planned move p50" || cs[1].name != "etcd writes at rest" {
		t.Fatalf("curves %+v", cs)
	}
	if got := cs[0].points; len(got) != 3 || got[0] != [2]float64{4, 0.01} || got[2] != [2]float64{32, 0.04} {
		t.Fatalf("points %v, want by size", got)
	}
	svg := curvesSVG(cs)
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("not well-formed: %v", err)
	}
	if n := bytes.Count(svg, []byte("<path ")); n != 2 {
		t.Fatalf("%d paths, want one per curve", n)
	}
}

func TestFmtValue(t *testing.T) {
	for _, tc := range []struct {
		unit benchrec.Unit
		v    float64
		want string
	}{
		{benchrec.Seconds, 2.0671, "2.067 s"},
		{benchrec.Seconds, 0.0423, "42.30 ms"},
		{benchrec.Bytes, 3 << 20, "3.0 MiB"},
		{benchrec.Percent, 0.7, "0.70 %"},
		{benchrec.Count, 427, "427"},
		{benchrec.Count, 56.33144203521044, "56.3"},
	} {
		if got := fmtValue(tc.unit, tc.v); got != tc.want {
			t.Errorf("fmtValue(%s, %v) = %q, want %q", tc.unit, tc.v, got, tc.want)
		}
	}
}
