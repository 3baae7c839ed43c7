package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics; it either accepts the file, and then the
// result validates again and converts to records, or it returns a non-empty
// error that matches ErrInvalid.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(baseTOML + res("a", "data", `dependencies = ["b"]`) + res("b", "data", `dependencies = [["a", "c"]]`)))
	f.Add([]byte("resource = [{name = \"x\", private = {a = [1, {b = 2}]}}]\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			var se *SyntaxError
			var ce *Error
			if !errors.Is(err, ErrInvalid) || !(errors.As(err, &se) || errors.As(err, &ce)) {
				t.Fatalf("error %T does not match ErrInvalid: %v", err, err)
			}
			if ce != nil && len(ce.Problems) == 0 {
				t.Fatal("an *Error without problems")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
		types, groups, resources := c.Records()
		if len(types) != len(c.ResourceTypes) || len(groups) != len(c.Groups) || len(resources) != len(c.Resources) {
			t.Fatal("Records lost entries")
		}
		_ = c.EmbedConfig()
	})
}
