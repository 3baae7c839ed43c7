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

// The minimal C resource type of ABI.md §11 builds with the command given
// there, from the document and resmon.h alone, and passes the conformance
// harness.
func TestABIDocMinimalCType(t *testing.T) {
	cGuest(t) // skips without the toolchain
	doc, err := os.ReadFile(filepath.Join(repoRoot, "sdk", "wasm", "ABI.md"))
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)[strings.Index(string(doc), "## 11."):]
	start := strings.Index(sec, "```c\n") + len("```c\n")
	src := sec[start : start+strings.Index(sec[start:], "```")]
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "min.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	clang := "clang-14"
	if _, err := exec.LookPath(clang); err != nil {
		clang = "clang"
	}
	cmd := exec.Command(clang, "--target=wasm32-wasi", "--sysroot=/usr", "-mexec-model=reactor", "-O2", "-Wall", "-Werror",
		"-I", filepath.Join(repoRoot, "sdk", "wasm"), "-o", filepath.Join(dir, "min.wasm"), filepath.Join(dir, "min.c"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	sdktest.Run(t, wasmtest.Target(typeSpec("min", filepath.Join(dir, "min.wasm")), wasmtest.Options{CacheDir: cacheDir()}), sdktest.Options{})
}
