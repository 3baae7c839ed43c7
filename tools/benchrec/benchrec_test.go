package benchrec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/tools/benchrec"
)

func TestRecordsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recs.jsonl")
	t.Setenv(benchrec.EnvOut, path)
	benchrec.Latency(t, "S", "m p50", 3*time.Millisecond, 2*time.Millisecond, "raw", 10)
	benchrec.Durations(t, "ours", "h", []time.Duration{time.Second, 2 * time.Second})
	benchrec.Add(t, benchrec.Row{Section: "S", Measure: "rss", Unit: benchrec.Bytes, Ours: 1 << 20})
	rows, err := benchrec.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Ours != 0.003 || rows[0].Floor != 0.002 || rows[0].Kind != "row" ||
		rows[1].Kind != "samples" || len(rows[1].Values) != 2 || rows[1].Values[1] != 2 || rows[2].Unit != benchrec.Bytes {
		t.Fatalf("read back %+v", rows)
	}
	if rows[0].When == "" {
		t.Error("no time stamp")
	}
}

func TestDisabledWritesNothing(t *testing.T) {
	t.Setenv(benchrec.EnvOut, "")
	dir := t.TempDir()
	t.Chdir(dir)
	benchrec.Latency(t, "S", "m", time.Millisecond, time.Millisecond, "", 1)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("wrote %v", ents)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"section":"s","measure":"m","unit":"s","ours":1,"kind":"row"}` + "\n" + `nonsense`, "f:2:"},
		{`{"section":"s","measure":"m","unit":"s","ours":1,"kind":"other"}`, `unknown record kind "other"`},
		{`{"measure":"m","unit":"s","ours":1,"kind":"row"}`, "needs a section"},
		{`{"unit":"s","kind":"samples","values":[1]}`, "need a series"},
		{`{"section":"s","measure":"m","unit":"furlongs","kind":"row"}`, `unknown unit "furlongs"`},
		{`{"section":"s","measure":"m","unit":"s","kind":"row","speed":3}`, `unknown field "speed"`},
		{`{"section":"s","measure":"m","unit":"s","kind":"row"} {}`, "more than one record"},
	} {
		_, err := benchrec.Decode([]byte(tc.in), "f")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
	rows, err := benchrec.Decode([]byte("\n\n"+`{"section":"s","measure":"m","unit":"%","ours":1,"kind":"row"}`+"\n\n"), "f")
	if err != nil || len(rows) != 1 {
		t.Errorf("blank lines: %v %v", rows, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"section":"s","measure":"m","unit":"s","ours":1,"kind":"row"}`))
	f.Add([]byte(`{"series":"ours","measure":"h","unit":"s","values":[1,2],"kind":"samples"}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := benchrec.Decode(b, "fuzz")
		if err != nil {
			return
		}
		// What decodes encodes and decodes to the same records.
		var buf bytes.Buffer
		for _, r := range rows {
			if err := benchrec.Encode(&buf, r); err != nil {
				return // NaN cannot come out of JSON, but a huge exponent may overflow: not ours to keep
			}
		}
		again, err := benchrec.Decode(buf.Bytes(), "again")
		if err != nil || len(again) != len(rows) {
			t.Fatalf("re-decoding %q: %v (%d vs %d rows)", buf.Bytes(), err, len(again), len(rows))
		}
	})
}
