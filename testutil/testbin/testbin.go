// Package testbin builds the repository's commands for tests that drive the
// real binaries, as operators do: each command is built once per test
// process, into a temporary directory.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

type build struct {
	once sync.Once
	path string
	err  error
}

var (
	mu     sync.Mutex
	builds = map[string]*build{}
)

// Build returns the path of the main package pkg (an import path such as
// "github.com/resmon/resmon/cmd/clusterd"), built on first use.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	return buildWith(t, pkg, "", nil)
}

func buildWith(t testing.TB, pkg, suffix string, flags []string, env ...string) string {
	t.Helper()
	mu.Lock()
	b, ok := builds[pkg+suffix]
	if !ok {
		b = &build{}
		builds[pkg+suffix] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "resmon-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, path.Base(pkg)+suffix)
		args := append(append([]string{"build"}, flags...), "-o", b.path, pkg)
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// BuildWASM returns the main package pkg built as a WASM resource type
// (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared), built on first use.
func BuildWASM(t testing.TB, pkg string) string {
	t.Helper()
	return buildWith(t, pkg, ".wasm", []string{"-buildmode=c-shared"}, "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
}
