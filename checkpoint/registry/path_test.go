package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/resmon/resmon/sdk"
)

func TestParsePath(t *testing.T) {
	deep := strings.Repeat(`k\`, MaxDepth) + "k"
	tests := []struct {
		in, want string
		err      string // substring of the error; "" for success
	}{
		{`SOFTWARE\Onyone`, `SOFTWARE\Onyone`, ""},
		{`\Software\Onyone\`, `Software\Onyone`, ""},
		{`HKEY_LOCAL_MACHINE\SOFTWARE\Onyone`, `SOFTWARE\Onyone`, ""},
		{`hklm\SOFTWARE`, `SOFTWARE`, ""},
		{`HKLM`, ``, ""},
		{``, ``, ""},
		{`a/b\c d`, `a/b\c d`, ""},
		{`SOFTWARE\\Onyone`, "", "empty key name at position 2"},
		{"SOFTWARE\\On\x01yone", "", "control character"},
		{"SOFTWARE\\\xff", "", "not valid UTF-8"},
		{strings.Repeat("x", MaxKeyNameLen), strings.Repeat("x", MaxKeyNameLen), ""},
		{strings.Repeat("x", MaxKeyNameLen+1), "", "256 characters, the limit is 255"},
		{strings.Repeat("é", MaxKeyNameLen), strings.Repeat("é", MaxKeyNameLen), ""},
		{deep, "", "513 keys deep"},
		{`HKLM\hklm\x`, "", `a key named "hklm" directly below the root`},
	}
	for _, tc := range tests {
		got, err := ParsePath(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParsePath(%.40q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParsePath(%.40q) error = %v; want it to contain %q", tc.in, err, tc.err)
		}
		if !errors.Is(err, ErrInvalidPath) || !errors.Is(err, sdk.ErrInvalidParameter) {
			t.Errorf("ParsePath(%.40q) error %v is not ErrInvalidPath and sdk.ErrInvalidParameter", tc.in, err)
		}
	}
}

func TestIsWithin(t *testing.T) {
	tests := []struct {
		p, a string
		want bool
	}{
		{`SOFTWARE\Onyone`, `software\onyone`, true},
		{`SOFTWARE\Onyone\x`, `SOFTWARE\ONYONE`, true},
		{`SOFTWARE\Onyone2`, `SOFTWARE\Onyone`, false},
		{`SOFTWARE`, `SOFTWARE\Onyone`, false},
		{`anything`, ``, true},
	}
	for _, tc := range tests {
		if got := IsWithin(tc.p, tc.a); got != tc.want {
			t.Errorf("IsWithin(%q, %q) = %v, want %v", tc.p, tc.a, got, tc.want)
		}
	}
}
