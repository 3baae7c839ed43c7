package registry

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/resmon/resmon/sdk"
)

// Limits, after Windows where practical, enforced on every write and on every
// imported or restored tree with an error naming the key or value
// (errors.Is(err, sdk.ErrInvalidParameter) holds for all of them). Key names
// also may not contain '\' or control characters; value names may be ""
// (the default value) but hold no control characters; strings must be valid
// UTF-8 without NUL, and a multi-string element may not be empty (an empty
// element ends a REG_MULTI_SZ in Windows). Value size counts UTF-8 bytes for
// strings and bytes plus one per element for multi-strings.
//
// Paths are written with backslashes relative to the machine root
// ("SOFTWARE\Onyone"); a leading "HKEY_LOCAL_MACHINE\" or "HKLM\" and a leading
// or trailing backslash are accepted and dropped.
const (
	MaxKeyNameLen   = 255     // characters
	MaxValueNameLen = 16383   // bytes of UTF-8
	MaxValueSize    = 1 << 20 // bytes of data
	MaxDepth        = 512     // keys below the root
)

var (
	// ErrInvalidPath reports a key path or name that breaks the rules above.
	ErrInvalidPath = fmt.Errorf("checkpoint: invalid registry path: %w", sdk.ErrInvalidParameter)
	// ErrInvalidValue reports a value that breaks a limit or does not match its type.
	ErrInvalidValue = fmt.Errorf("checkpoint: invalid registry value: %w", sdk.ErrInvalidParameter)
	// ErrClosed reports a call on a closed registry.
	ErrClosed = errors.New("checkpoint: registry is closed")
)

// Fold is the case folding under which names compare equal: two key names,
// value names or paths are the same when their folds are equal.
func Fold(s string) string { return strings.ToLower(s) }

// ParsePath checks a key path and returns it in canonical form: components
// joined by single backslashes, the case as given, no hive prefix and no
// leading or trailing backslash. "" (or "HKLM") is the root.
func ParsePath(s string) (string, error) {
	parts, err := splitPath(s)
	if err != nil {
		return "", err
	}
	return strings.Join(parts, `\`), nil
}

// splitPath parses s into its components (nil for the root).
func splitPath(s string) ([]string, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidPath, s)
	}
	p := strings.TrimPrefix(s, `\`)
	p = strings.TrimSuffix(p, `\`)
	if p == "" {
		return nil, nil
	}
	parts, err := splitComponents(s, p)
	if err != nil {
		return nil, err
	}
	if isHive(parts[0]) {
		parts = parts[1:]
	}
	if len(parts) > 0 && isHive(parts[0]) {
		// It would read as the hive prefix next time.
		return nil, fmt.Errorf("%w: %q: a key named %q directly below the root is not supported", ErrInvalidPath, s, parts[0])
	}
	return parts, nil
}

// isHive reports whether a first path component names the machine hive.
func isHive(c string) bool {
	f := Fold(c)
	return f == "hkey_local_machine" || f == "hklm"
}

// splitComponents splits p (a part of the path s, which is named in errors)
// at backslashes and checks every name.
func splitComponents(s, p string) ([]string, error) {
	parts := strings.Split(p, `\`)
	if len(parts) > MaxDepth+1 {
		return nil, fmt.Errorf("%w: %.40q… is %d keys deep, the limit is %d", ErrInvalidPath, s, len(parts), MaxDepth)
	}
	for i, c := range parts {
		if c == "" {
			return nil, fmt.Errorf("%w: %q has an empty key name at position %d (two backslashes in a row?)", ErrInvalidPath, s, i+1)
		}
		if err := checkKeyName(c); err != nil {
			return nil, fmt.Errorf("%w: in %q", err, s)
		}
	}
	if len(parts) > MaxDepth && !isHive(parts[0]) {
		return nil, fmt.Errorf("%w: %.40q… is %d keys deep, the limit is %d", ErrInvalidPath, s, len(parts), MaxDepth)
	}
	return parts, nil
}

func checkKeyName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("%w: empty key name", ErrInvalidPath)
	case !utf8.ValidString(n):
		return fmt.Errorf("%w: key name %q is not valid UTF-8", ErrInvalidPath, n)
	case utf8.RuneCountInString(n) > MaxKeyNameLen:
		return fmt.Errorf("%w: key name %.20q… is %d characters, the limit is %d", ErrInvalidPath, n, utf8.RuneCountInString(n), MaxKeyNameLen)
	case strings.ContainsRune(n, '\\'):
		return fmt.Errorf("%w: key name %q contains a backslash", ErrInvalidPath, n)
	case hasControl(n):
		return fmt.Errorf("%w: key name %q contains a control character", ErrInvalidPath, n)
	}
	return nil
}

func checkValueName(key, n string) error {
	switch {
	case !utf8.ValidString(n):
		return fmt.Errorf("%w: key %q: value name %q is not valid UTF-8", ErrInvalidValue, key, n)
	case len(n) > MaxValueNameLen:
		return fmt.Errorf("%w: key %q: value name %.20q… is %d bytes, the limit is %d", ErrInvalidValue, key, n, len(n), MaxValueNameLen)
	case hasControl(n):
		return fmt.Errorf("%w: key %q: value name %q contains a control character", ErrInvalidValue, key, n)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// IsWithin reports whether path p is a or lies below a; both must be canonical.
func IsWithin(p, a string) bool {
	fp, fa := Fold(p), Fold(a)
	if fa == "" {
		return true
	}
	return fp == fa || strings.HasPrefix(fp, fa+`\`)
}

// overlaps reports whether folded paths a and b are equal or one contains the other.
func overlaps(a, b string) bool {
	if a == "" || b == "" || a == b {
		return true
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	return strings.HasPrefix(b, a) && b[len(a)] == '\\'
}
