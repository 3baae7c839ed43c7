// Package wasmtest runs WASM resource types under the sdktest conformance
// harness: Target loads a module with a real plugins/wasm Driver and hands
// every resource the sdktest.Host the harness created for it.
package wasmtest

import (
	"context"
	"time"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/plugins/wasm"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
)

// Options tune a Target.
type Options struct {
	// CacheDir is the compilation cache (empty: none).
	CacheDir string
	// DeadlockTimeout bounds every entry point (default 30s).
	DeadlockTimeout time.Duration
}

// Target returns a conformance target for the WASM resource type t (Kind
// "wasm"). Like a node, the target has one registry for all resources: the
// Reg of every sdktest.Host it is given is replaced by that registry.
//
//	sdktest.Run(t, wasmtest.Target(plugins.TypeSpec{Name: "mytype", Kind: "wasm", Path: "mytype.wasm"}, wasmtest.Options{}), sdktest.Options{})
func Target(t plugins.TypeSpec, o Options) sdktest.Target {
	if o.DeadlockTimeout == 0 {
		o.DeadlockTimeout = 30 * time.Second
	}
	s := pluginstest.NewHosts()
	return &target{spec: t, o: o, svc: s, d: wasm.New(wasm.Config{Services: s, CacheDir: o.CacheDir})}
}

type target struct {
	spec plugins.TypeSpec
	o    Options
	svc  *pluginstest.Hosts
	d    *wasm.Driver
}

var _ sdktest.Target = (*target)(nil)

func (t *target) Open(ctx context.Context, h *sdktest.Host, req sdk.OpenRequest) (sdktest.Opened, error) {
	t.svc.Add(req.ID, h)
	in, err := t.d.Open(ctx, t.spec, plugins.ResourceSpec{
		ID: req.ID, Name: req.Name, Properties: req.Properties, DeadlockTimeout: t.o.DeadlockTimeout,
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

func (t *target) Close(ctx context.Context) error { return t.d.Close(ctx) }
