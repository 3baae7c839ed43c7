package genapp

import (
	"errors"
	"strings"
)

// Errors of SplitCommandLine.
var (
	ErrUnterminatedQuote = errors.New("unterminated quote")
	ErrTrailingBackslash = errors.New("backslash at the end")
	ErrEmptyCommand      = errors.New("no command")
)

// SplitCommandLine splits a command line into arguments the way a POSIX
// shell splits words, without running a shell: blanks separate arguments,
// single quotes keep everything literally, double quotes keep everything
// but a backslash before $ ` " \ or a newline, and a backslash outside
// quotes keeps the next character. Nothing is expanded ($HOME, *, ~) and
// operators (|, ;, >) are ordinary characters: run "sh -c '…'" for those.
func SplitCommandLine(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool // cur holds an argument, possibly empty ("")
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case c == '\\':
			if i+1 == len(s) {
				return nil, ErrTrailingBackslash
			}
			i++
			if s[i] != '\n' { // backslash-newline joins lines
				cur.WriteByte(s[i])
				inArg = true
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, ErrUnterminatedQuote
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inArg = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
					i++
					if s[i] == '\n' {
						continue
					}
				}
				cur.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, ErrUnterminatedQuote
			}
			inArg = true
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, ErrEmptyCommand
	}
	return args, nil
}

// JoinCommandLine is the inverse of SplitCommandLine: it quotes each
// argument that needs it, so SplitCommandLine(JoinCommandLine(a)) is a.
func JoinCommandLine(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, needsQuote) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, `'`, `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

func needsQuote(r rune) bool {
	return strings.ContainsRune(" \t\n\r\\'\"", r)
}
