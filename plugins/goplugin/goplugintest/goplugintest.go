// Package goplugintest runs go-plugin resource types under the sdktest
// conformance harness: Target starts the plugin executable with a real
// plugins/goplugin Driver and hands every resource the sdktest.Host the
// harness created for it; Build compiles an author's main package.
//
//	func TestConformance(t *testing.T) {
//		bin := goplugintest.Build(t, "./cmd/mytype-plugin")
//		sdktest.Run(t, goplugintest.Target(plugins.TypeSpec{Name: "mytype", Kind: "plugin", Path: bin}, goplugintest.Options{}), sdktest.Options{})
//	}
package goplugintest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/goplugin"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
)

// Build compiles the main package pkg (a path as `go build` takes it,
// relative to the test's package directory) into a temporary directory
// removed after the test, and returns the executable's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Options tune a Target.
type Options struct {
	// DeadlockTimeout bounds every entry point (default 30s).
	DeadlockTimeout time.Duration
	// SeparateMonitor gives every resource a plugin process of its own.
	SeparateMonitor bool
	// Logger receives the plugin's stderr (default: discard).
	Logger hclog.Logger
}

// Target returns a conformance target for the go-plugin resource type t
// (Kind "plugin"). Like a node, the target has one registry for all
// resources: the Reg of every sdktest.Host it is given is replaced by it.
func Target(t plugins.TypeSpec, o Options) sdktest.Target {
	if o.DeadlockTimeout == 0 {
		o.DeadlockTimeout = 30 * time.Second
	}
	return &target{spec: t, o: o, svc: pluginstest.NewHosts()}
}

type target struct {
	spec plugins.TypeSpec
	o    Options
	svc  *pluginstest.Hosts

	mu  sync.Mutex
	dir string
	d   *goplugin.Driver
}

var _ sdktest.Target = (*target)(nil)

func (t *target) driver() (*goplugin.Driver, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.d != nil {
		return t.d, nil
	}
	dir, err := os.MkdirTemp("", "gpt") // short: the callback socket path is limited
	if err != nil {
		return nil, err
	}
	d, err := goplugin.New(goplugin.Config{Services: t.svc, DataDir: dir, Logger: t.o.Logger})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	t.dir, t.d = dir, d
	return d, nil
}

func (t *target) Open(ctx context.Context, h *sdktest.Host, req sdk.OpenRequest) (sdktest.Opened, error) {
	d, err := t.driver()
	if err != nil {
		return nil, err
	}
	t.svc.Add(req.ID, h)
	in, err := d.Open(ctx, t.spec, plugins.ResourceSpec{
		ID: req.ID, Name: req.Name, Properties: req.Properties,
		DeadlockTimeout: t.o.DeadlockTimeout, SeparateMonitor: t.o.SeparateMonitor,
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

func (t *target) Close(ctx context.Context) error {
	t.mu.Lock()
	d, dir := t.d, t.dir
	t.d, t.dir = nil, ""
	t.mu.Unlock()
	if d == nil {
		return nil
	}
	err := d.Close(ctx)
	if rerr := os.RemoveAll(dir); err == nil {
		err = rerr
	}
	return err
}
