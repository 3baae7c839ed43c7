package pluginstest

import (
	"context"
	"fmt"
	"sync"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
)

// Hosts is a plugins.Services that routes each resource's calls to the
// sdktest.Host registered for it, with one registry shared by all resources
// as on a node. The conformance targets of the transports use it.
type Hosts struct {
	reg *sdktest.MemRegistry

	mu    sync.Mutex
	hosts map[string]*sdktest.Host
}

var _ plugins.Services = (*Hosts)(nil)

// NewHosts returns an empty router with a fresh shared registry.
func NewHosts() *Hosts {
	return &Hosts{reg: sdktest.NewMemRegistry(), hosts: map[string]*sdktest.Host{}}
}

// Add routes resource id to h and makes h use the shared registry.
func (s *Hosts) Add(id string, h *sdktest.Host) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h.Reg = s.reg
	s.hosts[id] = h
}

func (s *Hosts) host(r model.Ref) (*sdktest.Host, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hosts[r.ID]
	if !ok {
		return nil, fmt.Errorf("%w: pluginstest: no host for resource %q", sdk.ErrNotFound, r.ID)
	}
	return h, nil
}

// Log implements plugins.Services.
func (s *Hosts) Log(r model.Ref, level sdk.LogLevel, msg string, kv ...any) {
	if h, err := s.host(r); err == nil {
		h.Log(level, msg, kv...)
	}
}

// Progress implements plugins.Services.
func (s *Hosts) Progress(ctx context.Context, r model.Ref, msg string) error {
	h, err := s.host(r)
	if err != nil {
		return err
	}
	return h.Progress(ctx, msg)
}

// Registry implements plugins.Services.
func (s *Hosts) Registry() sdk.Registry { return s.reg }

// Control implements plugins.Services.
func (s *Hosts) Control(ctx context.Context, r model.Ref, code sdk.ControlCode, in, out []byte) (int, error) {
	h, err := s.host(r)
	if err != nil {
		return 0, err
	}
	return h.Control(ctx, code, in, out)
}

// FencingToken implements plugins.Services.
func (s *Hosts) FencingToken(ctx context.Context, r model.Ref) (int64, error) {
	h, err := s.host(r)
	if err != nil {
		return 0, err
	}
	return h.FencingToken(ctx)
}
