package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Property types a resource type may declare for its private properties.
const (
	PropString   = "string"
	PropInt      = "int"
	PropNumber   = "number"
	PropBool     = "bool"
	PropDuration = "duration" // a Go duration string, "5s"
	PropList     = "list"     // a JSON array
	PropTable    = "table"    // a JSON object
)

// PropertySpec describes one private property of a resource type, in the
// type's own words: the node that loads a type publishes what the type
// says of itself, and the CLI checks values against it before writing.
type PropertySpec struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required,omitempty"`
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

// TypeSchema is what a node published about a type's private properties.
type TypeSchema struct {
	Type       string         `json:"type"`
	Node       string         `json:"node"` // who loaded the type
	Time       time.Time      `json:"time"`
	Properties []PropertySpec `json:"properties"`
}

// ErrBadProperty reports a private property value a type does not accept.
var ErrBadProperty = errors.New("model: bad private property")

// ValidTypeName reports whether t is a property type, or alternatives
// of them joined by "|" ("list|table": either).
func ValidTypeName(t string) bool {
	for _, alt := range strings.Split(t, "|") {
		switch alt {
		case PropString, PropInt, PropNumber, PropBool, PropDuration, PropList, PropTable:
		default:
			return false
		}
	}
	return true
}

// CheckPrivate checks private property values against a type's specs:
// every key must be declared, every value of its declared type, every
// required property present. The error lists every problem, each with the
// type's description of the property.
func CheckPrivate(typeName string, specs []PropertySpec, private map[string]any) error {
	byName := map[string]PropertySpec{}
	var names []string
	for _, s := range specs {
		byName[strings.ToLower(s.Name)] = s
		names = append(names, s.Name)
	}
	var problems []string
	keys := make([]string, 0, len(private))
	for k := range private {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := byName[strings.ToLower(k)]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: not a property of type %q (it has: %s)", k, typeName, strings.Join(names, ", ")))
			continue
		}
		if err := checkValue(s.Type, private[k]); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v (%s: %s)", k, err, s.Name, orNone(s.Description)))
		}
	}
	for _, s := range specs {
		if !s.Required {
			continue
		}
		found := false
		for k := range private {
			found = found || strings.EqualFold(k, s.Name)
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s: required by type %q (%s)", s.Name, typeName, orNone(s.Description)))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrBadProperty, strings.Join(problems, "; "))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no description"
	}
	return s
}

// checkValue checks one value, as JSON decoding or TOML gives it, against
// a type or alternatives joined by "|".
func checkValue(typ string, v any) error {
	alts := strings.Split(typ, "|")
	if len(alts) == 1 {
		return checkOne(typ, v)
	}
	for _, alt := range alts {
		if checkOne(alt, v) == nil {
			return nil
		}
	}
	var want []string
	for _, alt := range alts {
		want = append(want, article(alt))
	}
	return fmt.Errorf("want %s, got %s", strings.Join(want, " or "), describeValue(v))
}

func checkOne(typ string, v any) error {
	want := func() error { return fmt.Errorf("want %s, got %s", article(typ), describeValue(v)) }
	switch typ {
	case PropString:
		if _, ok := v.(string); !ok {
			return want()
		}
	case PropDuration:
		s, ok := v.(string)
		if !ok {
			return want()
		}
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q is not a duration such as \"5s\"", s)
		}
	case PropBool:
		if _, ok := v.(bool); !ok {
			return want()
		}
	case PropInt:
		switch x := v.(type) {
		case int, int64, int32:
		case float64:
			if x != math.Trunc(x) {
				return want()
			}
		case json.Number:
			if _, err := x.Int64(); err != nil {
				return want()
			}
		default:
			return want()
		}
	case PropNumber:
		switch v.(type) {
		case int, int64, int32, float64, json.Number:
		default:
			return want()
		}
	case PropList:
		if _, ok := v.([]any); !ok {
			return want()
		}
	case PropTable:
		if _, ok := v.(map[string]any); !ok {
			return want()
		}
	}
	return nil
}

func article(typ string) string {
	switch typ {
	case PropInt:
		return "an integer"
	case PropList:
		return "a list (JSON array)"
	case PropTable:
		return "a table (JSON object)"
	}
	return "a " + typ
}

func describeValue(v any) string {
	switch v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("the number %v", v)
}
