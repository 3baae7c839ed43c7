package pluginproto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resmon/resmon/sdk"
)

// MaxDepth bounds the nesting of property values in both directions, so a
// hostile or broken peer cannot exhaust the stack of the other side.
const MaxDepth = 32

// MaxMessageSize is the largest gRPC message either side accepts.
const MaxMessageSize = 64 << 20

// Text returns s with every invalid UTF-8 sequence replaced by U+FFFD:
// proto3 strings must be valid UTF-8, and free text may be repaired.
func Text(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// ------------------------------------------------------------------ errors

// RemoteError is an error that crossed the boundary. Its message is the
// original error's; it unwraps to the sdk sentinel (or *sdk.MoreDataError,
// or context error) the original carried, so errors.Is and errors.As work.
type RemoteError struct {
	Msg   string
	Cause error // nil when the original carried no known sentinel
}

func (e *RemoteError) Error() string { return e.Msg }

// Unwrap returns the sentinel the original error carried.
func (e *RemoteError) Unwrap() error { return e.Cause }

var sentinels = []struct {
	kind Error_Kind
	err  error
}{
	{Error_ALREADY_EXISTS, sdk.ErrAlreadyExists},
	{Error_NOT_FOUND, sdk.ErrNotFound},
	{Error_MORE_DATA, sdk.ErrMoreData},
	{Error_INVALID_FUNCTION, sdk.ErrInvalidFunction},
	{Error_INVALID_PARAMETER, sdk.ErrInvalidParameter},
	{Error_ACCESS_DENIED, sdk.ErrAccessDenied},
	{Error_FENCED, sdk.ErrFenced},
	{Error_CANCELED, context.Canceled},
	{Error_DEADLINE_EXCEEDED, context.DeadlineExceeded},
}

// EncodeError turns err into its wire form; nil stays nil.
func EncodeError(err error) *Error {
	if err == nil {
		return nil
	}
	e := &Error{Message: Text(err.Error()), Class: Error_Class(sdk.ClassOf(err))}
	if more, ok := errors.AsType[*sdk.MoreDataError](err); ok {
		e.Kind, e.Needed = Error_MORE_DATA, int64(more.Needed)
		return e
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			e.Kind = s.kind
			break
		}
	}
	return e
}

// DecodeError turns a wire error back into a Go error; nil stays nil. An
// unknown kind (from a newer peer) decodes as a plain error, an unknown
// class as sdk.ClassRestart. A class other than restart comes back as an
// *sdk.FailureError around the *RemoteError.
func DecodeError(e *Error) error {
	if e == nil {
		return nil
	}
	r := decodeRemote(e)
	switch c := sdk.FailureClass(e.GetClass()); c {
	case sdk.ClassBanNode, sdk.ClassFailEverywhere:
		return &sdk.FailureError{Class: c, Err: r}
	}
	return r
}

func decodeRemote(e *Error) *RemoteError {
	r := &RemoteError{Msg: e.GetMessage()}
	switch k := e.GetKind(); k {
	case Error_UNKNOWN:
	case Error_MORE_DATA:
		needed := e.GetNeeded()
		r.Cause = &sdk.MoreDataError{Needed: int(max(0, min(needed, math.MaxInt32)))}
	default:
		for _, s := range sentinels {
			if s.kind == k {
				r.Cause = s.err
			}
		}
	}
	if r.Msg == "" {
		if r.Cause != nil {
			r.Msg = r.Cause.Error()
		} else {
			r.Msg = "unknown error"
		}
	}
	return r
}

// ---------------------------------------------------------------- values

// EncodeMap converts private properties to their wire form. Keys are
// sorted, so equal maps encode to equal bytes.
func EncodeMap(m map[string]any) (*Map, error) {
	return encodeMap(m, "", 0)
}

func encodeMap(m map[string]any, path string, depth int) (*Map, error) {
	if m == nil {
		return nil, nil
	}
	out := &Map{Entries: make([]*Entry, 0, len(m))}
	for k, v := range m {
		pv, err := encodeValue(v, keyPath(path, k), depth+1)
		if err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, &Entry{Key: []byte(k), Value: pv})
	}
	slices.SortFunc(out.Entries, func(a, b *Entry) int { return bytes.Compare(a.Key, b.Key) })
	return out, nil
}

// EncodeValue converts one value: nil, strings, booleans, integers,
// floats, []byte, time.Time, and slices and string-keyed maps of those.
func EncodeValue(v any) (*Value, error) { return encodeValue(v, "", 0) }

func keyPath(path, k string) string {
	return path + "." + strconv.Quote(k)
}

