package ocf_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/goplugin/goplugintest"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
	"github.com/resmon/resmon/types/ocf"
)

// debianRoot is where Debian's resource-agents package puts the agents.
const debianRoot = "/usr/lib/ocf"

// needAgents skips the test when resource-agents is not installed.
func needAgents(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(debianRoot, "resource.d", "heartbeat", "Dummy")); err != nil {
		t.Skip("Debian's resource-agents is not installed (apt-get install resource-agents): " + err.Error())
	}
}

// testRoot is an OCF root with Debian's heartbeat agents and their
// shell library, and the test agent testdata/classes as
// ocf:resmontest:classes.
func testRoot(t testing.TB) string {
	t.Helper()
	needAgents(t)
	root := t.TempDir()
	for _, d := range []string{"resource.d/resmontest"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"lib":                  filepath.Join(debianRoot, "lib"),
		"resource.d/heartbeat": filepath.Join(debianRoot, "resource.d", "heartbeat"),
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("testdata/classes")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "resource.d/resmontest/classes"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// res is an opened resource as the tests drive it, in process or through
// the go-plugin host.
type res interface {
	Online(ctx context.Context) error
	Offline(ctx context.Context) error
	Terminate(ctx context.Context) error
	Close(ctx context.Context) error
	health(ctx context.Context, deep bool) error
	Control(ctx context.Context, code sdk.ControlCode, in []byte) ([]byte, error)
}

// target opens resources of the type one way.
type target struct {
	name string
	open func(t *testing.T, h *sdktest.Host, req sdk.OpenRequest) (res, error)
}

type direct struct {
	sdk.Resource
}

func (d direct) health(ctx context.Context, deep bool) error {
	return d.Resource.(sdk.HealthChecker).CheckHealth(ctx, deep)
}

func (d direct) Control(ctx context.Context, code sdk.ControlCode, in []byte) ([]byte, error) {
	return d.Resource.(sdk.Controller).Control(ctx, code, in)
}

type remote struct{ plugins.Instance }

// health maps the host's (alive, error) back to one error, as the
// monitor reads it.
func (r remote) health(ctx context.Context, deep bool) error {
	f := r.LooksAlive
	if deep {
		f = r.IsAlive
	}
	ok, err := f(ctx)
	if err == nil && !ok {
		err = errors.New("not alive, no reason given")
	}
	return err
}

// targets are the in-process type and the go-plugin executable, both with
// root as OCF_ROOT and their own HA_RSCTMP.
func targets(t *testing.T, root string) []target {
	rsctmp := t.TempDir()
	typ := &ocf.Type{Config: ocf.Config{Root: root, RscTmp: rsctmp, Node: "node1"}}
	binPath := goplugintest.Build(t, "./cmd/ocf")
	// The plugin process inherits the test's environment, as it inherits
	// clusterd's.
	t.Setenv("OCF_ROOT", root)
	t.Setenv("HA_RSCTMP", t.TempDir())
	t.Setenv("RESMON_NODE", "node1") // clusterd's goplugin driver sets it for its node
	gp := goplugintest.Target(plugins.TypeSpec{Name: "OCF Agent", Kind: "plugin", Path: binPath}, goplugintest.Options{DeadlockTimeout: time.Minute})
	t.Cleanup(func() { gp.Close(context.Background()) })
	return []target{
		{"Direct", func(t *testing.T, h *sdktest.Host, req sdk.OpenRequest) (res, error) {
			r, err := typ.Open(ctxT(t), h, req)
			if err != nil {
				return nil, err
			}
			return direct{r}, nil
		}},
		{"GoPlugin", func(t *testing.T, h *sdktest.Host, req sdk.OpenRequest) (res, error) {
			r, err := gp.Open(ctxT(t), h, req)
			if err != nil {
				return nil, err
			}
			return remote{r.(plugins.Instance)}, nil
		}},
	}
}

var ids struct {
	mu sync.Mutex
	n  int
}

// openReq is an open request with a fresh id.
func openReq(name string, props map[string]any) sdk.OpenRequest {
	ids.mu.Lock()
	ids.n++
	n := ids.n
	ids.mu.Unlock()
	return sdk.OpenRequest{ID: fmt.Sprintf("6f1c2e4a-0000-4000-8000-%012d", n), Name: name, Properties: props}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// must fails the test on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// hasLog reports whether a log line of h contains every part.
func hasLog(h *sdktest.Host, parts ...string) bool {
	for _, l := range h.Logs() {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
