package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched (with errors.Is) by every error Parse, Load and
// Validate return for a bad configuration: syntax errors, unknown keys, wrong
// types and inconsistent values. I/O errors from Load do not match it.
var ErrInvalid = errors.New("config: invalid configuration")

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the configuration file as it was named to Parse or Load;
	// empty for a Config built in code.
	File string
	// Line and Column locate the problem in File (1-based); 0 when unknown.
	// Only syntax errors carry them.
	Line, Column int
	// Path names the TOML entry at fault: "quorum.external", `group "data"`,
	// `resource "Disk P"`, `resource #3` (an entry without a usable name), or ""
	// for the document itself.
	Path string
	// Key is the key inside Path the problem is about ("lease_ttl",
	// "defaults.pending_timeout"), or "" when it is about the entry as a whole.
	Key string
	// Msg says what is wrong.
	Msg string
}

// String formats p as "FILE[:LINE[:COLUMN]]: PATH: KEY: MSG", leaving out the
// parts that are empty.
func (p Problem) String() string {
	var b strings.Builder
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, p.Line)
		if p.Column > 0 {
			loc = fmt.Sprintf("%s:%d", loc, p.Column)
		}
	}
	for _, part := range []string{loc, p.Path, p.Key} {
		if part != "" {
			b.WriteString(part)
			b.WriteString(": ")
		}
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in a configuration. It matches ErrInvalid.
type Error struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return ErrInvalid.Error()
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// SyntaxError is a file that is not valid TOML. Nothing else is checked
// until it is fixed. It matches ErrInvalid.
type SyntaxError struct {
	File         string
	Line, Column int // 1-based; 0 when unknown
	Msg          string
	// Err is the parser's own error (a toml.ParseError), for its
	// ErrorWithPosition and ErrorWithUsage renderings.
	Err error
}

// Error formats e as "FILE:LINE:COLUMN: MSG".
func (e *SyntaxError) Error() string {
	return Problem{File: e.File, Line: e.Line, Column: e.Column, Msg: e.Msg}.String()
}

// Is reports whether target is ErrInvalid.
func (e *SyntaxError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the parser's error.
func (e *SyntaxError) Unwrap() error { return e.Err }

// problems collects Problems; the zero value is ready to use.
type problems struct {
	list []Problem
}

func (ps *problems) add(path, key, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was found, else an *Error naming file.
func (ps *problems) err(file string) error {
	if len(ps.list) == 0 {
		return nil
	}
	out := make([]Problem, len(ps.list))
	for i, p := range ps.list {
		p.File = file
		out[i] = p
	}
	return &Error{Problems: out}
}