func encodeValue(v any, path string, depth int) (*Value, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("property %s: nested deeper than %d levels", pathName(path), MaxDepth)
	}
	switch x := v.(type) {
	case nil:
		return &Value{Kind: &Value_Null{Null: true}}, nil
	case string:
		return &Value{Kind: &Value_Str{Str: []byte(x)}}, nil
	case bool:
		return &Value{Kind: &Value_Bool{Bool: x}}, nil
	case int:
		return &Value{Kind: &Value_Int{Int: int64(x)}}, nil
	case int64:
		return &Value{Kind: &Value_Int{Int: x}}, nil
	case float64:
		return &Value{Kind: &Value_Float{Float: x}}, nil
	case []byte:
		return &Value{Kind: &Value_Bytes{Bytes: bytes.Clone(x)}}, nil
	case time.Time:
		return &Value{Kind: &Value_Time{Time: x.Format(time.RFC3339Nano)}}, nil
	case map[string]any:
		m, err := encodeMap(x, path, depth)
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = &Map{}
		}
		return &Value{Kind: &Value_Map{Map: m}}, nil
	case []any:
		l := &List{Items: make([]*Value, len(x))}
		for i, e := range x {
			pv, err := encodeValue(e, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			l.Items[i] = pv
		}
		return &Value{Kind: &Value_List{List: l}}, nil
	}
	return encodeReflect(reflect.ValueOf(v), path, depth)
}

// encodeReflect handles named and typed variants: int32, uint16, []string,
// []map[string]any, map[string]string, a named string type...
func encodeReflect(rv reflect.Value, path string, depth int) (*Value, error) {
	switch rv.Kind() {
	case reflect.String:
		return &Value{Kind: &Value_Str{Str: []byte(rv.String())}}, nil
	case reflect.Bool:
		return &Value{Kind: &Value_Bool{Bool: rv.Bool()}}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Value{Kind: &Value_Int{Int: rv.Int()}}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &Value{Kind: &Value_Uint{Uint: rv.Uint()}}, nil
	case reflect.Float32, reflect.Float64:
		return &Value{Kind: &Value_Float{Float: rv.Float()}}, nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return &Value{Kind: &Value_Bytes{Bytes: bytes.Clone(rv.Bytes())}}, nil
		}
		l := &List{Items: make([]*Value, rv.Len())}
		for i := range rv.Len() {
			pv, err := encodeValue(rv.Index(i).Interface(), path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			l.Items[i] = pv
		}
		return &Value{Kind: &Value_List{List: l}}, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		m := &Map{Entries: make([]*Entry, 0, rv.Len())}
		it := rv.MapRange()
		for it.Next() {
			k := it.Key().String()
			pv, err := encodeValue(it.Value().Interface(), keyPath(path, k), depth+1)
			if err != nil {
				return nil, err
			}
			m.Entries = append(m.Entries, &Entry{Key: []byte(k), Value: pv})
		}
		slices.SortFunc(m.Entries, func(a, b *Entry) int { return bytes.Compare(a.Key, b.Key) })
		return &Value{Kind: &Value_Map{Map: m}}, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return &Value{Kind: &Value_Null{Null: true}}, nil
		}
		return encodeValue(rv.Elem().Interface(), path, depth+1)
	}
	if !rv.IsValid() {
		return &Value{Kind: &Value_Null{Null: true}}, nil
	}
	return nil, fmt.Errorf("property %s: unsupported type %s", pathName(path), rv.Type())
}

func pathName(path string) string {
	if path == "" {
		return "value"
	}
	return strings.TrimPrefix(path, ".")
}

// DecodeMap converts wire properties back: integers come back as int64 or
// uint64, floats as float64, lists as []any and maps as map[string]any.
// A missing map decodes as nil.
func DecodeMap(m *Map) (map[string]any, error) { return decodeMap(m, "", 0) }

func decodeMap(m *Map, path string, depth int) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]any, len(m.GetEntries()))
	for _, e := range m.GetEntries() {
		k := string(e.GetKey())
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("property %s: duplicate key", pathName(keyPath(path, k)))
		}
		v, err := decodeValue(e.GetValue(), keyPath(path, k), depth+1)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// DecodeValue converts one wire value back (see DecodeMap).
func DecodeValue(v *Value) (any, error) { return decodeValue(v, "", 0) }

func decodeValue(v *Value, path string, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("property %s: nested deeper than %d levels", pathName(path), MaxDepth)
	}
	switch k := v.GetKind().(type) {
	case *Value_Null:
		return nil, nil
	case *Value_Str:
		return string(k.Str), nil
	case *Value_Int:
		return k.Int, nil
	case *Value_Uint:
		return k.Uint, nil
	case *Value_Float:
		return k.Float, nil
	case *Value_Bool:
		return k.Bool, nil
	case *Value_Bytes:
		if k.Bytes == nil {
			return []byte{}, nil
		}
		return k.Bytes, nil
	case *Value_Time:
		t, err := time.Parse(time.RFC3339Nano, k.Time)
		if err != nil {
			return nil, fmt.Errorf("property %s: bad time: %w", pathName(path), err)
		}
		return t, nil
	case *Value_List:
		items := k.List.GetItems()
		out := make([]any, len(items))
		for i, e := range items {
			d, err := decodeValue(e, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	case *Value_Map:
		m, err := decodeMap(k.Map, path, depth)
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = map[string]any{}
		}
		return m, nil
	}
	return nil, fmt.Errorf("property %s: value of no known kind", pathName(path))
}

