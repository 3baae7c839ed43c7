package registry

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/resmon/resmon/sdk"
)

// Key is a snapshot of one registry key and everything below it, as
// Snapshot returns it and Replace takes it. Values and SubKeys are sorted by
// the Fold of their names, which makes a tree's JSON encoding canonical: two
// snapshots of equal subtrees encode to equal bytes.
type Key struct {
	Name    string      // the key's own name, case preserved ("" for the root)
	Values  []sdk.Value // sorted by Fold(Name), no two equal
	SubKeys []*Key      // sorted by Fold(Name), no two equal
}

// Count returns the number of keys (k included) and values in the tree.
func (k *Key) Count() (keys, values int) {
	if k == nil {
		return 0, 0
	}
	keys, values = 1, len(k.Values)
	for _, s := range k.SubKeys {
		a, b := s.Count()
		keys += a
		values += b
	}
	return keys, values
}

// Value returns the value of the tree named name at the relative path rel
// ("" for k itself), or false.
func (k *Key) Value(rel, name string) (sdk.Value, bool) {
	parts, err := splitPath(rel)
	if err != nil || k == nil {
		return sdk.Value{}, false
	}
	cur := k
	for _, p := range parts {
		cur = cur.subKey(p)
		if cur == nil {
			return sdk.Value{}, false
		}
	}
	f := Fold(name)
	i := sort.Search(len(cur.Values), func(i int) bool { return Fold(cur.Values[i].Name) >= f })
	if i < len(cur.Values) && Fold(cur.Values[i].Name) == f {
		return cur.Values[i], true
	}
	return sdk.Value{}, false
}

func (k *Key) subKey(name string) *Key {
	f := Fold(name)
	i := sort.Search(len(k.SubKeys), func(i int) bool { return Fold(k.SubKeys[i].Name) >= f })
	if i < len(k.SubKeys) && Fold(k.SubKeys[i].Name) == f {
		return k.SubKeys[i]
	}
	return nil
}

// Validate checks a tree that is to be stored below a key of depth depth
// (the number of keys above the tree's root): names, values, limits, order
// and uniqueness. A tree from a checkpoint or a file is validated before it
// touches the registry.
func (k *Key) Validate(depth int) error {
	return k.validate(depth, "")
}

