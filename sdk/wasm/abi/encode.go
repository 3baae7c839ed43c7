package abi

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/resmon/resmon/sdk"
)

// The encodings below are what ABI.md calls "str", "strlist", "multi-sz",
// "value data", "value list" and "open payload". All integers are
// little-endian; nothing is aligned.

// Kinds of a property value in an open payload.
const (
	KindNull   = 'n' // no body
	KindString = 's' // str
	KindInt    = 'i' // i64
	KindFloat  = 'f' // f64 (IEEE 754 bits)
	KindBool   = 'b' // u8: 0 or 1
	KindList   = 'l' // u32 count, then count values
	KindTable  = 'm' // u32 count, then count × (str key, value)
)

// errMalformed is wrapped by every decoding error.
var errMalformed = fmt.Errorf("%w: malformed payload", sdk.ErrInvalidParameter)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// AppendStr appends s as a str: u32 length, then the bytes.
func AppendStr(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Reader decodes a payload without ever reading past its end: a short or
// inconsistent payload gives an error, not a panic.
type Reader struct {
	b   []byte
	err error
}

// NewReader reads b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err is the first decoding error, if any.
func (r *Reader) Err() error { return r.err }

// Len is the number of bytes not yet read.
func (r *Reader) Len() int { return len(r.b) }

func (r *Reader) fail(what string) {
	if r.err == nil {
		r.err = malformed("truncated %s (%d bytes left)", what, len(r.b))
	}
	r.b = nil
}

// Bytes reads n bytes (a view into the payload).
func (r *Reader) Bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

// U8 reads one byte.
func (r *Reader) U8(what string) byte {
	b := r.Bytes(1, what)
	if b == nil {
		return 0
	}
	return b[0]
}

// U32 reads a little-endian u32.
func (r *Reader) U32(what string) uint32 {
	b := r.Bytes(4, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// U64 reads a little-endian u64.
func (r *Reader) U64(what string) uint64 {
	b := r.Bytes(8, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// Str reads a str.
func (r *Reader) Str(what string) string {
	n := r.U32(what + " length")
	return string(r.Bytes(uint64(n), what))
}

// Count reads a u32 element count and checks it against the bytes left,
// given that each element takes at least min bytes.
func (r *Reader) Count(min int, what string) int {
	n := r.U32(what)
	if r.err == nil && uint64(n)*uint64(min) > uint64(len(r.b)) {
		r.err = malformed("%s %d exceeds the %d bytes left", what, n, len(r.b))
		r.b = nil
		return 0
	}
	return int(n)
}

// EncodeOpen encodes an Open request as an open payload: str id, str name,
// u32 count, then count × (str key, value). Keys are sorted. Property values
// may be nil, strings, booleans, integers, floats, time.Time (as an RFC 3339
// string), and slices, arrays and string-keyed maps of those.
func EncodeOpen(req sdk.OpenRequest) ([]byte, error) {
	b := AppendStr(nil, req.ID)
	b = AppendStr(b, req.Name)
	var err error
	if b, err = appendTable(b, reflect.ValueOf(req.Properties), 0, "properties"); err != nil {
		return nil, err
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("%w: the properties encode to %d bytes, over the %d-byte limit", sdk.ErrInvalidParameter, len(b), MaxPayload)
	}
	return b, nil
}

func appendTable(b []byte, m reflect.Value, depth int, path string) ([]byte, error) {
	if !m.IsValid() || m.IsNil() {
		return binary.LittleEndian.AppendUint32(b, 0), nil
	}
	if m.Type().Key().Kind() != reflect.String {
		return nil, fmt.Errorf("%w: property %s: table keys must be strings, not %s", sdk.ErrInvalidParameter, path, m.Type().Key())
	}
	keys := make([]string, 0, m.Len())
	for _, k := range m.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = AppendStr(b, k)
		var err error
		v := m.MapIndex(reflect.ValueOf(k).Convert(m.Type().Key()))
		if b, err = appendValue(b, v, depth+1, path+"."+k); err != nil {
			return nil, err
		}
	}
	return b, nil
}

var timeType = reflect.TypeOf(time.Time{})

func appendValue(b []byte, v reflect.Value, depth int, path string) ([]byte, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: property %s nests deeper than %d", sdk.ErrInvalidParameter, path, MaxDepth)
	}
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		if v.IsNil() {
			return append(b, KindNull), nil
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return append(b, KindNull), nil
	}
	if v.Type() == timeType {
		return AppendStr(append(b, KindString), v.Interface().(time.Time).Format(time.RFC3339Nano)), nil
	}
	switch v.Kind() {
	case reflect.String:
		return AppendStr(append(b, KindString), v.String()), nil
	case reflect.Bool:
		x := byte(0)
		if v.Bool() {
			x = 1
		}
		return append(b, KindBool, x), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return binary.LittleEndian.AppendUint64(append(b, KindInt), uint64(v.Int())), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if v.Uint() > math.MaxInt64 {
			return nil, fmt.Errorf("%w: property %s: %d does not fit a signed 64-bit integer", sdk.ErrInvalidParameter, path, v.Uint())
		}
		return binary.LittleEndian.AppendUint64(append(b, KindInt), v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return binary.LittleEndian.AppendUint64(append(b, KindFloat), math.Float64bits(v.Float())), nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return binary.LittleEndian.AppendUint32(append(b, KindList), 0), nil
		}
		b = binary.LittleEndian.AppendUint32(append(b, KindList), uint32(v.Len()))
		for i := range v.Len() {
			var err error
			if b, err = appendValue(b, v.Index(i), depth+1, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return nil, err
			}
		}
		return b, nil
	case reflect.Map:
		return appendTable(append(b, KindTable), v, depth, path)
	}
	return nil, fmt.Errorf("%w: property %s has type %s, which cannot cross the WASM boundary", sdk.ErrInvalidParameter, path, v.Type())
}

// DecodeOpen decodes an open payload. Integers decode as int64, floats as
// float64, lists as []any, tables as map[string]any.
func DecodeOpen(b []byte) (sdk.OpenRequest, error) {
	r := NewReader(b)
	req := sdk.OpenRequest{ID: r.Str("id"), Name: r.Str("name")}
	props, err := decodeTable(r, 0)
	if err != nil {
		return sdk.OpenRequest{}, err
	}
	if r.Len() != 0 {
		return sdk.OpenRequest{}, malformed("%d bytes after the properties", r.Len())
	}
	req.Properties = props
	return req, nil
}

func decodeTable(r *Reader, depth int) (map[string]any, error) {
	n := r.Count(5, "property count") // str key (4) + kind (1) at least
	m := make(map[string]any, n)
	for range n {
		k := r.Str("property name")
		v, err := decodeValue(r, depth+1)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, r.Err()
}

func decodeValue(r *Reader, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, malformed("properties nest deeper than %d", MaxDepth)
	}
	kind := r.U8("value kind")
	if err := r.Err(); err != nil {
		return nil, err
	}
	switch kind {
	case KindNull:
		return nil, nil
	case KindString:
		s := r.Str("string value")
		return s, r.Err()
	case KindInt:
		n := int64(r.U64("integer value"))
		return n, r.Err()
	case KindFloat:
		f := math.Float64frombits(r.U64("float value"))
		return f, r.Err()
	case KindBool:
		x := r.U8("bool value")
		if x > 1 {
			return nil, malformed("bool value %d", x)
		}
		return x == 1, r.Err()
	case KindList:
		n := r.Count(1, "list length")
		l := make([]any, 0, n)
		for range n {
			v, err := decodeValue(r, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, r.Err()
	case KindTable:
		return decodeTable(r, depth)
	}
	return nil, malformed("unknown value kind 0x%02x", kind)
}

// EncodeStrList encodes strings each followed by a NUL, nothing after the
// last (like /proc/PID/cmdline). A string containing NUL is refused.
func EncodeStrList(ss []string) ([]byte, error) {
	var b []byte
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("%w: %q contains a NUL byte", sdk.ErrInvalidParameter, s)
		}
		b = append(append(b, s...), 0)
	}
	return b, nil
}

// DecodeStrList decodes a strlist; a missing final NUL is tolerated.
func DecodeStrList(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return strings.Split(string(b), "\x00")
}

// EncodeMultiSZ encodes a REG_MULTI_SZ: each string followed by a NUL, and
// one more NUL at the end. Strings may contain neither NUL nor be empty
// (an empty string would end the list, as on Windows).
func EncodeMultiSZ(ss []string) ([]byte, error) {
	var b []byte
	for _, s := range ss {
		if s == "" {
			return nil, fmt.Errorf("%w: a REG_MULTI_SZ cannot hold an empty string", sdk.ErrInvalidParameter)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("%w: %q contains a NUL byte", sdk.ErrInvalidParameter, s)
		}
		b = append(append(b, s...), 0)
	}
	return append(b, 0), nil
}

// DecodeMultiSZ decodes a REG_MULTI_SZ, tolerating missing terminators; it
// stops at the first empty string.
func DecodeMultiSZ(b []byte) []string {
	out := []string{}
	for _, s := range DecodeStrList(b) {
		if s == "" {
			break
		}
		out = append(out, s)
	}
	return out
}

// EncodeValueData encodes the data of a registry value the way reg_set_value
// takes it and reg_get_value returns it: REG_SZ and REG_EXPAND_SZ as UTF-8
// bytes without a NUL, REG_MULTI_SZ as a multi-sz, REG_DWORD as 4 bytes,
// REG_QWORD as 8, REG_BINARY and REG_NONE as they are.
func EncodeValueData(v sdk.Value) ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	switch v.Type {
	case sdk.String, sdk.ExpandString:
		return []byte(v.Str), nil
	case sdk.MultiString:
		return EncodeMultiSZ(v.Strs)
	case sdk.DWord:
		return binary.LittleEndian.AppendUint32(nil, uint32(v.Num)), nil
	case sdk.QWord:
		return binary.LittleEndian.AppendUint64(nil, v.Num), nil
	}
	return append([]byte{}, v.Bytes...), nil
}

// DecodeValueData builds a value of type t from its data.
func DecodeValueData(name string, t sdk.ValueType, data []byte) (sdk.Value, error) {
	v := sdk.Value{Name: name, Type: t}
	switch t {
	case sdk.String, sdk.ExpandString:
		v.Str = strings.TrimRight(string(data), "\x00")
	case sdk.MultiString:
		v.Strs = DecodeMultiSZ(data)
	case sdk.DWord:
		if len(data) != 4 {
			return sdk.Value{}, fmt.Errorf("%w: REG_DWORD value %q has %d bytes of data, want 4", sdk.ErrInvalidParameter, name, len(data))
		}
		v.Num = uint64(binary.LittleEndian.Uint32(data))
	case sdk.QWord:
		if len(data) != 8 {
			return sdk.Value{}, fmt.Errorf("%w: REG_QWORD value %q has %d bytes of data, want 8", sdk.ErrInvalidParameter, name, len(data))
		}
		v.Num = binary.LittleEndian.Uint64(data)
	case sdk.Binary, sdk.None:
		v.Bytes = append([]byte{}, data...)
	default:
		return sdk.Value{}, fmt.Errorf("%w: value %q has unknown type %d", sdk.ErrInvalidParameter, name, uint32(t))
	}
	return v, nil
}

// EncodeValues encodes a value list: per value, str name, u32 type, str data.
func EncodeValues(vs []sdk.Value) ([]byte, error) {
	var b []byte
	for _, v := range vs {
		data, err := EncodeValueData(v)
		if err != nil {
			return nil, err
		}
		b = AppendStr(b, v.Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(v.Type))
		b = AppendStr(b, string(data))
	}
	return b, nil
}

// DecodeValues decodes a value list.
func DecodeValues(b []byte) ([]sdk.Value, error) {
	r := NewReader(b)
	var out []sdk.Value
	for r.Len() > 0 {
		name := r.Str("value name")
		t := sdk.ValueType(r.U32("value type"))
		data := r.Bytes(uint64(r.U32("value data length")), "value data")
		if err := r.Err(); err != nil {
			return nil, err
		}
		v, err := DecodeValueData(name, t, data)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// EncodeKV encodes log key-value pairs as a strlist of alternating keys and
// values, each formatted with fmt's %v and stripped of NUL bytes. A missing
// last value is encoded as "(MISSING)".
func EncodeKV(kv ...any) []byte {
	var b []byte
	for i := 0; i < len(kv); i++ {
		b = append(append(b, strings.ReplaceAll(fmt.Sprint(kv[i]), "\x00", "")...), 0)
	}
	if len(kv)%2 == 1 {
		b = append(append(b, "(MISSING)"...), 0)
	}
	return b
}

// DecodeKV decodes log key-value pairs; an odd trailing key gets "(MISSING)".
func DecodeKV(b []byte) []any {
	ss := DecodeStrList(b)
	if len(ss)%2 == 1 {
		ss = append(ss, "(MISSING)")
	}
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
