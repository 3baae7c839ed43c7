package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/resmon/resmon/model"
)

// The TOML library stops at the first value it cannot store and cannot tell
// unknown keys inside one [[resource]] from those of the next, so the file is
// parsed into its raw tree and then stored here, key by key, into the Config:
// every unknown key and every badly typed value is reported, each with the
// entry it is in.

// decoder stores a raw TOML tree into Go values, collecting problems.
type decoder struct {
	problems
}

// place is where a value sits: the entry (Problem.Path) and, inside an entry
// of an array of tables, the prefix of the nested table's keys.
type place struct {
	path   string
	prefix string
	entry  bool // inside an array-of-tables entry
}

func (p place) key(k string) string { return p.prefix + quoteKey(k) }

// field is a struct field and its TOML key.
type field struct {
	key   string
	index []int
}

// fieldsOf lists the keyed fields of struct type t in declaration order;
// untagged embedded structs contribute their own fields.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for _, sub := range fieldsOf(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, field{key: name, index: []int{i}})
	}
	return out
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	tomlUnmarshaler = reflect.TypeFor[toml.Unmarshaler]()
	durationType    = reflect.TypeFor[model.Duration]()
)

// custom reports whether values of t decode themselves.
func custom(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(textUnmarshaler) || pt.Implements(tomlUnmarshaler)
}

// table stores the TOML table m into the struct rv.
func (d *decoder) table(m map[string]any, rv reflect.Value, at place) {
	fields := fieldsOf(rv.Type())
	known := make(map[string]bool, len(fields))
	for _, f := range fields {
		known[f.key] = true
	}
	var unknown []string
	for k := range m {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		d.add(at.path, "", "unknown key %q%s", at.prefix+k, hint(k, fields))
	}
	for _, f := range fields {
		raw, ok := m[f.key]
		if !ok {
			continue
		}
		fv := rv.FieldByIndex(f.index)
		ft := fv.Type()
		switch {
		case ft.Kind() == reflect.Struct && !custom(ft):
			sub, ok := raw.(map[string]any)
			if !ok {
				d.add(at.path, at.key(f.key), "expected a table, got %s", describe(raw))
				continue
			}
			next := place{path: joinPath(at.path, f.key)}
			if at.entry {
				next = place{path: at.path, prefix: at.key(f.key) + ".", entry: true}
			}
			d.table(sub, fv, next)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && !custom(ft.Elem()):
			d.entries(raw, fv, at, f.key)
		default:
			d.value(raw, fv, at, at.key(f.key))
		}
	}
}

// entries stores an array of tables ([[resource]]) into the slice rv; kind
// is its key, which with the entry's name labels the entry's problems.
func (d *decoder) entries(raw any, rv reflect.Value, at place, kind string) {
	items, ok := asArray(raw)
	if !ok {
		d.add(at.path, at.key(kind), "expected an array of tables ([[%s]]), got %s", kind, describe(raw))
		return
	}
	out := reflect.MakeSlice(rv.Type(), 0, len(items))
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			d.add(at.path, at.key(kind), "item %d: expected a table, got %s", i+1, describe(item))
			continue
		}
		name, _ := m["name"].(string)
		ev := reflect.New(rv.Type().Elem()).Elem()
		d.table(m, ev, place{path: entryLabel(joinPath(at.path, kind), name, i), entry: true})
		out = reflect.Append(out, ev)
	}
	rv.Set(out)
}

// value stores one TOML value into rv, reporting it under key.
func (d *decoder) value(raw any, rv reflect.Value, at place, key string) {
	if err := store(raw, rv); err != nil {
		d.add(at.path, key, "%v", err)
	}
}

