package cli

import (
	"bytes"
	"testing"
)

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, keep, want string }{
		{"plain name", "", "plain name"},
		{"Ünïcode ✓", "", "Ünïcode ✓"},
		{"esc\x1b[2J", "", `esc\x1b[2J`},
		{"bell\a tab\t nl\n cr\r", "", `bell\a tab\t nl\n cr\r`},
		{"keep\n\tthese\r", "\n\t", "keep\n\tthese\\r"},
		{"del\x7f", "", `del\x7f`},
		{"csi\u009b", "", `csi\u009b`},
		{"rtl\u202eoverride", "", `rtl\u202eoverride`},
		{"bad\xff", "", `bad\xff`},
	} {
		if got := escape(tt.in, tt.keep); got != tt.want {
			t.Errorf("escape(%q, %q) = %q, want %q", tt.in, tt.keep, got, tt.want)
		}
	}
	var b bytes.Buffer
	printf(&b, "%s|%-6s|%q|%d\n", "a\x1bb", "x\ty", "q\x1b", 7)
	if want := "a\\x1bb|x\\ty  |\"q\\x1b\"|7\n"; b.String() != want {
		t.Errorf("printf wrote %q, want %q", b.String(), want)
	}
	b.Reset()
	jsonWriter{&b}.Write([]byte("{\"n\":\"a\u009bb\x7f\"}"))
	if want := `{"n":"a\u009bb\u007f"}`; b.String() != want {
		t.Errorf("jsonWriter wrote %s, want %s", b.String(), want)
	}
}

// FuzzParsePrivate: a private value from the command line is a string, a
// number, a boolean or what JSON decodes, or an error; never a panic, and
// a JSON value keeps its meaning.
func FuzzParsePrivate(f *testing.F) {
	for _, s := range []string{"x", "7000", "1.5", "true", `["a"]`, `{"a":1}`, `"quoted"`, "[", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parsePrivate(s)
		if err != nil {
			return
		}
		switch v.(type) {
		case string, int64, float64, bool, []any, map[string]any, nil:
		default:
			t.Fatalf("%q: %T", s, v)
		}
	})
}
