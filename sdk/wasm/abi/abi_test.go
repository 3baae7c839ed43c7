package abi_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm/abi"
)

func TestOpenPayloadRoundTrip(t *testing.T) {
	when := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	req := sdk.OpenRequest{ID: "00000000-0000-4000-8000-000000000001", Name: "Disk P", Properties: map[string]any{
		"s": "text", "i": 7, "i64": int64(-1 << 40), "u8": uint8(9), "f": 1.5, "b": true, "nil": nil,
		"l": []any{"a", int64(1), []string{"x"}}, "m": map[string]any{"k": false, "n": map[string]int{"z": 3}},
		"t": when,
	}}
	b, err := abi.EncodeOpen(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := abi.DecodeOpen(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"s": "text", "i": int64(7), "i64": int64(-1 << 40), "u8": int64(9), "f": 1.5, "b": true, "nil": nil,
		"l": []any{"a", int64(1), []any{"x"}}, "m": map[string]any{"k": false, "n": map[string]any{"z": int64(3)}},
		"t": "2026-11-23T09:00:00Z",
	}
	if got.ID != req.ID || got.Name != req.Name || !reflect.DeepEqual(got.Properties, want) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, want)
	}
	if _, err := abi.EncodeOpen(sdk.OpenRequest{Properties: map[string]any{"c": make(chan int)}}); !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Fatalf("channel property: %v", err)
	}
	for n := range len(b) {
		if _, err := abi.DecodeOpen(b[:n]); !errors.Is(err, sdk.ErrInvalidParameter) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := abi.DecodeOpen(append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestValueDataRoundTrip(t *testing.T) {
	for _, v := range []sdk.Value{
		sdk.StringValue("s", "hello"), {Name: "e", Type: sdk.ExpandString, Str: "%PATH%"},
		sdk.MultiStringValue("m", "a", "bc"), sdk.MultiStringValue("m0"),
		sdk.DWordValue("d", 0xFFFFFFFF), sdk.QWordValue("q", 1<<63), sdk.BinaryValue("b", []byte{0, 1, 2}),
		{Name: "n", Type: sdk.None, Bytes: []byte{}},
	} {
		data, err := abi.EncodeValueData(v)
		if err != nil {
			t.Fatal(v.Name, err)
		}
		got, err := abi.DecodeValueData(v.Name, v.Type, data)
		if err != nil {
			t.Fatal(v.Name, err)
		}
		if v.Type == sdk.MultiString && v.Strs == nil {
			v.Strs = []string{}
		}
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("%s: got %#v want %#v", v.Name, got, v)
		}
	}
	if _, err := abi.DecodeValueData("d", sdk.DWord, []byte{1, 2}); !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Fatalf("short dword: %v", err)
	}
	if _, err := abi.EncodeValueData(sdk.MultiStringValue("m", "a", "")); !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Fatalf("empty string in multi-sz: %v", err)
	}
	vs := []sdk.Value{sdk.StringValue("a", "x"), sdk.DWordValue("b", 2)}
	b, err := abi.EncodeValues(vs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := abi.DecodeValues(b)
	if err != nil || !reflect.DeepEqual(got, vs) {
		t.Fatalf("values: %#v %v", got, err)
	}
	if _, err := abi.DecodeValues(b[:len(b)-1]); err == nil {
		t.Fatal("truncated value list accepted")
	}
}

func TestStrListAndKV(t *testing.T) {
	b, err := abi.EncodeStrList([]string{"-c", "", "x"})
	if err != nil || string(b) != "-c\x00\x00x\x00" {
		t.Fatalf("%q %v", b, err)
	}
	if got := abi.DecodeStrList(b); !reflect.DeepEqual(got, []string{"-c", "", "x"}) {
		t.Fatalf("%q", got)
	}
	if got := abi.DecodeStrList([]byte("a\x00b")); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("missing final NUL: %q", got)
	}
	if _, err := abi.EncodeStrList([]string{"a\x00b"}); err == nil {
		t.Fatal("NUL inside accepted")
	}
	kv := abi.DecodeKV(abi.EncodeKV("port", 7000, "odd"))
	if !reflect.DeepEqual(kv, []any{"port", "7000", "odd", "(MISSING)"}) {
		t.Fatalf("%q", kv)
	}
}

