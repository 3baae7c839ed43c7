package genapp_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/resmon/resmon/examples/genapp"
)

func TestSplitCommandLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  error
	}{
		{`/usr/bin/app --port 8080`, []string{"/usr/bin/app", "--port", "8080"}, nil},
		{"  app \t -v  ", []string{"app", "-v"}, nil},
		{`sh -c 'echo "$HOME"; exit 1'`, []string{"sh", "-c", `echo "$HOME"; exit 1`}, nil},
		{`app "two words" "" x`, []string{"app", "two words", "", "x"}, nil},
		{`app "a \"quoted\" \\ \$x \n"`, []string{"app", `a "quoted" \ $x \n`}, nil},
		{`app one\ arg \'`, []string{"app", "one arg", "'"}, nil},
		{`app pre"mid"'post'`, []string{"app", "premidpost"}, nil},
		{"app a\\\nb", []string{"app", "ab"}, nil},
		{`app 'it'\''s'`, []string{"app", "it's"}, nil},
		{`app 'unterminated`, nil, genapp.ErrUnterminatedQuote},
		{`app "unterminated`, nil, genapp.ErrUnterminatedQuote},
		{`app \`, nil, genapp.ErrTrailingBackslash},
		{"   ", nil, genapp.ErrEmptyCommand},
		{"", nil, genapp.ErrEmptyCommand},
	} {
		got, err := genapp.SplitCommandLine(c.in)
		if !errors.Is(err, c.err) || !slices.Equal(got, c.want) {
			t.Errorf("SplitCommandLine(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestJoinCommandLineRoundTrips(t *testing.T) {
	for _, args := range [][]string{
		{"app"},
		{"/bin/sh", "-c", `trap 'echo "bye"' TERM; sleep 1`},
		{"app", "", "two words", `back\slash`, "tab\there", "new\nline", "it's"},
	} {
		got, err := genapp.SplitCommandLine(genapp.JoinCommandLine(args))
		if err != nil || !slices.Equal(got, args) {
			t.Errorf("round trip of %q: %q, %v", args, got, err)
		}
	}
}

// Splitting never panics, and whatever splits survives a join and a
// second split unchanged.
func FuzzSplitCommandLine(f *testing.F) {
	for _, s := range []string{`app -v`, `sh -c 'a "b" c'`, `a "b\"c" \d`, "a\\\nb", `'`, `"\`, `x""y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := genapp.SplitCommandLine(s)
		if err != nil {
			return
		}
		again, err := genapp.SplitCommandLine(genapp.JoinCommandLine(args))
		if err != nil || !slices.Equal(again, args) {
			t.Fatalf("%q split to %q, joined and split to %q, %v", s, args, again, err)
		}
	})
}
