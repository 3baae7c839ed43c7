// Package wasmtest runs WASM resource types under the sdktest conformance
// harness: Target loads a module with a real plugins/wasm Driver and hands
// every resource the sdktest.Host the harness created for it.
package wasmtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/resmon/resmon/plugins"
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
	s := &services{reg: sdktest.NewMemRegistry(), hosts: map[string]*sdktest.Host{}}
	return &target{spec: t, o: o, svc: s, d: wasm.New(wasm.Config{Services: s, CacheDir: o.CacheDir})}
}

type target struct {
	spec plugins.TypeSpec
	o    Options
	svc  *services
	d    *wasm.Driver
}

var _ sdktest.Target = (*target)(nil)

func (t *target) Open(ctx context.Context, h *sdktest.Host, req sdk.OpenRequest) (sdktest.Opened, error) {
	h.Reg = t.svc.reg
	t.svc.add(req.ID, h)
	in, err := t.d.Open(ctx, t.spec, plugins.ResourceSpec{
		ID: req.ID, Name: req.Name, Properties: req.Properties, DeadlockTimeout: t.o.DeadlockTimeout,
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

func (t *target) Close(ctx context.Context) error { return t.d.Close(ctx) }

// services routes each resource's calls to its sdktest.Host.
type services struct {
	reg *sdktest.MemRegistry

	mu    sync.Mutex
	hosts map[string]*sdktest.Host
}

var _ plugins.Services = (*services)(nil)

func (s *services) add(id string, h *sdktest.Host) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hosts[id] = h
}

func (s *services) host(r plugins.Ref) (*sdktest.Host, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hosts[r.ID]
	if !ok {
		return nil, fmt.Errorf("%w: wasmtest: no host for resource %q", sdk.ErrNotFound, r.ID)
	}
	return h, nil
}

func (s *services) Log(r plugins.Ref, level sdk.LogLevel, msg string, kv ...any) {
	if h, err := s.host(r); err == nil {
		h.Log(level, msg, kv...)
	}
}

func (s *services) Progress(ctx context.Context, r plugins.Ref, msg string) error {
	h, err := s.host(r)
	if err != nil {
		return err
	}
	return h.Progress(ctx, msg)
}

func (s *services) Registry() sdk.Registry { return s.reg }

func (s *services) Control(ctx context.Context, r plugins.Ref, code sdk.ControlCode, in, out []byte) (int, error) {
	h, err := s.host(r)
	if err != nil {
		return 0, err
	}
	return h.Control(ctx, code, in, out)
}

func (s *services) FencingToken(ctx context.Context, r plugins.Ref) (int64, error) {
	h, err := s.host(r)
	if err != nil {
		return 0, err
	}
	return h.FencingToken(ctx)
}
