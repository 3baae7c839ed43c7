package admin

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/resmon/resmon/sdk"
)

// Value is a registry value as the API carries it: a type name and data in
// the JSON shape that suits the type (see the package documentation).
type Value struct {
	Name string          `json:"name"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// Type names, in the order of the Windows type numbers.
var typeNames = []struct {
	t    sdk.ValueType
	name string
}{
	{sdk.None, "none"},
	{sdk.String, "string"},
	{sdk.ExpandString, "expand_string"},
	{sdk.Binary, "binary"},
	{sdk.DWord, "dword"},
	{sdk.MultiString, "multi_string"},
	{sdk.QWord, "qword"},
}

// TypeNames lists the accepted type names.
func TypeNames() []string {
	out := make([]string, len(typeNames))
	for i, tn := range typeNames {
		out[i] = tn.name
	}
	return out
}

// TypeName is the API name of t ("dword"), or "" for an unknown type.
func TypeName(t sdk.ValueType) string {
	for _, tn := range typeNames {
		if tn.t == t {
			return tn.name
		}
	}
	return ""
}

// ParseType reads a type name: the API names, their Windows spellings
// (REG_DWORD, REG_EXPAND_SZ…) and "sz", "expand_sz", "multi_sz", in any case,
// with '-' for '_'.
func ParseType(s string) (sdk.ValueType, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	n = strings.TrimPrefix(n, "reg_")
	switch n {
	case "sz":
		n = "string"
	case "expand_sz":
		n = "expand_string"
	case "multi_sz":
		n = "multi_string"
	}
	for _, tn := range typeNames {
		if tn.name == n {
			return tn.t, nil
		}
	}
	return 0, fmt.Errorf("unknown value type %q (want one of %s)", s, strings.Join(TypeNames(), ", "))
}

// FromSDK converts a registry value into its API form.
func FromSDK(v sdk.Value) Value {
	w := Value{Name: v.Name, Type: TypeName(v.Type)}
	switch v.Type {
	case sdk.String, sdk.ExpandString:
		w.Data, _ = json.Marshal(v.Str)
	case sdk.MultiString:
		strs := v.Strs
		if strs == nil {
			strs = []string{}
		}
		w.Data, _ = json.Marshal(strs)
	case sdk.DWord, sdk.QWord:
		w.Data = strconv.AppendUint(nil, v.Num, 10)
	default:
		w.Data, _ = json.Marshal(hex.EncodeToString(v.Bytes))
	}
	return w
}

// SDK converts the API form into a registry value. Errors name the value
// and say what is wrong with its type or data; the registry checks the rest
// (name rules, sizes, UTF-8) when the value is written.
func (w Value) SDK() (sdk.Value, error) {
	t, err := ParseType(w.Type)
	if err != nil {
		return sdk.Value{}, fmt.Errorf("value %q: %v", w.Name, err)
	}
	v := sdk.Value{Name: w.Name, Type: t}
	d := bytes.TrimSpace(w.Data)
	bad := func(format string, a ...any) (sdk.Value, error) {
		return sdk.Value{}, fmt.Errorf("value %q (%s): %s", w.Name, TypeName(t), fmt.Sprintf(format, a...))
	}
	switch t {
	case sdk.String, sdk.ExpandString:
		if len(d) == 0 || d[0] != '"' || json.Unmarshal(d, &v.Str) != nil {
			return bad("data must be a JSON string, got %s", short(d))
		}
	case sdk.MultiString:
		if len(d) == 0 || d[0] != '[' || json.Unmarshal(d, &v.Strs) != nil {
			return bad("data must be a JSON list of strings, got %s", short(d))
		}
		if len(v.Strs) == 0 {
			v.Strs = nil
		}
	case sdk.DWord, sdk.QWord:
		text := string(d)
		if len(d) > 0 && d[0] == '"' {
			if json.Unmarshal(d, &text) != nil {
				return bad("data must be a number, got %s", short(d))
			}
		}
		n, err := parseNumber(t, text)
		if err != nil {
			return bad("%v", err)
		}
		v.Num = n
	default:
		var s string
		if len(d) == 0 || d[0] != '"' || json.Unmarshal(d, &s) != nil {
			return bad("data must be a JSON string of hex digits, got %s", short(d))
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return bad("data %q is not hex: %v", shortStr(s), err)
		}
		if len(b) > 0 {
			v.Bytes = b
		}
	}
	return v, nil
}

// parseNumber reads a dword or qword written in decimal or as 0x hex.
func parseNumber(t sdk.ValueType, s string) (uint64, error) {
	s = strings.TrimSpace(s)
	base, digits := 10, s
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		base, digits = 16, h
	}
	bits := 64
	if t == sdk.DWord {
		bits = 32
	}
	n, err := strconv.ParseUint(digits, base, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%s does not fit %d bits", shortStr(s), bits)
		}
		return 0, fmt.Errorf("%s is not a decimal or 0x hex number", shortStr(s))
	}
	return n, nil
}

// ValueFromText builds a value from command-line text: one argument for
// string, expand_string, dword, qword (decimal or 0x hex), binary and none
// (hex digits, optionally separated by commas, colons or spaces, as regedit
// writes them); any number of arguments, one element each, for multi_string.
func ValueFromText(name, typ string, data []string) (sdk.Value, error) {
	t, err := ParseType(typ)
	if err != nil {
		return sdk.Value{}, fmt.Errorf("value %q: %v", name, err)
	}
	v := sdk.Value{Name: name, Type: t}
	for i, d := range data {
		if !utf8.ValidString(d) {
			return sdk.Value{}, fmt.Errorf("value %q (%s): data argument %d is not valid UTF-8", name, TypeName(t), i+1)
		}
	}
	if t == sdk.MultiString {
		if len(data) > 0 {
			v.Strs = append([]string(nil), data...)
		}
		return v, nil
	}
	if len(data) != 1 {
		return sdk.Value{}, fmt.Errorf("value %q (%s): expected one data argument, got %d", name, TypeName(t), len(data))
	}
	s := data[0]
	switch t {
	case sdk.String, sdk.ExpandString:
		v.Str = s
	case sdk.DWord, sdk.QWord:
		if v.Num, err = parseNumber(t, s); err != nil {
			return sdk.Value{}, fmt.Errorf("value %q (%s): %v", name, TypeName(t), err)
		}
	default:
		clean := strings.NewReplacer(",", "", ":", "", " ", "").Replace(s)
		b, err := hex.DecodeString(clean)
		if err != nil {
			return sdk.Value{}, fmt.Errorf("value %q (%s): data %q is not hex: %v", name, TypeName(t), shortStr(s), err)
		}
		if len(b) > 0 {
			v.Bytes = b
		}
	}
	return v, nil
}

// Text is the data of v as people read it: strings as they are, multi-string
// elements joined by " | ", numbers as 0x hex and decimal, bytes as hex.
func Text(v sdk.Value) string {
	switch v.Type {
	case sdk.String, sdk.ExpandString:
		return v.Str
	case sdk.MultiString:
		return strings.Join(v.Strs, " | ")
	case sdk.DWord:
		return fmt.Sprintf("0x%08x (%d)", v.Num, v.Num)
	case sdk.QWord:
		return fmt.Sprintf("0x%016x (%d)", v.Num, v.Num)
	}
	return hex.EncodeToString(v.Bytes)
}

func short(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	return shortStr(string(b))
}

func shortStr(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
