package model

import (
	"strings"
	"testing"
)

func TestCheckPrivate(t *testing.T) {
	specs := []PropertySpec{
		{Name: "Cmd", Type: PropString, Required: true, Description: "the command"},
		{Name: "Port", Type: PropInt},
		{Name: "Ratio", Type: PropNumber},
		{Name: "On", Type: PropBool},
		{Name: "Wait", Type: PropDuration},
		{Name: "Env", Type: PropList + "|" + PropTable},
	}
	for _, c := range []struct {
		private map[string]any
		want    string // "" for accepted
	}{
		{map[string]any{"Cmd": "x"}, ""},
		{map[string]any{"cmd": "x", "Port": float64(80), "Ratio": 0.5, "On": true, "Wait": "5s", "Env": []any{"A=1"}}, ""},
		{map[string]any{"Cmd": "x", "Env": map[string]any{"A": "1"}, "Port": int64(8)}, ""},
		{map[string]any{}, `Cmd: required by type "t" (the command)`},
		{map[string]any{"Cmd": 5.0}, "Cmd: want a string, got the number 5 (Cmd: the command)"},
		{map[string]any{"Cmd": "x", "Port": 1.5}, "Port: want an integer, got the number 1.5"},
		{map[string]any{"Cmd": "x", "Wait": "soon"}, `Wait: "soon" is not a duration`},
		{map[string]any{"Cmd": "x", "Env": "A=1"}, `Env: want a list (JSON array) or a table (JSON object), got the string "A=1"`},
		{map[string]any{"Cmd": "x", "Nope": 1}, `Nope: not a property of type "t" (it has: Cmd, Port, Ratio, On, Wait, Env)`},
	} {
		err := CheckPrivate("t", specs, c.private)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.private, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want %q", c.private, err, c.want)
		}
	}
	if !ValidTypeName("list|table") || ValidTypeName("list|tuple") || ValidTypeName("") {
		t.Fatal("ValidTypeName")
	}
}
