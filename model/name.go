package model

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidName is matched by every error ValidName returns.
var ErrInvalidName = errors.New("model: invalid name")

// MaxNameLen is the longest name, in bytes.
const MaxNameLen = 255

// ValidName checks the name of a cluster, node, resource type, group or
// resource, wherever it comes from (cluster.toml, the CLI, the database):
// names become etcd key segments and directory names and are printed on
// operators' terminals, so they may not be empty, longer than MaxNameLen
// bytes, invalid UTF-8, hold control characters or '/', be "." or "..", or
// start or end with a space. The error says what is wrong, quoting the name
// with its control characters escaped, and matches ErrInvalidName.
func ValidName(s string) error {
	var msg string
	switch {
	case s == "":
		msg = "empty name"
	case len(s) > MaxNameLen:
		msg = fmt.Sprintf("%.20q… is longer than %d bytes", s, MaxNameLen)
	case !utf8.ValidString(s):
		msg = fmt.Sprintf("%q is not valid UTF-8", s)
	case strings.ContainsFunc(s, unicode.IsControl):
		msg = fmt.Sprintf("%q contains control characters", s)
	case strings.Contains(s, "/"):
		msg = fmt.Sprintf("%q must not contain '/' (names are etcd key segments)", s)
	case s == "." || s == "..":
		msg = fmt.Sprintf("%q is not a usable name", s)
	case strings.TrimSpace(s) != s:
		msg = fmt.Sprintf("%q has leading or trailing spaces", s)
	default:
		return nil
	}
	return nameError(msg)
}

// nameError is a ValidName error: its message alone, matching
// ErrInvalidName, so that callers can prefix what the name is of.
type nameError string

func (e nameError) Error() string        { return string(e) }
func (e nameError) Is(target error) bool { return target == ErrInvalidName }
