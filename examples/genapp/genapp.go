// Package genapp is the "Generic Application" resource type: it runs one
// command line as a process group, watches that the process stays up
// (optionally through a health probe), and stops it with a signal and a
// grace period. The same code builds as a go-plugin executable (cmd/genapp)
// and as a WASM module (examples/genapp-wasm), where the host starts the
// processes from the type's allowed commands.
package genapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/resmon/resmon/sdk"
)

// Type is the Generic Application resource type.
type Type struct{}

var _ sdk.ResourceType = Type{}

// Open implements sdk.ResourceType: it checks the properties and starts
// nothing.
func (Type) Open(_ context.Context, host sdk.Host, r sdk.OpenRequest) (sdk.Resource, error) {
	c, err := ParseConfig(r)
	if err != nil {
		return nil, err
	}
	return &Resource{host: host, name: r.Name, cfg: c}, nil
}

// Polling intervals: how often a pending Online probes, and how often a
// stop that is under way reports progress. A pending Online reports
// progress only when its probe's answer changes: a probe that fails the same
// way is no progress, so PendingTimeout (measured between reports) ends an
// application that never becomes healthy.
const (
	probeInterval    = 100 * time.Millisecond
	progressInterval = time.Second
	probeTimeout     = 5 * time.Second // one probe, whatever the call's deadline
)

// ErrExited reports that the application exited while it had to run.
var ErrExited = errors.New("the application exited")

// Resource is one Generic Application.
type Resource struct {
	host sdk.Host
	name string
	cfg  *Config

	// mu guards proc only, and is never held while waiting: Terminate must
	// get through while Online or Offline waits.
	mu   sync.Mutex
	proc process
}

var _ sdk.Resource = (*Resource)(nil)

func (r *Resource) current() process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

// take removes p as the current process if it still is.
func (r *Resource) take(p process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == p {
		r.proc = nil
	}
}

func (r *Resource) errorf(format string, a ...any) error {
	return fmt.Errorf("genapp: resource %q: "+format, append([]any{r.name}, a...)...)
}

// Online implements sdk.Resource: it starts the command and, with a health
// probe, waits until the probe passes, reporting progress meanwhile.
func (r *Resource) Online(ctx context.Context) error {
	p := r.current()
	if p == nil || !p.Running() {
		_ = r.host.Progress(ctx, "starting "+r.cfg.Command[0])
		var err error
		if p, err = r.start(); err != nil {
			return err
		}
	}
	if !r.cfg.HasProbe() {
		return nil
	}
	return r.awaitHealthy(ctx, p)
}

// start starts the application as the current process; an exited one is
// reaped first.
func (r *Resource) start() (process, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		_ = r.proc.Kill(context.Background()) // exited: only stragglers are left
	}
	p, err := start(r.host, r.cfg.Command, r.cfg)
	if err != nil {
		r.proc = nil
		return nil, r.errorf("starting %s: %w", r.cfg.Command[0], err)
	}
	r.proc = p
	return p, nil
}

// awaitHealthy probes until the probe passes, the process exits or ctx ends.
func (r *Resource) awaitHealthy(ctx context.Context, p process) error {
	var err error
	reported := ""
	for {
		if !p.Running() {
			r.take(p)
			_ = p.Kill(ctx) // what is left of the group
			if err == nil {
				return r.errorf("%w with status %d before its health probe ran", ErrExited, p.ExitCode())
			}
			return r.errorf("%w with status %d before its health probe passed (last probe: %v)", ErrExited, p.ExitCode(), err)
		}
		if err = r.probe(ctx); err == nil {
			r.host.Log(sdk.LevelInfo, "health probe passed; online")
			return nil
		}
		if msg := err.Error(); msg != reported {
			reported = msg
			_ = r.host.Progress(ctx, "waiting for the health probe: "+msg)
		}
		if !p.Wait(ctx, probeInterval) && ctx.Err() != nil {
			r.take(p)
			_ = p.Kill(context.Background())
			return r.errorf("waiting for the health probe: %w (last probe: %v)", ctx.Err(), err)
		}
	}
}

// Offline implements sdk.Resource: StopSignal to the process group, up to
// StopTimeout for it to exit, then SIGKILL for whatever is left.
func (r *Resource) Offline(ctx context.Context) error {
	p := r.current()
	if p == nil {
		return nil
	}
	defer r.take(p)
	if p.Running() {
		if err := p.Signal(r.cfg.StopSignal); err != nil {
			r.host.Log(sdk.LevelWarn, "sending the stop signal failed", "signal", "SIG"+r.cfg.StopSignal, "err", err)
		}
		_ = r.host.Progress(ctx, "sent SIG"+r.cfg.StopSignal)
		deadline := time.Now().Add(r.cfg.StopTimeout)
		for p.Running() && ctx.Err() == nil {
			left := time.Until(deadline)
			if left <= 0 {
				r.host.Log(sdk.LevelWarn, "the application did not stop within StopTimeout; sending SIGKILL",
					"signal", "SIG"+r.cfg.StopSignal, "timeout", r.cfg.StopTimeout.String())
				break
			}
			if !p.Wait(ctx, min(left, progressInterval)) {
				_ = r.host.Progress(ctx, "waiting for the application to stop")
			}
		}
	}
	// Also when the leader exited on its own: the rest of its group goes.
	if err := p.Kill(ctx); err != nil {
		return r.errorf("stopping: %w", err)
	}
	r.host.Log(sdk.LevelInfo, "offline", "status", p.ExitCode())
	return nil
}

// Terminate implements sdk.Resource: SIGKILL to the process group at once.
func (r *Resource) Terminate(ctx context.Context) error {
	p := r.current()
	if p == nil {
		return nil
	}
	r.take(p)
	if err := p.Kill(ctx); err != nil {
		return r.errorf("terminating: %w", err)
	}
	return nil
}

// LooksAlive implements sdk.Resource: the process has not exited.
func (r *Resource) LooksAlive(context.Context) bool {
	p := r.current()
	return p != nil && p.Running()
}

// IsAlive implements sdk.Resource: LooksAlive, and the health probe passes.
func (r *Resource) IsAlive(ctx context.Context) bool {
	if !r.LooksAlive(ctx) {
		return false
	}
	if err := r.probe(ctx); err != nil {
		r.host.Log(sdk.LevelWarn, "health probe failed", "err", err)
		return false
	}
	return true
}

// Close implements sdk.Resource. The resource is offline by then; a
// process still running (the monitor gave up on Offline) is killed.
func (r *Resource) Close(ctx context.Context) error {
	return r.Terminate(ctx)
}

// probe runs the configured health probe; nil without one.
func (r *Resource) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	switch {
	case len(r.cfg.HealthCommand) > 0:
		return r.probeCommand(ctx)
	case r.cfg.HealthTCP != "" || r.cfg.HealthHTTP != "":
		return probeNet(ctx, r.cfg)
	}
	return nil
}

// probeCommand runs HealthCommand and wants exit status 0.
func (r *Resource) probeCommand(ctx context.Context) error {
	p, err := start(r.host, r.cfg.HealthCommand, r.cfg)
	if err != nil {
		return fmt.Errorf("starting %s: %w", r.cfg.HealthCommand[0], err)
	}
	exited := p.Wait(ctx, probeTimeout)
	_ = p.Kill(context.Background())
	switch {
	case !exited:
		return fmt.Errorf("%s did not finish within %s", r.cfg.HealthCommand[0], probeTimeout)
	case p.ExitCode() != 0:
		return fmt.Errorf("%s exited with status %d", r.cfg.HealthCommand[0], p.ExitCode())
	}
	return nil
}
