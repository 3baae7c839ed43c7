package genapp

import (
	"context"
	"time"
)

// process is a started command and its process group. The go-plugin build
// runs it with os/exec; the WASM build asks the host to (sdk/wasm).
type process interface {
	// Running reports whether the process has not exited yet.
	Running() bool
	// ExitCode is the exit status once the process has exited; -1 when a
	// signal ended it.
	ExitCode() int
	// Signal sends the signal named like StopSignal ("TERM") to the group.
	Signal(name string) error
	// Wait waits up to d (and no longer than ctx) for the process to exit,
	// and reports whether it has.
	Wait(ctx context.Context, d time.Duration) bool
	// Kill sends SIGKILL to the group and waits for the process to be
	// reaped. It may be called more than once.
	Kill(ctx context.Context) error
}
