package model_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/resmon/resmon/model"
)

func TestValidName(t *testing.T) {
	for _, tt := range []struct {
		name string
		want string // "" for a good name
	}{
		{"Network Name DATA", ""},
		{"node-1.example", ""},
		{"Ünïcode ok", ""},
		{`back\slash`, ""},
		{"a" + strings.Repeat("b", model.MaxNameLen-1), ""},
		{"", "empty name"},
		{strings.Repeat("x", model.MaxNameLen+1), `"xxxxxxxxxxxxxxxxxxxx"… is longer than 255 bytes`},
		{"bad\xffutf8", `"bad\xffutf8" is not valid UTF-8`},
		{"esc\x1b[31mred", `"esc\x1b[31mred" contains control characters`},
		{"nul\x00", `"nul\x00" contains control characters`},
		{"tab\there", `"tab\there" contains control characters`},
		{"new\nline", `"new\nline" contains control characters`},
		{"del\x7f", `"del\x7f" contains control characters`},
		{"c1\u009b", `"c1\u009b" contains control characters`},
		{"a/b", `"a/b" must not contain '/' (names are etcd key segments)`},
		{"/", `"/" must not contain '/' (names are etcd key segments)`},
		{".", `"." is not a usable name`},
		{"..", `".." is not a usable name`},
		{" padded", `" padded" has leading or trailing spaces`},
		{"padded ", `"padded " has leading or trailing spaces`},
		{"\u00a0nbsp", `"\u00a0nbsp" has leading or trailing spaces`},
	} {
		err := model.ValidName(tt.name)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidName(%q) = %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !errors.Is(err, model.ErrInvalidName)):
			t.Errorf("ValidName(%q) = %v, want %s (ErrInvalidName)", tt.name, err, tt.want)
		}
	}
}
