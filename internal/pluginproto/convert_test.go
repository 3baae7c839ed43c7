package pluginproto

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/resmon/resmon/sdk"
)

// wire sends m through protobuf bytes, as the transport does.
func wire[M proto.Message](t testing.TB, m M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

type port uint16
type label string

func TestPropertiesRoundTrip(t *testing.T) {
	when := time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("", 3600))
	in := map[string]any{
		"str": "héllo\x00\xff", "int": 7, "neg": int64(math.MinInt64), "i32": int32(-5),
		"u64": uint64(math.MaxUint64), "port": port(8080), "f": 1.5, "f32": float32(0.25),
		"yes": true, "nil": nil, "bytes": []byte{0, 1, 2}, "empty": []byte{}, "when": when,
		"list": []any{1, "two", []any{3.0}}, "strs": []string{"a", "b"}, "label": label("x"),
		"tables": []map[string]any{{"a": 1}}, "smap": map[string]string{"k": "v"},
		"nested": map[string]any{"deeper": map[string]any{"x": "y"}}, "emptymap": map[string]any{},
	}
	m, err := EncodeMap(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMap(wire(t, m))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"str": "héllo\x00\xff", "int": int64(7), "neg": int64(math.MinInt64), "i32": int64(-5),
		"u64": uint64(math.MaxUint64), "port": uint64(8080), "f": 1.5, "f32": 0.25,
		"yes": true, "nil": nil, "bytes": []byte{0, 1, 2}, "empty": []byte{}, "when": when,
		"list": []any{int64(1), "two", []any{3.0}}, "strs": []any{"a", "b"}, "label": "x",
		"tables": []any{map[string]any{"a": int64(1)}}, "smap": map[string]any{"k": "v"},
		"nested": map[string]any{"deeper": map[string]any{"x": "y"}}, "emptymap": map[string]any{},
	}
	gotWhen, _ := got["when"].(time.Time)
	if !gotWhen.Equal(when) {
		t.Fatalf("time: %v, want %v", gotWhen, when)
	}
	got["when"], want["when"] = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, want)
	}
	if m, err := DecodeMap(nil); m != nil || err != nil {
		t.Fatalf("nil map: %v %v", m, err)
	}
}

func TestPropertiesRefused(t *testing.T) {
	deep := map[string]any{}
	cur := deep
	for range MaxDepth + 2 {
		next := map[string]any{}
		cur["d"] = next
		cur = next
	}
	for name, in := range map[string]map[string]any{
		"chan":   {"a": map[string]any{"b": []any{1, make(chan int)}}},
		"func":   {"f": func() {}},
		"intmap": {"m": map[int]string{1: "x"}},
		"deep":   deep,
	} {
		_, err := EncodeMap(in)
		if err == nil {
			t.Fatalf("%s: encoded", name)
		}
		if name == "chan" && !strings.Contains(err.Error(), `"a"."b"[1]`) {
			t.Fatalf("error does not name the path: %v", err)
		}
	}
	dup := &Map{Entries: []*Entry{{Key: []byte("k"), Value: &Value{Kind: &Value_Bool{}}}, {Key: []byte("k"), Value: &Value{Kind: &Value_Bool{}}}}}
	if _, err := DecodeMap(dup); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate key: %v", err)
	}
	if _, err := DecodeMap(&Map{Entries: []*Entry{{Key: []byte("k")}}}); err == nil {
		t.Fatal("value of no kind decoded")
	}
	if _, err := DecodeValue(&Value{Kind: &Value_Time{Time: "yesterday"}}); err == nil {
		t.Fatal("bad time decoded")
	}
}

func TestErrorsRoundTrip(t *testing.T) {
	for _, sentinel := range []error{
		sdk.ErrAlreadyExists, sdk.ErrNotFound, sdk.ErrInvalidFunction, sdk.ErrInvalidParameter,
		sdk.ErrAccessDenied, sdk.ErrFenced, context.Canceled, context.DeadlineExceeded,
	} {
		orig := fmt.Errorf("checkpoint %q: %w", `SOFTWARE\x`, sentinel)
		got := DecodeError(wire(t, EncodeError(orig)))
		if !errors.Is(got, sentinel) || got.Error() != orig.Error() {
			t.Fatalf("%v: got %v", sentinel, got)
		}
	}
	more := fmt.Errorf("listing: %w", &sdk.MoreDataError{Needed: 1234})
	got := DecodeError(wire(t, EncodeError(more)))
	var md *sdk.MoreDataError
	if !errors.As(got, &md) || md.Needed != 1234 || !errors.Is(got, sdk.ErrMoreData) || got.Error() != more.Error() {
		t.Fatalf("more data: %v", got)
	}
	plain := DecodeError(wire(t, EncodeError(errors.New("bad \xff"))))
	if plain.Error() != "bad \uFFFD" || errors.Unwrap(plain) != nil {
		t.Fatalf("plain: %q", plain)
	}
	if EncodeError(nil) != nil || DecodeError(nil) != nil {
		t.Fatal("nil")
	}
	if e := DecodeError(&Error{Kind: 99}); e == nil || e.Error() == "" {
		t.Fatalf("unknown kind: %v", e)
	}
}

