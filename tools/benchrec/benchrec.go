// Package benchrec records what the benchmark reports measure, so one
// command (cmd/benchreport) can gather every report into one table: each
// report test adds rows, ours beside the raw floor measured in the same
// run, and sample sets for histograms. Records are appended as JSON lines
// to the file named by $RESMON_BENCH_OUT; without it nothing is written and
// the reports only log their tables, as before.
package benchrec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// EnvOut names the file records are appended to.
const EnvOut = "RESMON_BENCH_OUT"

// Unit says what a row's numbers are.
type Unit string

// The units of rows and samples.
const (
	Seconds Unit = "s"     // durations, rendered as µs, ms or s
	Bytes   Unit = "B"     // sizes, rendered as KiB or MiB
	Percent Unit = "%"     // a share, such as CPU of one core
	Count   Unit = "count" // a plain number
)

// Row is one measure: ours beside its floor.
type Row struct {
	Section string    `json:"section"` // the table the row belongs to: "Entry points", "Crash failover"…
	Measure string    `json:"measure"` // what was measured, with its statistic ("LooksAlive p50")
	Unit    Unit      `json:"unit"`
	Ours    float64   `json:"ours"`
	Floor   float64   `json:"floor,omitempty"`   // 0: no floor for this measure
	Against string    `json:"against,omitempty"` // what the floor is ("raw gRPC between two processes")
	Target  string    `json:"target,omitempty"`  // the target, as text ("≤ 1.2×")
	Diff    bool      `json:"diff,omitempty"`    // compare as ours − floor rather than ours / floor
	Samples int       `json:"n,omitempty"`       // how many measurements the statistic is over
	Note    string    `json:"note,omitempty"`    // anything a reader needs to read the row right
	When    string    `json:"when,omitempty"`    // RFC 3339, filled in
	Kind    string    `json:"kind"`              // "row" or "samples"
	Values  []float64 `json:"values,omitempty"`  // samples only
	Series  string    `json:"series,omitempty"`  // samples only: the histogram series
}

// Enabled reports whether records are being written.
func Enabled() bool { return os.Getenv(EnvOut) != "" }

var mu sync.Mutex

// Add records r (nothing when disabled). A record that cannot be written
// fails the test: a report with holes would mislead.
func Add(tb testing.TB, r Row) {
	tb.Helper()
	if !Enabled() {
		return
	}
	r.Kind = "row"
	write(tb, r)
}

// Latency records a duration measure against its floor.
func Latency(tb testing.TB, section, measure string, ours, floor time.Duration, against string, n int) {
	tb.Helper()
	Add(tb, Row{Section: section, Measure: measure, Unit: Seconds, Ours: ours.Seconds(), Floor: floor.Seconds(), Against: against, Samples: n})
}

// Durations records a sample set for the histogram series name (ours, or a
// floor), in seconds.
func Durations(tb testing.TB, series, measure string, ds []time.Duration) {
	tb.Helper()
	if !Enabled() {
		return
	}
	vs := make([]float64, len(ds))
	for i, d := range ds {
		vs[i] = d.Seconds()
	}
	write(tb, Row{Kind: "samples", Series: series, Measure: measure, Unit: Seconds, Values: vs, Samples: len(vs)})
}

func write(tb testing.TB, r Row) {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(os.Getenv(EnvOut), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		tb.Fatalf("benchrec: %v", err)
	}
	defer f.Close()
	if err := Encode(f, r); err != nil {
		tb.Fatalf("benchrec: writing %s: %v", f.Name(), err)
	}
}

// Encode writes r as one JSON line, stamped with the time if it has none.
func Encode(w io.Writer, r Row) error {
	if r.When == "" {
		r.When = time.Now().UTC().Format(time.RFC3339)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("benchrec: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Read parses a records file; see Decode.
func Read(path string) ([]Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(b, path)
}

// Decode parses records, one JSON object a line (blank lines are skipped).
// A line that is not a record is an error naming name and the line.
func Decode(b []byte, name string) ([]Row, error) {
	var out []Row
	for line := 1; len(b) > 0; line++ {
		l := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var r Row
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("benchrec: %s:%d: %w", name, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("benchrec: %s:%d: more than one record on the line", name, line)
		}
		switch {
		case r.Kind != "row" && r.Kind != "samples":
			return nil, fmt.Errorf("benchrec: %s:%d: unknown record kind %q", name, line, r.Kind)
		case r.Kind == "row" && (r.Section == "" || r.Measure == ""):
			return nil, fmt.Errorf("benchrec: %s:%d: a row needs a section and a measure", name, line)
		case r.Kind == "samples" && r.Series == "":
			return nil, fmt.Errorf("benchrec: %s:%d: samples need a series", name, line)
		}
		switch r.Unit {
		case Seconds, Bytes, Percent, Count:
		default:
			return nil, fmt.Errorf("benchrec: %s:%d: unknown unit %q", name, line, r.Unit)
		}
		out = append(out, r)
	}
	return out, nil
}
