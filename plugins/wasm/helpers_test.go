package wasm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/plugins/wasm"
)

// workDir holds what this test binary builds; removed at exit.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "resmon-wasm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cacheDir is the compilation cache shared by test runs: wazero keys its
// entries by module hash and wazero version, so reuse is safe.
func cacheDir() string { return filepath.Join(os.TempDir(), "resmon-wasm-test-cache") }

const repoRoot = "../.."

var goGuests = struct {
	once  sync.Once
	paths map[string]string
	err   error
}{}

// Go guests built from the repository, once per test binary.
const (
	guestTestType = "./testutil/testtype/cmd/testtype-wasm"
	guestCaps     = "./plugins/wasm/testdata/capguest"
)

// goGuest returns the module built from pkg (guestTestType or guestCaps).
func goGuest(t testing.TB, pkg string) string {
	t.Helper()
	goGuests.once.Do(func() {
		goGuests.paths = map[string]string{}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, p := range []string{guestTestType, guestCaps} {
			out := filepath.Join(workDir, filepath.Base(p)+".wasm")
			goGuests.paths[p] = out
			wg.Go(func() {
				cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, p)
				cmd.Dir = repoRoot
				cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
				if b, err := cmd.CombinedOutput(); err != nil {
					mu.Lock()
					goGuests.err = errors.Join(goGuests.err, fmt.Errorf("go build %s: %v\n%s", p, err, b))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	})
	if goGuests.err != nil {
		t.Fatal(goGuests.err)
	}
	return goGuests.paths[pkg]
}

var cGuestBuild = struct {
	once sync.Once
	path string
	skip string
	err  error
}{}

// cGuest returns the C guest, built with clang; the test is skipped when
// the WASI toolchain is not installed.
func cGuest(t testing.TB) string {
	t.Helper()
	path, skip, err := buildCGuest()
	if skip != "" {
		t.Skip(skip)
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// buildCGuest builds the C guest once.
func buildCGuest() (path, skip string, err error) {
	cGuestBuild.once.Do(func() {
		clang := ""
		for _, c := range []string{"clang-14", "clang"} {
			if p, err := exec.LookPath(c); err == nil {
				clang = p
				break
			}
		}
		if clang == "" {
			cGuestBuild.skip = "clang not found: install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 to test the C guest"
			return
		}
		sysroot := os.Getenv("WASI_SYSROOT")
		if sysroot == "" {
			sysroot = "/usr" // Debian's wasi-libc: /usr/include/wasm32-wasi, /usr/lib/wasm32-wasi
		}
		if _, err := os.Stat(filepath.Join(sysroot, "lib", "wasm32-wasi", "libc.a")); err != nil {
			cGuestBuild.skip = fmt.Sprintf("wasi-libc not found under %s (set WASI_SYSROOT, or install wasi-libc)", sysroot)
			return
		}
		out := filepath.Join(workDir, "cguest.wasm")
		cmd := exec.Command(clang, "--target=wasm32-wasi", "--sysroot="+sysroot, "-mexec-model=reactor", "-O2",
			"-Wall", "-Werror", "-I", filepath.Join(repoRoot, "sdk", "wasm"), "-o", out, filepath.Join("testdata", "cguest", "cguest.c"))
		if b, err := cmd.CombinedOutput(); err != nil {
			if bytes.Contains(b, []byte("wasm-ld")) || bytes.Contains(b, []byte("libclang_rt")) {
				cGuestBuild.skip = fmt.Sprintf("the WASI toolchain is incomplete (install lld-14 and libclang-rt-14-dev-wasm32): %s", b)
				return
			}
			cGuestBuild.err = fmt.Errorf("clang: %v\n%s", err, b)
			return
		}
		cGuestBuild.path = out
	})
	return cGuestBuild.path, cGuestBuild.skip, cGuestBuild.err
}

func newDriver(t testing.TB, svc plugins.Services) *wasm.Driver {
	t.Helper()
	d := wasm.New(wasm.Config{Services: svc, CacheDir: cacheDir()})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("closing the driver: %v", err)
		}
	})
	return d
}

func typeSpec(name, path string) plugins.TypeSpec {
	return plugins.TypeSpec{Name: name, Kind: wasm.Kind, Path: path}
}

var resourceSeq struct {
	sync.Mutex
	n int
}

func resSpec(props map[string]any) plugins.ResourceSpec {
	resourceSeq.Lock()
	resourceSeq.n++
	n := resourceSeq.n
	resourceSeq.Unlock()
	return plugins.ResourceSpec{
		ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), Name: fmt.Sprintf("res%d", n),
		Properties: props, DeadlockTimeout: 60 * time.Second,
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t testing.TB, d *wasm.Driver, ts plugins.TypeSpec, rs plugins.ResourceSpec) plugins.Instance {
	t.Helper()
	in, err := d.Open(ctxT(t), ts, rs)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return in
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func logsContain(svc *pluginstest.Services, parts ...string) bool {
	for _, l := range svc.Logs() {
		ok := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// guests lists the guests a test runs against: the Go test type, and the
// C guest when clang is available (as a subtest that may skip).
func eachGuest(t *testing.T, f func(t *testing.T, path string)) {
	t.Run("Go", func(t *testing.T) { f(t, goGuest(t, guestTestType)) })
	t.Run("C", func(t *testing.T) { f(t, cGuest(t)) })
}