// A failure class survives the wire next to the sentinel it wraps, so the
// monitor decides on it with errors.As, never on the message.
func TestFailureClassRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want sdk.FailureClass
	}{
		{"Plain", errors.New("monitor: generic error (1)"), sdk.ClassRestart},
		{"BanNode", sdk.BanNode(fmt.Errorf("start: %w", sdk.ErrAccessDenied)), sdk.ClassBanNode},
		{"FailEverywhere", fmt.Errorf("Online: %w", sdk.FailEverywhere(errors.New("not configured (6)"))), sdk.ClassFailEverywhere},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := DecodeError(wire(t, EncodeError(c.err)))
			if sdk.ClassOf(got) != c.want || got.Error() != c.err.Error() {
				t.Fatalf("got %v of class %v, want %q of class %v", got, sdk.ClassOf(got), c.err, c.want)
			}
			if errors.Is(c.err, sdk.ErrAccessDenied) != errors.Is(got, sdk.ErrAccessDenied) {
				t.Fatalf("the sentinel was lost: %v", got)
			}
		})
	}
	if e := DecodeError(&Error{Message: "from a newer peer", Class: 42}); sdk.ClassOf(e) != sdk.ClassRestart {
		t.Fatalf("unknown class decoded as %v", sdk.ClassOf(e))
	}
}

func TestRegValueRoundTrip(t *testing.T) {
	for _, v := range []sdk.Value{
		sdk.StringValue("s", "x\xff"), sdk.DWordValue("d", 7), sdk.QWordValue("q", math.MaxUint64),
		sdk.MultiStringValue("m", "a", "", "b"), sdk.MultiStringValue("m0"), {Name: "m1", Type: sdk.MultiString, Strs: []string{}},
		sdk.BinaryValue("b", []byte{0, 9}), {Name: "b0", Type: sdk.Binary, Bytes: []byte{}}, {Name: "n", Type: sdk.None},
		{Name: "bad", Type: sdk.String, Strs: []string{}}, // invalid, and stays invalid
	} {
		got := DecodeRegValue(wire(t, EncodeRegValue(v)))
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("got %#v, want %#v", got, v)
		}
	}
}

func TestLogFields(t *testing.T) {
	got := DecodeLogFields(EncodeLogFields([]any{"err", errors.New("boom"), "d", time.Second, 3, "x", "ch", make(chan int), "odd"}))
	want := []any{"err", "boom", "d", "1s", "3", "x", "ch", got[7], "EXTRA_VALUE_AT_END", "odd"}
	if s, ok := got[7].(string); !ok || !strings.HasPrefix(s, "0x") {
		t.Fatalf("unencodable value: %#v", got[7])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
}

// FuzzDecodeProperties feeds the host's decoder arbitrary wire bytes: it
// must never panic, and what it accepts must encode back to itself.
func FuzzDecodeProperties(f *testing.F) {
	seed, _ := EncodeMap(map[string]any{"a": []any{1, "x", map[string]any{"t": time.Unix(1, 2).UTC()}}, "b": nil, "c": uint64(3), "d": -1.5, "e": []byte("z")})
	b, _ := proto.Marshal(seed)
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Map
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		props, err := DecodeMap(&m)
		if err != nil {
			return
		}
		again, err := EncodeMap(props)
		if err != nil {
			t.Fatalf("decoded properties do not encode: %v", err)
		}
		props2, err := DecodeMap(wire(t, again))
		if err != nil {
			t.Fatalf("re-encoded properties do not decode: %v", err)
		}
		third, _ := EncodeMap(props2)
		if !proto.Equal(again, third) {
			t.Fatalf("not stable:\n%v\n%v", again, third)
		}
	})
}

// FuzzProperties builds property trees from fuzz input and checks the full
// encode → bytes → decode round trip.
func FuzzProperties(f *testing.F) {
	f.Add([]byte("\x01\x02abc\x05\x06\x00\x07"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data}
		in := map[string]any{}
		for len(g.data) > 0 && len(in) < 16 {
			v, want := g.value(0)
			in[g.str()] = pair{v, want}
		}
		props, wants := map[string]any{}, map[string]any{}
		for k, p := range in {
			props[k], wants[k] = p.(pair).v, p.(pair).want
		}
		m, err := EncodeMap(props)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeMap(wire(t, m))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, wants) {
			t.Fatalf("got %#v\nwant %#v", got, wants)
		}
	})
}