func (k *Key) validate(depth int, at string) error {
	if k == nil {
		return fmt.Errorf("%w: nil key below %q", ErrInvalidPath, at)
	}
	path := k.Name
	if at != "" {
		path = at + `\` + k.Name
	}
	if depth > 0 || k.Name != "" {
		if err := checkKeyName(k.Name); err != nil {
			return fmt.Errorf("%w (below %q)", err, at)
		}
		depth++
	}
	if depth > MaxDepth {
		return fmt.Errorf("%w: %.60q… is %d keys deep, the limit is %d", ErrInvalidPath, path, depth, MaxDepth)
	}
	prev := ""
	for i, v := range k.Values {
		if _, err := checkValue(path, v); err != nil {
			return err
		}
		f := Fold(v.Name)
		if i > 0 && f <= prev {
			return fmt.Errorf("%w: key %q: values are not sorted and unique by folded name at %q", ErrInvalidValue, path, v.Name)
		}
		prev = f
	}
	prev = ""
	for i, s := range k.SubKeys {
		if s == nil {
			return fmt.Errorf("%w: key %q: nil subkey", ErrInvalidPath, path)
		}
		f := Fold(s.Name)
		if i > 0 && f <= prev {
			return fmt.Errorf("%w: key %q: subkeys are not sorted and unique by folded name at %q", ErrInvalidPath, path, s.Name)
		}
		prev = f
		if err := s.validate(depth, path); err != nil {
			return err
		}
	}
	return nil
}

// Sort orders Values and SubKeys of the whole tree by folded name, for trees
// built by hand. It does not remove duplicates (Validate reports them).
func (k *Key) Sort() {
	sort.SliceStable(k.Values, func(i, j int) bool { return Fold(k.Values[i].Name) < Fold(k.Values[j].Name) })
	sort.SliceStable(k.SubKeys, func(i, j int) bool { return Fold(k.SubKeys[i].Name) < Fold(k.SubKeys[j].Name) })
	for _, s := range k.SubKeys {
		s.Sort()
	}
}

// JSON form, readable with etcdctl:
//
//	{"name":"onyone","values":[{"name":"Port","type":"REG_DWORD","data":7000}],"keys":[…]}
//
// data is a string for REG_SZ and REG_EXPAND_SZ, an array of strings for
// REG_MULTI_SZ, a number for REG_DWORD and REG_QWORD, and lower-case hex for
// REG_BINARY and REG_NONE. Strings are escaped exactly as encoding/json
// escapes them. The encoder writes the bytes directly (a checkpoint of
// 10,000 values is encoded on every save), the decoder reads the whole tree
// in one pass.

var typeNames = map[sdk.ValueType]string{
	sdk.None: "REG_NONE", sdk.String: "REG_SZ", sdk.ExpandString: "REG_EXPAND_SZ", sdk.Binary: "REG_BINARY",
	sdk.DWord: "REG_DWORD", sdk.MultiString: "REG_MULTI_SZ", sdk.QWord: "REG_QWORD",
}

var typeByName = func() map[string]sdk.ValueType {
	m := make(map[string]sdk.ValueType, len(typeNames))
	for t, n := range typeNames {
		m[n] = t
	}
	return m
}()

// MarshalJSON writes the canonical JSON form of the tree.
func (k *Key) MarshalJSON() ([]byte, error) {
	return k.AppendJSON(make([]byte, 0, 256))
}

// AppendJSON appends the canonical JSON form of the tree to b.
func (k *Key) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, k.Name)
	b = append(b, `,"values":[`...)
	for i, v := range k.Values {
		name, ok := typeNames[v.Type]
		if !ok {
			return nil, fmt.Errorf("%w: value %q has unknown type %d", ErrInvalidValue, v.Name, uint32(v.Type))
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, v.Name)
		b = append(b, `,"type":"`...)
		b = append(b, name...)
		b = append(b, `","data":`...)
		switch v.Type {
		case sdk.String, sdk.ExpandString:
			b = appendJSONString(b, v.Str)
		case sdk.MultiString:
			b = append(b, '[')
			for j, s := range v.Strs {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, s)
			}
			b = append(b, ']')
		case sdk.DWord, sdk.QWord:
			b = strconv.AppendUint(b, v.Num, 10)
		default:
			b = append(b, '"')
			b = hex.AppendEncode(b, v.Bytes)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, `],"keys":[`...)
	for i, s := range k.SubKeys {
		if i > 0 {
			b = append(b, ',')
		}
		if s == nil {
			return nil, fmt.Errorf("%w: key %q has a nil subkey", ErrInvalidPath, k.Name)
		}
		var err error
		if b, err = s.AppendJSON(b); err != nil {
			return nil, err
		}
	}
	return append(b, "]}"...), nil
}

// appendJSONString appends s as encoding/json writes it (HTML-safe escaping,
// U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD).
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		n := min(len(s)-i, utf8.UTFMax)
		r, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

type rawTree struct {
	Name   string     `json:"name"`
	Values []rawValue `json:"values"`
	Keys   []rawTree  `json:"keys"`
}

type rawValue struct {
	Name string          `json:"name"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// UnmarshalJSON reads the JSON form. Unknown types and data of the wrong
// shape are errors; unknown fields and other spellings of the same data are
// not (compare MarshalJSON's output with the input to insist on the
// canonical form, as checkpoint.Decode does). It does not check names, order
// or limits; call Validate for that.
func (k *Key) UnmarshalJSON(b []byte) error {
	var rt rawTree
	if err := json.Unmarshal(b, &rt); err != nil {
		return err
	}
	out, err := rt.key()
	if err != nil {
		return err
	}
	*k = *out
	return nil
}

func (rt *rawTree) key() (*Key, error) {
	k := &Key{Name: rt.Name}
	if len(rt.Values) > 0 {
		k.Values = make([]sdk.Value, len(rt.Values))
	}
	for i, jv := range rt.Values {
		v, err := jv.value()
		if err != nil {
			return nil, fmt.Errorf("key %q: %s value %q: %v", rt.Name, jv.Type, jv.Name, err)
		}
		k.Values[i] = v
	}
	if len(rt.Keys) > 0 {
		k.SubKeys = make([]*Key, len(rt.Keys))
	}
	for i := range rt.Keys {
		s, err := rt.Keys[i].key()
		if err != nil {
			return nil, err
		}
		k.SubKeys[i] = s
	}
	return k, nil
}

func (jv rawValue) value() (sdk.Value, error) {
	t, ok := typeByName[jv.Type]
	if !ok {
		return sdk.Value{}, fmt.Errorf("unknown type")
	}
	v := sdk.Value{Name: jv.Name, Type: t}
	d := jv.Data
	var err error
	switch t {
	case sdk.String, sdk.ExpandString:
		v.Str, err = jsonString(d)
	case sdk.MultiString:
		if len(d) == 0 || d[0] != '[' {
			return v, fmt.Errorf("data is not a list of strings")
		}
		err = json.Unmarshal(d, &v.Strs)
		if len(v.Strs) == 0 {
			v.Strs = nil
		}
	case sdk.DWord, sdk.QWord:
		v.Num, err = strconv.ParseUint(string(d), 10, 64)
	default:
		var s string
		if s, err = jsonString(d); err == nil {
			v.Bytes, err = hex.DecodeString(s)
			if len(v.Bytes) == 0 {
				v.Bytes = nil
			}
		}
	}
	if err != nil {
		return v, fmt.Errorf("data: %v", err)
	}
	return v, nil
}

// jsonString reads a JSON string, quickly when it has no escapes.
func jsonString(d []byte) (string, error) {
	if len(d) >= 2 && d[0] == '"' && d[len(d)-1] == '"' && bytes.IndexByte(d, '\\') < 0 {
		return string(d[1 : len(d)-1]), nil
	}
	if len(d) == 0 || d[0] != '"' {
		return "", fmt.Errorf("data is not a string")
	}
	var s string
	err := json.Unmarshal(d, &s)
	return s, err
}
