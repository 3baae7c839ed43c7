package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Anything the CLI prints for people may come from etcd, where anyone who
// could write a key could have put a terminal escape sequence in a name, a
// message or a value: printed raw, it could rewrite the screen, hide lines
// or set the window title. So every value printed goes through escape, and
// control characters come out as Go escapes ("\x1b", "\r"), harmless and still
// telling. Format strings are the CLI's own and keep their tabs (columns)
// and newlines.

// printf is fmt.Fprintf with every argument escaped (%q arguments are
// quoted by fmt, which escapes them already).
func printf(w io.Writer, format string, args ...any) {
	for i, a := range args {
		args[i] = escaped{a}
	}
	fmt.Fprintf(w, format, args...)
}

// sprintf is fmt.Sprintf with every argument escaped, as printf.
func sprintf(format string, args ...any) string {
	for i, a := range args {
		args[i] = escaped{a}
	}
	return fmt.Sprintf(format, args...)
}

// escaped formats its value, then escapes what it wrote.
type escaped struct{ v any }

func (e escaped) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q': // quoting escapes already
		fmt.Fprintf(f, fmt.FormatString(f, verb), e.v)
	case 's', 'v': // escape, then pad to the width asked for
		fmt.Fprintf(f, fmt.FormatString(f, verb), escape(fmt.Sprint(e.v), ""))
	default:
		io.WriteString(f, escape(fmt.Sprintf(fmt.FormatString(f, verb), e.v), ""))
	}
}

// escape returns s with its control characters (C0, DEL, C1), the Unicode
// controls of text direction and invalid UTF-8 bytes written as Go escapes,
// except the characters in keep.
func escape(s, keep string) string {
	if !needsEscape(s, keep) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case strings.ContainsRune(keep, r) || !mustEscape(r):
			b.WriteString(s[i : i+n])
		case strings.ContainsRune("\a\b\f\n\r\t\v", r):
			b.WriteString(strconv.QuoteRune(r)[1:3])
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += n
	}
	return b.String()
}

func needsEscape(s, keep string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (mustEscape(r) && !strings.ContainsRune(keep, r)) {
			return true
		}
		i += n
	}
	return false
}

func mustEscape(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// escapeMessage escapes an error or a multi-line message: its line breaks
// and tabs are its own.
func escapeMessage(s string) string { return escape(s, "\n\t") }

// jsonWriter passes JSON through, writing DEL and the C1 controls as \u
// escapes: encoding/json escapes only the C0 controls, and a raw C1 CSI can
// start a terminal sequence too. Outside strings JSON holds neither, so the
// rewrite keeps the document the same.
type jsonWriter struct{ w io.Writer }

func (j jsonWriter) Write(p []byte) (int, error) {
	s := string(p)
	if !strings.ContainsFunc(s, isHighControl) {
		return j.w.Write(p)
	}
	var b strings.Builder
	for _, r := range s {
		if isHighControl(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.WriteRune(r)
		}
	}
	if _, err := io.WriteString(j.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

func isHighControl(r rune) bool {
	return r == 0x7f || (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Bidi_Control, r)
}
