package registry

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

// FuzzParseReg checks that the .reg parser never panics and that whatever it
// accepts survives WriteReg and a second parse unchanged (in both encodings).
func FuzzParseReg(f *testing.F) {
	for _, name := range []string{"onyone.reg", "bad-hive.reg", "bad-dword.reg", "regedit4.reg"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Windows Registry Editor Version 5.00\n[HKLM\\A]\n@=hex(7):61,00,00,00,00,00\n\"b\"=hex(b):01,02,03,04,05,06,07,08\n[-HKLM\\A\\B]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseReg("fuzz.reg", data)
		if err != nil {
			return
		}
		for _, enc := range []RegEncoding{UTF8, UTF16} {
			var b bytes.Buffer
			if err := WriteReg(&b, keys, enc); err != nil {
				t.Fatalf("WriteReg: %v", err)
			}
			back, err := ParseReg("again.reg", b.Bytes())
			if err != nil {
				t.Fatalf("re-parsing what WriteReg wrote: %v\n%s", err, b.Bytes())
			}
			if !reflect.DeepEqual(stripLines(keys), stripLines(back)) {
				t.Fatalf("round trip differs:\n%+v\n%+v", keys, back)
			}
		}
	})
}

func stripLines(keys []RegKey) []RegKey {
	out := make([]RegKey, len(keys))
	for i, k := range keys {
		k.Line = 0
		vs := make([]RegValue, len(k.Values))
		for j, v := range k.Values {
			v.Line = 0
			vs[j] = v
		}
		if len(vs) == 0 {
			vs = nil
		}
		k.Values = vs
		out[i] = k
	}
	return out
}

// FuzzParsePath checks that ParsePath never panics, that its output is a
// fixed point, and that an accepted path names the same key in any case.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{`SOFTWARE\Onyone`, `\HKLM\a\`, `HKEY_LOCAL_MACHINE`, `a\\b`, "x\x00", `hklm\hklm\x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		again, err := ParsePath(p)
		if err != nil {
			t.Fatalf("ParsePath(%q) = %q, which does not parse: %v", s, p, err)
		}
		if again != p {
			t.Fatalf("ParsePath is not idempotent: %q → %q → %q", s, p, again)
		}
		if _, err := ParsePath(Fold(p)); err != nil {
			t.Fatalf("the folded form of %q does not parse: %v", p, err)
		}
	})
}
