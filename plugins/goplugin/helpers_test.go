package goplugin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/goplugin"
	"github.com/resmon/resmon/plugins/pluginstest"
)

// The executables the tests run, built once per test binary.
var bins struct {
	once                                   sync.Once
	err                                    error
	dir                                    string
	testtype, garbage, badversion, rawgrpc string
}

var binDir string // removed by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "goplugin-bins")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func build(tb testing.TB) {
	tb.Helper()
	bins.once.Do(func() {
		bins.dir = binDir
		cmd := exec.Command("go", "build", "-o", bins.dir+string(filepath.Separator),
			"../../testutil/testtype/cmd/testtype-plugin", "./testdata/garbage", "./testdata/badversion", "./testdata/rawgrpc")
		if out, err := cmd.CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		bins.testtype = filepath.Join(bins.dir, "testtype-plugin")
		bins.garbage = filepath.Join(bins.dir, "garbage")
		bins.badversion = filepath.Join(bins.dir, "badversion")
		bins.rawgrpc = filepath.Join(bins.dir, "rawgrpc")
	})
	if bins.err != nil {
		tb.Fatal(bins.err)
	}
}

func sha256File(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	d    *goplugin.Driver
	svc  *pluginstest.Services
	log  *syncBuffer
	dir  string
	exit chan goplugin.Exit
}

// newEnv returns a driver over in-memory services, closed at the end of
// the test.
func newEnv(tb testing.TB, opts ...func(*goplugin.Config)) *env {
	tb.Helper()
	build(tb)
	dir, err := os.MkdirTemp("", "gp") // short: the socket path must fit 107 bytes
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{svc: pluginstest.New(), log: &syncBuffer{}, dir: dir, exit: make(chan goplugin.Exit, 16)}
	cfg := goplugin.Config{
		Services: e.svc,
		DataDir:  filepath.Join(dir, "plugins"),
		Logger:   hclog.New(&hclog.LoggerOptions{Name: "node", Output: e.log, Level: hclog.Trace}),
		OnExit:   func(x goplugin.Exit) { e.exit <- x },
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.d, err = goplugin.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.d.Close(ctx); err != nil {
			tb.Errorf("closing the driver: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	return e
}

func testtypeSpec() plugins.TypeSpec {
	return plugins.TypeSpec{Name: "testtype", Kind: "plugin", Path: bins.testtype}
}

func res(id string, props map[string]any) plugins.ResourceSpec {
	return plugins.ResourceSpec{ID: id, Name: "res-" + id, Properties: props}
}

// open opens r of the testtype type and closes it at the end of the test.
func (e *env) open(tb testing.TB, r plugins.ResourceSpec) *goplugin.Instance {
	tb.Helper()
	return e.openType(tb, testtypeSpec(), r)
}

func (e *env) openType(tb testing.TB, t plugins.TypeSpec, r plugins.ResourceSpec) *goplugin.Instance {
	tb.Helper()
	in, err := e.d.Open(ctx(tb), t, r)
	if err != nil {
		tb.Fatalf("Open %s: %v", r.Name, err)
	}
	tb.Cleanup(func() { _ = in.Close(context.Background()) })
	return in.(*goplugin.Instance)
}

// ctx is a context that ends with the test (or after a minute).
func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return c
}

// waitProgress waits until resource id reported at least n times.
func (e *env) waitProgress(tb testing.TB, id string, n int) {
	tb.Helper()
	deadline := time.After(20 * time.Second)
	for {
		got, next := e.svc.ProgressCount(id)
		if got >= n {
			return
		}
		select {
		case <-next:
		case <-deadline:
			tb.Fatalf("resource %s: %d progress reports, want %d", id, got, n)
		}
	}
}

// result runs f on a goroutine and returns a channel with its error.
func result(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func await(tb testing.TB, ch <-chan error, what string) error {
	tb.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		tb.Fatalf("%s did not return", what)
		return nil
	}
}

// waitGone waits until process pid no longer exists.
func waitGone(tb testing.TB, pid int) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			tb.Fatalf("process %d still exists", pid)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
}

func wantIs(tb testing.TB, err error, targets ...error) {
	tb.Helper()
	for _, t := range targets {
		if !errors.Is(err, t) {
			tb.Fatalf("error %v: want errors.Is %v", err, t)
		}
	}
}

// waitFor polls cond until it holds, failing the test after 20 seconds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited 20s for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
}
