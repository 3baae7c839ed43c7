// Package pluginstest provides a real in-memory plugins.Services for tests of
// the plugin hosts: a shared registry, per-resource checkpoint lists with the
// host's control-code semantics, and recorded logs and progress reports.
package pluginstest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
)

// Services records what resources asked of the node.
type Services struct {
	Reg         *sdktest.MemRegistry
	Checkpoints *sdktest.Checkpoints

	mu       sync.Mutex
	tokens   map[string]int64
	logs     []string
	progress map[string]int
	notify   chan struct{} // closed and replaced on every progress report
}

var _ plugins.Services = (*Services)(nil)

// New returns empty services.
func New() *Services {
	return &Services{
		Reg: sdktest.NewMemRegistry(), Checkpoints: sdktest.NewCheckpoints(),
		tokens: map[string]int64{}, progress: map[string]int{}, notify: make(chan struct{}),
	}
}

// Log implements plugins.Services.
func (s *Services) Log(r model.Ref, level sdk.LogLevel, msg string, kv ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d %s", r.Name, level, msg)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	s.logs = append(s.logs, b.String())
}

// Progress implements plugins.Services.
func (s *Services) Progress(_ context.Context, r model.Ref, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progress[r.ID]++
	close(s.notify)
	s.notify = make(chan struct{})
	return nil
}

// Registry implements plugins.Services.
func (s *Services) Registry() sdk.Registry { return s.Reg }

// Control implements plugins.Services for the checkpoint codes.
func (s *Services) Control(_ context.Context, r model.Ref, code sdk.ControlCode, in, out []byte) (int, error) {
	return s.Checkpoints.Control(r.ID, code, in, out)
}

// FencingToken implements plugins.Services; unset resources have token 1.
func (s *Services) FencingToken(_ context.Context, r model.Ref) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[r.ID]; ok {
		return t, nil
	}
	return 1, nil
}

// SetFencingToken sets the token reported for resource id.
func (s *Services) SetFencingToken(id string, t int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[id] = t
}

// Logs returns the recorded log lines ("<resource> <level> <msg> k=v ...").
func (s *Services) Logs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.logs...)
}

// ProgressCount returns how many progress reports resource id made, and a
// channel that closes at the next report of any resource.
func (s *Services) ProgressCount(id string) (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress[id], s.notify
}
