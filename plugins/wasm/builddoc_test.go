package wasm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resmon/resmon/plugins/wasm/wasmtest"
	"github.com/resmon/resmon/sdk/sdktest"
)

// Every clang line of ABI.md and of examples/cshare/README.md builds, as
// written, from the repository root (only the output goes elsewhere), and
// the module passes the conformance harness; without -mexec-model=reactor
// the link fails with the error ABI.md quotes; stripping shrinks the
// module as it says.
func TestDocumentedBuildLines(t *testing.T) {
	cGuest(t) // skips without the toolchain
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	abiDoc := readDoc(t, filepath.Join(root, "sdk/wasm/ABI.md"))
	var lines []string
	for _, doc := range []string{abiDoc, readDoc(t, filepath.Join(root, "examples/cshare/README.md"))} {
		lines = append(lines, clangLines(doc)...)
	}
	if len(lines) < 3 {
		t.Fatalf("found %d clang lines, want those of ABI.md §11 and §12 and of the cshare README", len(lines))
	}
	// §11's source, for its line to build.
	dir := t.TempDir()
	sec := abiDoc[strings.Index(abiDoc, "## 11."):]
	start := strings.Index(sec, "```c\n") + len("```c\n")
	if err := os.WriteFile(filepath.Join(dir, "min.c"), []byte(sec[start:start+strings.Index(sec[start:], "```")]), 0o644); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for i, line := range lines {
		args := strings.Fields(line)
		out := filepath.Join(dir, "out"+string(rune('a'+i))+".wasm")
		for j := range args {
			if args[j] == "-o" && j+1 < len(args) {
				args[j+1] = out
			}
			if args[j] == "min.c" {
				args[j] = filepath.Join(dir, "min.c")
			}
		}
		t.Run(strings.TrimSuffix(filepath.Base(args[len(args)-1]), ".c"), func(t *testing.T) {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, b)
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			sizes[line] = fi.Size()
			// cshare owns a directory inside its granted dirs; the
			// minimal type ignores both.
			grant := t.TempDir()
			spec := typeSpec("doc", out)
			spec.Dirs = []string{grant}
			sdktest.Run(t, wasmtest.Target(spec, wasmtest.Options{CacheDir: cacheDir()}), sdktest.Options{
				Properties: map[string]any{"Path": filepath.Join(grant, "share")},
			})
		})
	}

	// The §12 line without -mexec-model=reactor: the link error quoted.
	var full string
	for _, l := range clangLines(abiDoc) {
		if strings.Contains(l, "cshare.c") {
			full = l
		}
	}
	if full == "" {
		t.Fatal("ABI.md §12 has no line building cshare.c")
	}
	args := strings.Fields(strings.Replace(full, " -mexec-model=reactor", "", 1))
	for j := range args {
		if args[j] == "-o" {
			args[j+1] = filepath.Join(dir, "command.wasm")
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "undefined symbol: main") || !strings.Contains(abiDoc, strings.TrimSpace(firstLine(string(b)))) {
		t.Fatalf("without -mexec-model=reactor: %v\n%s\n(ABI.md should quote the first line)", err, b)
	}

	// Stripping shrinks cshare several times over, as §12 says.
	args = strings.Fields(strings.Replace(full, " -Wl,--strip-all", "", 1))
	for j := range args {
		if args[j] == "-o" {
			args[j+1] = filepath.Join(dir, "unstripped.wasm")
		}
	}
	cmd = exec.Command(args[0], args[1:]...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	fi, _ := os.Stat(filepath.Join(dir, "unstripped.wasm"))
	if stripped := sizes[full]; stripped == 0 || fi.Size() < 3*stripped {
		t.Fatalf("unstripped %d bytes, stripped %d: not the shrink ABI.md describes", fi.Size(), stripped)
	}
	t.Logf("cshare: %d bytes unstripped, %d stripped", fi.Size(), sizes[full])
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// clangLines are the command lines of a Markdown document that run clang
// (joined where they continue with a backslash).
func clangLines(doc string) []string {
	var out []string
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "clang") {
			continue
		}
		for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, `\`) + " " + strings.TrimSpace(lines[i])
		}
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
