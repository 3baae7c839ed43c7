package readme

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOperationsTableNamesRealTests: every row of README's Operations
// table names a test that exists, and a subtest (TestX/name) that the
// test runs.
func TestOperationsTableNamesRealTests(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Operations\n")
	if start < 0 {
		t.Fatal("README.md has no Operations section")
	}
	section := text[start+1:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	dirs := map[string]string{"cli": "internal/cli", "monitor": "monitor", "daemon": "internal/daemon", "web": "internal/web"}
	source := func(pkg string) string {
		files, _ := filepath.Glob(filepath.Join(root, dirs[pkg], "*_test.go"))
		var sb strings.Builder
		for _, f := range files {
			b, _ := os.ReadFile(f)
			sb.Write(b)
		}
		return sb.String()
	}
	name := regexp.MustCompile("`(\\w+)\\.(Test\\w+)(?:/([^`]+))?`")
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| task ") || strings.HasPrefix(line, "| ---") {
			continue
		}
		rows++
		cells := strings.Split(line, " | ")
		tests := name.FindAllStringSubmatch(cells[len(cells)-1], -1)
		if len(tests) == 0 {
			t.Errorf("row %q names no test", cells[0])
		}
		for _, m := range tests {
			pkg, test, sub := m[1], m[2], m[3]
			if _, ok := dirs[pkg]; !ok {
				t.Errorf("row %q: unknown package %q", cells[0], pkg)
				continue
			}
			src := source(pkg)
			if !strings.Contains(src, "func "+test+"(") {
				t.Errorf("row %q: %s.%s does not exist", cells[0], pkg, test)
			}
			if sub != "" && !strings.Contains(src, `t.Run("`+sub) {
				t.Errorf("row %q: %s.%s runs no subtest %q", cells[0], pkg, test, sub)
			}
		}
	}
	if rows < 15 {
		t.Errorf("the Operations table has %d rows", rows)
	}
}
