package readme

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRulesTableNamesRealTests: every test RULES.md names for a rule
// exists in the package it names, and every rule has a test.
func TestRulesTableNamesRealTests(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "RULES.md"))
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{"checkpoint": "checkpoint", "monitor": "monitor", "quorum": "quorum", "daemon": "internal/daemon"}
	sources := map[string]string{}
	source := func(pkg string) string {
		if s, ok := sources[pkg]; ok {
			return s
		}
		files, _ := filepath.Glob(filepath.Join(root, dirs[pkg], "*_test.go"))
		var sb strings.Builder
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sb.Write(b)
		}
		sources[pkg] = sb.String()
		return sources[pkg]
	}
	row := regexp.MustCompile("^\\| (\\d+) \\|")
	name := regexp.MustCompile("`(\\w+)\\.(Test\\w+)`")
	rules := 0
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rules++
		tests := name.FindAllStringSubmatch(line, -1)
		if len(tests) == 0 {
			t.Errorf("rule %s names no test", m[1])
		}
		for _, tm := range tests {
			pkg, test := tm[1], tm[2]
			if _, ok := dirs[pkg]; !ok {
				t.Errorf("rule %s: unknown package %q", m[1], pkg)
				continue
			}
			if !strings.Contains(source(pkg), "func "+test+"(") {
				t.Errorf("rule %s: %s.%s does not exist", m[1], pkg, test)
			}
		}
	}
	if rules != 15 {
		t.Errorf("RULES.md has %d rules, want 15", rules)
	}
}