// ------------------------------------------------------------ log fields

// EncodeLogFields converts sdk.Host.Log's alternating keys and values.
// Logging never fails: an error value is sent as its message, a
// fmt.Stringer as its string, anything else the converter cannot carry as
// fmt's %v rendering; a value without a key gets the key EXTRA_VALUE_AT_END.
func EncodeLogFields(kv []any) []*LogField {
	if len(kv) == 0 {
		return nil
	}
	out := make([]*LogField, 0, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		var key string
		var val any
		if i+1 < len(kv) {
			key, val = fmt.Sprint(kv[i]), kv[i+1]
			if s, ok := kv[i].(string); ok {
				key = s
			}
		} else {
			key, val = "EXTRA_VALUE_AT_END", kv[i]
		}
		switch x := val.(type) {
		case error:
			val = x.Error()
		case time.Time:
		case fmt.Stringer:
			val = x.String()
		}
		pv, err := EncodeValue(val)
		if err != nil {
			pv = &Value{Kind: &Value_Str{Str: []byte(fmt.Sprintf("%v", val))}}
		}
		out = append(out, &LogField{Key: Text(key), Value: pv})
	}
	return out
}

// DecodeLogFields converts log fields back to alternating keys and values.
// A value that does not decode is replaced by a description of the problem.
func DecodeLogFields(fields []*LogField) []any {
	if len(fields) == 0 {
		return nil
	}
	out := make([]any, 0, 2*len(fields))
	for _, f := range fields {
		v, err := DecodeValue(f.GetValue())
		if err != nil {
			v = "<undecodable: " + err.Error() + ">"
		}
		out = append(out, f.GetKey(), v)
	}
	return out
}

// ------------------------------------------------------- registry values

// EncodeRegValue converts a registry value to its wire form.
func EncodeRegValue(v sdk.Value) *RegValue {
	out := &RegValue{
		Name: []byte(v.Name), Type: uint32(v.Type), Str: []byte(v.Str), Num: v.Num,
		Bytes: v.Bytes, HasStrs: v.Strs != nil, HasBytes: v.Bytes != nil,
	}
	if len(v.Strs) > 0 {
		out.Strs = make([][]byte, len(v.Strs))
		for i, s := range v.Strs {
			out.Strs[i] = []byte(s)
		}
	}
	return out
}

// DecodeRegValue converts a wire registry value back. It does not validate
// the value: the registry that receives it does (sdk.Value.Validate).
func DecodeRegValue(r *RegValue) sdk.Value {
	v := sdk.Value{
		Name: string(r.GetName()), Type: sdk.ValueType(r.GetType()),
		Str: string(r.GetStr()), Num: r.GetNum(),
	}
	if r.GetHasStrs() || len(r.GetStrs()) > 0 {
		v.Strs = make([]string, len(r.GetStrs()))
		for i, s := range r.GetStrs() {
			v.Strs[i] = string(s)
		}
	}
	if r.GetHasBytes() || len(r.GetBytes()) > 0 {
		v.Bytes = append([]byte{}, r.GetBytes()...)
	}
	return v
}

// EncodeRegValues converts a list of registry values.
func EncodeRegValues(vs []sdk.Value) []*RegValue {
	out := make([]*RegValue, len(vs))
	for i, v := range vs {
		out[i] = EncodeRegValue(v)
	}
	return out
}

// DecodeRegValues converts a list of wire registry values back.
func DecodeRegValues(rs []*RegValue) []sdk.Value {
	out := make([]sdk.Value, len(rs))
	for i, r := range rs {
		out[i] = DecodeRegValue(r)
	}
	return out
}

// Strings converts wire byte strings to Go strings.
func Strings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// Bytes converts Go strings to wire byte strings.
func Bytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// EncodePropertySpecs writes a type's description of its private
// properties for the wire.
func EncodePropertySpecs(specs []sdk.PropertySpec) ([]*PropertySpec, error) {
	out := make([]*PropertySpec, 0, len(specs))
	for _, s := range specs {
		p := &PropertySpec{Name: s.Name, Type: s.Type, Required: s.Required, Description: s.Description}
		if s.Default != nil {
			v, err := EncodeValue(s.Default)
			if err != nil {
				return nil, fmt.Errorf("property %q: default: %w", s.Name, err)
			}
			p.Default = v
		}
		out = append(out, p)
	}
	return out, nil
}

// DecodePropertySpecs reads what EncodePropertySpecs wrote.
func DecodePropertySpecs(ps []*PropertySpec) ([]sdk.PropertySpec, error) {
	out := make([]sdk.PropertySpec, 0, len(ps))
	for _, p := range ps {
		s := sdk.PropertySpec{Name: p.GetName(), Type: p.GetType(), Required: p.GetRequired(), Description: p.GetDescription()}
		if p.GetDefault() != nil {
			v, err := DecodeValue(p.GetDefault())
			if err != nil {
				return nil, fmt.Errorf("property %q: default: %w", s.Name, err)
			}
			s.Default = v
		}
		out = append(out, s)
	}
	return out, nil
}
