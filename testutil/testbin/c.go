package testbin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var cBuilds = struct {
	mu sync.Mutex
	m  map[string]*cBuild
}{m: map[string]*cBuild{}}

type cBuild struct {
	once       sync.Once
	path, skip string
	err        error
}

// BuildC returns the C resource type src (a path from the repository root,
// such as "plugins/wasm/testdata/cguest/cguest.c") compiled to a WASM
// reactor with clang and wasi-libc against sdk/wasm/resmon.h, built on first
// use. The test is skipped when the WASI C toolchain is not installed
// (Debian: clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32; WASI_SYSROOT
// overrides the sysroot, /usr by default). flags go to clang after the
// defaults, such as "-Wl,--strip-all" for the module one would ship.
func BuildC(t testing.TB, src string, flags ...string) string {
	t.Helper()
	key := strings.Join(append([]string{src}, flags...), "\x00")
	cBuilds.mu.Lock()
	b := cBuilds.m[key]
	if b == nil {
		b = &cBuild{}
		cBuilds.m[key] = b
	}
	cBuilds.mu.Unlock()
	b.once.Do(func() { b.path, b.skip, b.err = buildC(src, flags) })
	if b.skip != "" {
		t.Skip(b.skip)
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func buildC(src string, flags []string) (path, skip string, err error) {
	clang := ""
	for _, c := range []string{"clang-14", "clang"} {
		if p, err := exec.LookPath(c); err == nil {
			clang = p
			break
		}
	}
	if clang == "" {
		return "", "clang not found: install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 to build C resource types", nil
	}
	sysroot := os.Getenv("WASI_SYSROOT")
	if sysroot == "" {
		sysroot = "/usr" // Debian's wasi-libc: /usr/include/wasm32-wasi, /usr/lib/wasm32-wasi
	}
	if _, err := os.Stat(filepath.Join(sysroot, "lib", "wasm32-wasi", "libc.a")); err != nil {
		return "", fmt.Sprintf("wasi-libc not found under %s (set WASI_SYSROOT, or install wasi-libc)", sysroot), nil
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("finding the repository root: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	dir, err := os.MkdirTemp("", "resmon-c-")
	if err != nil {
		return "", "", err
	}
	out := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".c")+".wasm")
	args := append([]string{"--target=wasm32-wasi", "--sysroot=" + sysroot, "-mexec-model=reactor", "-O2",
		"-Wall", "-Werror", "-I", filepath.Join(root, "sdk", "wasm")}, flags...)
	cmd := exec.Command(clang, append(args, "-o", out, filepath.Join(root, src))...)
	if b, err := cmd.CombinedOutput(); err != nil {
		if bytes.Contains(b, []byte("wasm-ld")) || bytes.Contains(b, []byte("libclang_rt")) {
			return "", fmt.Sprintf("the WASI toolchain is incomplete (install lld-14 and libclang-rt-14-dev-wasm32): %s", b), nil
		}
		return "", "", fmt.Errorf("clang %s: %v\n%s", src, err, b)
	}
	return out, "", nil
}