func TestStatusesCarrySentinels(t *testing.T) {
	for _, err := range []error{
		sdk.ErrAlreadyExists, sdk.ErrNotFound, sdk.ErrInvalidFunction, sdk.ErrInvalidParameter,
		sdk.ErrAccessDenied, sdk.ErrFenced, context.Canceled, context.DeadlineExceeded,
	} {
		wrapped := fmt.Errorf("while doing it: %w", err)
		st, _ := abi.StatusOf(wrapped)
		back := abi.ErrorOf(st, wrapped.Error(), 0)
		if !errors.Is(back, err) || back.Error() != wrapped.Error() {
			t.Fatalf("%v → %s → %v", wrapped, st, back)
		}
	}
	st, needed := abi.StatusOf(fmt.Errorf("x: %w", &sdk.MoreDataError{Needed: 42}))
	var more *sdk.MoreDataError
	if back := abi.ErrorOf(st, "", needed); !errors.As(back, &more) || more.Needed != 42 {
		t.Fatalf("more data: %s %d %v", st, needed, back)
	}
	if st, _ := abi.StatusOf(errors.New("boom")); st != abi.StatusFailed {
		t.Fatalf("plain error: %s", st)
	}
	if abi.ErrorOf(abi.StatusOK, "", 0) != nil || abi.ErrorOf(5, "", 0) != nil {
		t.Fatal("non-negative statuses are not errors")
	}
	if e := abi.ErrorOf(-424242, "", 0); e.Error() != "status -424242" {
		t.Fatalf("unknown status: %v", e)
	}
}

func FuzzDecoders(f *testing.F) {
	b, _ := abi.EncodeOpen(sdk.OpenRequest{ID: "i", Name: "n", Properties: map[string]any{"a": []any{1, "x", map[string]any{"b": true}}}})
	f.Add(b)
	v, _ := abi.EncodeValues([]sdk.Value{sdk.DWordValue("d", 1), sdk.MultiStringValue("m", "a")})
	f.Add(v)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, err := abi.DecodeOpen(b); err == nil {
			if _, err := abi.EncodeOpen(req); err != nil {
				t.Fatalf("decoded payload does not re-encode: %v", err)
			}
		}
		_, _ = abi.DecodeValues(b)
		for _, typ := range []sdk.ValueType{sdk.String, sdk.MultiString, sdk.DWord, sdk.QWord, sdk.Binary, 99} {
			_, _ = abi.DecodeValueData("v", typ, b)
		}
		_ = abi.DecodeKV(b)
		_ = abi.DecodeMultiSZ(b)
	})
}

// The example of ABI.md §7.6, byte for byte.
func TestOpenPayloadDocExample(t *testing.T) {
	b, err := abi.EncodeOpen(sdk.OpenRequest{ID: "r1", Name: "Web", Properties: map[string]any{"Port": 80, "Log": true}})
	if err != nil {
		t.Fatal(err)
	}
	want := "020000007231" + "03000000576562" + "02000000" + "030000004c6f67" + "6201" + "04000000506f7274" + "695000000000000000"
	if got := fmt.Sprintf("%x", b); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// The signals resmon.h defines are exactly the ones a guest may send, with
// the same numbers.
func TestHeaderSignalsMatch(t *testing.T) {
	h, err := os.ReadFile("../resmon.h")
	if err != nil {
		t.Fatal(err)
	}
	defs := regexp.MustCompile(`(?m)^#define RESMON_SIG(\w+) (\d+)$`).FindAllStringSubmatch(string(h), -1)
	allowed := 0
	for sig := int32(0); sig < 65; sig++ {
		if abi.AllowedSignal(sig) {
			allowed++
		}
	}
	if len(defs) != allowed {
		t.Fatalf("resmon.h defines %d signals, the ABI allows %d", len(defs), allowed)
	}
	for _, d := range defs {
		n, _ := strconv.Atoi(d[2])
		if !abi.AllowedSignal(int32(n)) {
			t.Errorf("resmon.h: RESMON_SIG%s %d is not an allowed signal", d[1], n)
		}
	}
}

// The control codes resmon.h defines are the host-answered codes of sdk,
// each under its own name and number.
func TestHeaderControlCodesMatch(t *testing.T) {
	h, err := os.ReadFile("../resmon.h")
	if err != nil {
		t.Fatal(err)
	}
	defs := regexp.MustCompile(`(?m)^#define RESMON_(\w+_CHECKPOINTS?) 0x([0-9A-Fa-f]{8})u$`).FindAllStringSubmatch(string(h), -1)
	if len(defs) != 7 {
		t.Fatalf("resmon.h defines %d checkpoint control codes, want the 7 of sdk", len(defs))
	}
	for _, d := range defs {
		n, _ := strconv.ParseUint(d[2], 16, 32)
		code := sdk.ControlCode(n)
		if !code.IsCheckpointCode() || code.String() != d[1] {
			t.Errorf("resmon.h: RESMON_%s 0x%s is sdk's %s (host-answered: %v)", d[1], d[2], code, code.IsCheckpointCode())
		}
	}
}
