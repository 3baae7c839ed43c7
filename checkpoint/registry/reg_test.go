package registry

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/resmon/resmon/sdk"
)

func TestParseRegWindowsFile(t *testing.T) {
	data, err := os.ReadFile("testdata/onyone.reg")
	must(t, err)
	keys, err := ParseReg("onyone.reg", data)
	must(t, err)
	if len(keys) != 3 {
		t.Fatalf("got %d sections, want 3", len(keys))
	}
	k := keys[0]
	if k.Path != `SOFTWARE\Microsoft\onyone` || k.Line != 3 {
		t.Errorf("section 1 = %q at line %d", k.Path, k.Line)
	}
	want := []sdk.Value{
		sdk.StringValue("", "Onyone server"),
		sdk.StringValue("InstallDir", `C:\Program Files\Onyone`),
		sdk.StringValue("Quote", `say "hi"`),
		sdk.DWordValue("Port", 7000),
		sdk.QWordValue("MaxSize", 1<<40),
		{Name: "DataPath", Type: sdk.ExpandString, Str: `%ProgramData%\Onyone\data with a long name to wrap the line`},
		sdk.MultiStringValue("Peers", "node1", "node2", "nœud3"),
		sdk.BinaryValue("Secret", []byte{0xde, 0xad, 0xbe, 0xef}),
		{Name: "Nothing", Type: sdk.None},
	}
	var got []sdk.Value
	for _, v := range k.Values {
		got = append(got, v.Value)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values:\n got %+v\nwant %+v", got, want)
	}

	// What we write is what regedit wrote, byte for byte.
	var out bytes.Buffer
	must(t, WriteReg(&out, keys, UTF16))
	if !bytes.Equal(out.Bytes(), data) {
		t.Errorf("WriteReg does not reproduce testdata/onyone.reg:\n%s", decodeForTest(out.Bytes()))
	}
}

func decodeForTest(b []byte) string { s, _ := decodeRegText(b); return s }

func TestImportExport(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile("testdata/onyone.reg")
	must(t, err)
	r := openTest(t)
	must(t, r.Import(ctx, "onyone.reg", bytes.NewReader(data)))
	v, err := r.GetValue(ctx, `SOFTWARE\Microsoft\onyone\Clients`, "Count")
	if err != nil || v.Num != 2 {
		t.Fatalf("imported Count = %+v, %v", v, err)
	}
	var out bytes.Buffer
	must(t, r.Export(ctx, &out, `HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\onyone`))
	// The export holds onyone and its subkey, not the sibling onyone2.
	text := decodeForTest(out.Bytes())
	if strings.Contains(text, "onyone2") || !strings.Contains(text, `[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\onyone\Clients]`) {
		t.Errorf("export:\n%s", text)
	}
	other := openTest(t)
	must(t, other.Import(ctx, "export.reg", bytes.NewReader(out.Bytes())))
	a, _, _ := r.Snapshot(ctx, `SOFTWARE\Microsoft\onyone`)
	b, _, _ := other.Snapshot(ctx, `SOFTWARE\Microsoft\onyone`)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("export/import round trip differs:\n%+v\n%+v", a, b)
	}

	del := "Windows Registry Editor Version 5.00\n\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\onyone\\Clients]\n\n[HKLM\\SOFTWARE\\Microsoft\\onyone]\n\"Port\"=-\n\"Missing\"=-\n\n[-HKLM\\Not\\There]\n"
	must(t, other.Import(ctx, "del.reg", strings.NewReader(del)))
	if _, err := other.SubKeys(ctx, `SOFTWARE\Microsoft\onyone\Clients`); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("[-key] did not delete: %v", err)
	}
	if _, err := other.GetValue(ctx, `SOFTWARE\Microsoft\onyone`, "Port"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("=- did not delete: %v", err)
	}
}

func TestParseRegErrors(t *testing.T) {
	file := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		must(t, err)
		return b
	}
	const h = "Windows Registry Editor Version 5.00\n\n"
	tests := []struct {
		name string
		data []byte
		err  string
	}{
		{"bad-hive.reg", file("bad-hive.reg"), `bad-hive.reg:3: key "HKEY_CURRENT_USER\\Software\\Onyone" is not under HKEY_LOCAL_MACHINE`},
		{"bad-dword.reg", file("bad-dword.reg"), `bad-dword.reg:5: value "Port": dword "1b58zz" is not hexadecimal`},
		{"regedit4.reg", file("regedit4.reg"), `regedit4.reg:1: REGEDIT4 files`},
		{"empty.reg", nil, "empty.reg:1: empty file"},
		{"nohdr.reg", []byte("[HKLM\\X]\n"), "nohdr.reg:1: the first line is"},
		{"orphan.reg", []byte(h + "\"a\"=\"b\"\n"), "orphan.reg:3: value line before any [key]"},
		{"quote.reg", []byte(h + "[HKLM\\X]\n\"a=\"b\n"), `quote.reg:4: value "a=": expected '='`},
		{"hex5.reg", []byte(h + "[HKLM\\X]\n\"a\"=hex(5):00,00,00,01\n"), "hex5.reg:4: value \"a\": type hex(5)"},
		{"odd.reg", []byte(h + "[HKLM\\X]\n\"a\"=hex(2):41\n"), "odd number of bytes"},
		{"cont.reg", []byte(h + "[HKLM\\X]\n\"a\"=hex:00,\\"), "ends inside continued hex data"},
		{"limit.reg", []byte(h + "[HKLM\\" + strings.Repeat("k", 256) + "]\n"), "limit.reg:3: checkpoint: invalid registry path"},
		{"nul.reg", []byte(h + "[HKLM\\X]\n\"a\"=hex(1):41,00,00,00,42,00\n"), "continues after its NUL"},
		{"delval.reg", []byte(h + "[-HKLM\\X]\n\"a\"=\"b\"\n"), "delval.reg:4: value line in a section that deletes"},
		{"hivekey.reg", []byte(h + "[HKLM\\HKLM\\X]\n"), "directly below HKEY_LOCAL_MACHINE"},
	}
	for _, tc := range tests {
		_, err := ParseReg(tc.name, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v\nwant it to contain %s", tc.name, err, tc.err)
		}
		if !errors.Is(err, ErrBadRegFile) {
			t.Errorf("%s: error is not ErrBadRegFile", tc.name)
		}
	}
	// A bad file changes nothing.
	ctx := context.Background()
	r := openTest(t)
	bad := h + "[HKLM\\Good]\n\"a\"=dword:1\n[HKLM\\Bad]\n\"b\"=dword:xyz\n"
	if err := r.Import(ctx, "bad.reg", strings.NewReader(bad)); err == nil {
		t.Fatal("import of a bad file succeeded")
	}
	if subs, _ := r.SubKeys(ctx, ``); len(subs) != 0 {
		t.Errorf("a failed import left keys %q", subs)
	}
}

func TestWriteRegControlCharsUseHex(t *testing.T) {
	keys := []RegKey{{Path: `X`, Values: []RegValue{{Value: sdk.StringValue("a", "line1\r\nline2")}}}}
	var b bytes.Buffer
	must(t, WriteReg(&b, keys, UTF8))
	if !strings.Contains(b.String(), `"a"=hex(1):`) {
		t.Errorf("a string with line breaks should be written as hex(1):\n%s", b.String())
	}
	back, err := ParseReg("x.reg", b.Bytes())
	must(t, err)
	if !reflect.DeepEqual(back[0].Values[0].Value, keys[0].Values[0].Value) {
		t.Errorf("round trip: %+v", back[0].Values[0].Value)
	}
}