type pair struct{ v, want any }

// gen draws values (and what they decode to) from fuzz bytes.
type gen struct{ data []byte }

func (g *gen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *gen) str() string {
	n := int(g.byte() % 8)
	n = min(n, len(g.data))
	s := string(g.data[:n])
	g.data = g.data[n:]
	return s
}

func (g *gen) value(depth int) (any, any) {
	k := g.byte() % 10
	if depth > 4 && k >= 7 {
		k = 0
	}
	switch k {
	case 0:
		s := g.str()
		return s, s
	case 1:
		n := int64(g.byte())<<56 | int64(g.byte())
		return n, n
	case 2:
		n := uint32(g.byte()) << 24
		return n, uint64(n)
	case 3:
		f := float64(int8(g.byte())) / 4
		return f, f
	case 4:
		b := g.byte()%2 == 0
		return b, b
	case 5:
		b := []byte(g.str())
		return b, b
	case 6:
		return nil, nil
	case 7:
		n := int(g.byte() % 4)
		l, w := make([]any, n), make([]any, n)
		for i := range n {
			l[i], w[i] = g.value(depth + 1)
		}
		return l, w
	case 8:
		n := int(g.byte() % 4)
		m, w := map[string]any{}, map[string]any{}
		for range n {
			k := g.str()
			m[k], w[k] = g.value(depth + 1)
		}
		return m, w
	default:
		n := int(g.byte() % 3)
		l, w := make([]string, n), make([]any, n)
		for i := range n {
			l[i] = g.str()
			w[i] = l[i]
		}
		return l, w
	}
}

// FuzzDecodeError: whatever a plugin sends as an error decodes without
// panicking, keeps its message (or gets one) and maps known kinds to sdk
// sentinels.
func FuzzDecodeError(f *testing.F) {
	f.Add(int32(3), "more data", int64(10))
	f.Add(int32(2), "", int64(-5))
	f.Add(int32(77), "future", int64(0))
	f.Fuzz(func(t *testing.T, kind int32, msg string, needed int64) {
		err := DecodeError(&Error{Kind: Error_Kind(kind), Message: msg, Needed: needed})
		if err == nil || err.Error() == "" {
			t.Fatalf("decoded to %v", err)
		}
		if msg != "" && err.Error() != msg {
			t.Fatalf("message %q became %q", msg, err.Error())
		}
		switch Error_Kind(kind) {
		case Error_MORE_DATA:
			var md *sdk.MoreDataError
			if !errors.As(err, &md) || md.Needed < 0 {
				t.Fatalf("more data: %#v", err)
			}
		case Error_NOT_FOUND:
			if !errors.Is(err, sdk.ErrNotFound) {
				t.Fatal("not found")
			}
		}
		back := EncodeError(err)
		if back.Kind != Error_Kind(kind) && Error_Kind(kind) >= Error_ALREADY_EXISTS && Error_Kind(kind) <= Error_DEADLINE_EXCEEDED {
			t.Fatalf("kind %v became %v", Error_Kind(kind), back.Kind)
		}
	})
}

// FuzzDecodeRegValue: registry values from a plugin decode without
// panicking and survive a second trip unchanged.
func FuzzDecodeRegValue(f *testing.F) {
	b, _ := proto.Marshal(EncodeRegValue(sdk.MultiStringValue("m", "a", "b")))
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r RegValue
		if proto.Unmarshal(data, &r) != nil {
			return
		}
		v := DecodeRegValue(&r)
		_ = v.Validate()
		if again := DecodeRegValue(wire(t, EncodeRegValue(v))); !reflect.DeepEqual(again, v) {
			t.Fatalf("got %#v, want %#v", again, v)
		}
	})
}

// FuzzDecodeLogFields: log lines from a plugin never fail to decode.
func FuzzDecodeLogFields(f *testing.F) {
	b, _ := proto.Marshal(&LogRequest{Fields: EncodeLogFields([]any{"a", 1, "b", []any{"x"}})})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r LogRequest
		if proto.Unmarshal(data, &r) != nil {
			return
		}
		if kv := DecodeLogFields(r.GetFields()); len(kv) != 2*len(r.GetFields()) {
			t.Fatalf("%d fields gave %d values", len(r.GetFields()), len(kv))
		}
	})
}
