package registry

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

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
// REG_BINARY and REG_NONE.

type jsonKey struct {
	Name   string      `json:"name"`
	Values []jsonValue `json:"values"`
	Keys   []*Key      `json:"keys"`
}

type jsonValue struct {
	Name string          `json:"name"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

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
	jk := jsonKey{Name: k.Name, Values: make([]jsonValue, len(k.Values)), Keys: k.SubKeys}
	if jk.Keys == nil {
		jk.Keys = []*Key{}
	}
	for i, v := range k.Values {
		name, ok := typeNames[v.Type]
		if !ok {
			return nil, fmt.Errorf("%w: value %q has unknown type %d", ErrInvalidValue, v.Name, uint32(v.Type))
		}
		var data any
		switch v.Type {
		case sdk.String, sdk.ExpandString:
			data = v.Str
		case sdk.MultiString:
			data = v.Strs
			if v.Strs == nil {
				data = []string{}
			}
		case sdk.DWord, sdk.QWord:
			data = v.Num
		default:
			data = hex.EncodeToString(v.Bytes)
		}
		b, err := json.Marshal(data)
		if err != nil {
			return nil, err
		}
		jk.Values[i] = jsonValue{Name: v.Name, Type: name, Data: b}
	}
	return json.Marshal(jk)
}

// UnmarshalJSON reads the JSON form strictly: unknown fields, unknown types
// and data of the wrong shape are errors. It does not check names, order or
// limits; call Validate for that.
func (k *Key) UnmarshalJSON(b []byte) error {
	var jk jsonKey
	if err := strictJSON(b, &jk); err != nil {
		return err
	}
	if jk.Values == nil || jk.Keys == nil {
		return fmt.Errorf("key %q: \"values\" and \"keys\" must be present", jk.Name)
	}
	out := Key{Name: jk.Name, SubKeys: jk.Keys}
	if len(out.SubKeys) == 0 {
		out.SubKeys = nil
	}
	for _, jv := range jk.Values {
		t, ok := typeByName[jv.Type]
		if !ok {
			return fmt.Errorf("key %q: value %q: unknown type %q", jk.Name, jv.Name, jv.Type)
		}
		v := sdk.Value{Name: jv.Name, Type: t}
		var err error
		switch t {
		case sdk.String, sdk.ExpandString:
			err = strictJSON(jv.Data, &v.Str)
		case sdk.MultiString:
			err = strictJSON(jv.Data, &v.Strs)
			if err == nil && v.Strs == nil {
				err = fmt.Errorf("null is not a list of strings")
			}
			if len(v.Strs) == 0 {
				v.Strs = nil
			}
		case sdk.DWord, sdk.QWord:
			err = strictJSON(jv.Data, &v.Num)
		default:
			var s string
			if err = strictJSON(jv.Data, &s); err == nil {
				v.Bytes, err = hex.DecodeString(s)
				if len(v.Bytes) == 0 {
					v.Bytes = nil
				}
			}
		}
		if err != nil {
			return fmt.Errorf("key %q: %s value %q: data: %v", jk.Name, jv.Type, jv.Name, err)
		}
		out.Values = append(out.Values, v)
	}
	*k = out
	return nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}
