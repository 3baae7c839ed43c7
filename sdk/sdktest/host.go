package sdktest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/resmon/resmon/sdk"
)

// Host is an in-memory sdk.Host for one resource: logs and progress reports
// are recorded, the registry and checkpoint lists live in memory.
type Host struct {
	ResourceID  string
	Reg         *MemRegistry
	Checkpoints *Checkpoints

	mu       sync.Mutex
	token    int64
	logs     []string
	progress []string
}

var _ sdk.Host = (*Host)(nil)

// NewHost returns a host for resource id with a fresh registry and
// checkpoint lists and fencing token 1.
func NewHost(id string) *Host {
	return &Host{ResourceID: id, Reg: NewMemRegistry(), Checkpoints: NewCheckpoints(), token: 1}
}

// Log implements sdk.Host.
func (h *Host) Log(level sdk.LogLevel, msg string, kv ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", level, msg)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	h.logs = append(h.logs, b.String())
}

// Progress implements sdk.Host.
func (h *Host) Progress(_ context.Context, msg string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.progress = append(h.progress, msg)
	return nil
}

// Registry implements sdk.Host.
func (h *Host) Registry() sdk.Registry { return h.Reg }

// Control implements sdk.Host for the checkpoint codes.
func (h *Host) Control(_ context.Context, code sdk.ControlCode, in, out []byte) (int, error) {
	return h.Checkpoints.Control(h.ResourceID, code, in, out)
}

// FencingToken implements sdk.Host.
func (h *Host) FencingToken(context.Context) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.token, nil
}

// SetFencingToken changes the token the host reports.
func (h *Host) SetFencingToken(t int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.token = t
}

// Logs returns the log lines recorded so far ("<level> <msg> k=v ...").
func (h *Host) Logs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.logs...)
}

// ProgressReports returns the progress messages recorded so far.
func (h *Host) ProgressReports() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.progress...)
}