// store stores raw into rv, which must be settable.
func store(raw any, rv reflect.Value) error {
	if rv.CanAddr() {
		switch u := rv.Addr().Interface().(type) {
		case toml.Unmarshaler:
			return u.UnmarshalTOML(raw)
		case encoding.TextUnmarshaler:
			s, ok := raw.(string)
			if !ok {
				if rv.Type() == durationType {
					return fmt.Errorf(`expected a duration string such as "5s" or "500ms", got %s`, describe(raw))
				}
				return fmt.Errorf("expected a string, got %s", describe(raw))
			}
			return u.UnmarshalText([]byte(s))
		}
	}
	switch rv.Kind() {
	case reflect.Pointer:
		nv := reflect.New(rv.Type().Elem())
		if err := store(raw, nv.Elem()); err != nil {
			return err
		}
		rv.Set(nv)
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			return fmt.Errorf("expected a string, got %s", describe(raw))
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			return fmt.Errorf("expected true or false, got %s", describe(raw))
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := raw.(int64)
		if !ok {
			return fmt.Errorf("expected an integer, got %s", describe(raw))
		}
		rv.SetInt(n)
	case reflect.Uint32:
		n, ok := raw.(int64)
		if !ok {
			return fmt.Errorf("expected an integer, got %s", describe(raw))
		}
		if n < 0 || n > math.MaxUint32 {
			return fmt.Errorf("%d is out of range (0 to %d)", n, uint32(math.MaxUint32))
		}
		rv.SetUint(uint64(n))
	case reflect.Slice:
		items, ok := asArray(raw)
		if !ok {
			return fmt.Errorf("expected an array, got %s", describe(raw))
		}
		out := reflect.MakeSlice(rv.Type(), len(items), len(items))
		for i, item := range items {
			if err := store(item, out.Index(i)); err != nil {
				return fmt.Errorf("item %d: %w", i+1, err)
			}
		}
		rv.Set(out)
	case reflect.Map:
		m, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("expected a table, got %s", describe(raw))
		}
		out := reflect.MakeMapWithSize(rv.Type(), len(m))
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ev := reflect.New(rv.Type().Elem()).Elem()
			if err := store(m[k], ev); err != nil {
				return fmt.Errorf("%s: %w", quoteKey(k), err)
			}
			out.SetMapIndex(reflect.ValueOf(k), ev)
		}
		rv.Set(out)
	case reflect.Interface:
		if raw != nil {
			rv.Set(reflect.ValueOf(raw))
		}
	default:
		// Only reached if a field of an unsupported kind is added to Config.
		return fmt.Errorf("cannot store a value of Go type %s", rv.Type())
	}
	return nil
}

// asArray returns the items of a TOML array or array of tables.
func asArray(raw any) ([]any, bool) {
	switch x := raw.(type) {
	case []any:
		return x, true
	case []map[string]any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = x[i]
		}
		return out, true
	}
	return nil, false
}

// describe names the TOML type of a raw value, with the value when short.
func describe(raw any) string {
	switch x := raw.(type) {
	case string:
		if len(x) > 40 {
			return fmt.Sprintf("string %q…", x[:40])
		}
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case time.Time:
		return "datetime " + x.Format(time.RFC3339Nano)
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%T", raw)
}

// quoteKey writes one key segment as TOML would: bare when it can be.
func quoteKey(k string) string { return toml.Key{k}.String() }

func joinPath(path, key string) string {
	if path == "" {
		return quoteKey(key)
	}
	return path + "." + quoteKey(key)
}

// entryLabel names entry i of an array of tables: `resource "Disk P"`, or
// `resource #3` when the entry has no name.
func entryLabel(kind, name string, i int) string {
	if name != "" {
		return fmt.Sprintf("%s %q", kind, name)
	}
	return fmt.Sprintf("%s #%d", kind, i+1)
}

// hint suggests the known key an unknown one was probably meant to be.
func hint(k string, fields []field) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(s))
	}
	for _, f := range fields {
		if n, fn := norm(k), norm(f.key); n == fn || n+"s" == fn || n == fn+"s" {
			return fmt.Sprintf(" (did you mean %q?)", f.key)
		}
	}
	return ""
}
