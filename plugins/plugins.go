// Package plugins is the host side of resource types: it loads go-plugin
// executables and WebAssembly modules behind one Instance interface that the
// monitor drives, and serves each resource the host services it may call
// back into. It never imports the checkpoint or quorum packages: clusterd
// wires Services to them.
package plugins

import (
	"context"
	"errors"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

// Errors at the plugin boundary. Transport failures of any kind become
// ErrPluginExited; errors the resource itself returned pass through with
// their sdk sentinels intact.
var (
	// ErrPluginExited reports that the plugin process or WASM instance is gone
	// (crashed, killed, trapped); the call did not complete.
	ErrPluginExited = errors.New("plugins: resource type host exited")
	// ErrDeadlock reports an entry point that exceeded DeadlockTimeout; the
	// host process (or instance) was killed and its resources must be failed.
	ErrDeadlock = errors.New("plugins: entry point exceeded DeadlockTimeout")
	// ErrChecksum reports a binary or module whose sha256 differs from the pin.
	ErrChecksum = errors.New("plugins: sha256 mismatch")
	// ErrBadModule reports a plugin or module that cannot be loaded: not a
	// resmon resource type, wrong protocol/ABI version, missing export.
	ErrBadModule = errors.New("plugins: not a usable resource type")
	// ErrCapability reports a WASM guest asking for something it was not granted.
	ErrCapability = errors.New("plugins: capability not granted")
)

// TypeSpec describes a resource type to load (from the cluster database).
type TypeSpec struct {
	Name   string
	Kind   string // "plugin" or "wasm"
	Path   string
	SHA256 string // hex; empty: not pinned
	// MemoryLimitPages bounds each WASM instance (64 KiB pages; 0: default).
	MemoryLimitPages uint32
	// Commands a WASM guest may run as child processes; Dirs it may open.
	Commands []string
	Dirs     []string
}

// ResourceSpec describes one resource to open.
type ResourceSpec struct {
	ID         string
	Name       string
	Properties map[string]any // private properties, handed to Open
	// SeparateMonitor gives the resource a plugin process of its own.
	SeparateMonitor bool
	// DeadlockTimeout bounds every entry point; past it the host process is
	// killed (WASM: the instance is discarded) and ErrDeadlock returned.
	DeadlockTimeout time.Duration
}

// Services are what the node offers resources. Implementations must answer
// without calling into any resource (so a resource may call them from inside
// any entry point) and be safe for concurrent use.
type Services interface {
	// Log writes a resource's log line into the node log.
	Log(r model.Ref, level sdk.LogLevel, msg string, kv ...any)
	// Progress restarts the PendingTimeout clock of r's pending Online/Offline.
	Progress(ctx context.Context, r model.Ref, msg string) error
	// Registry is the node-local registry.
	Registry() sdk.Registry
	// Control answers a cluster control code (the checkpoint codes) for r,
	// with the out-buffer semantics of sdk.Host.Control.
	Control(ctx context.Context, r model.Ref, code sdk.ControlCode, in, out []byte) (int, error)
	// FencingToken is the token of the current ownership of r's group.
	FencingToken(ctx context.Context, r model.Ref) (int64, error)
}

// Instance is one opened resource as the monitor sees it.
//
// Concurrency: calls other than Terminate are made one at a time (the
// group's executor, or the resource's health poller while it is online);
// Terminate may run concurrently with any of them and makes it return.
// Close comes last, never while Terminate runs.
type Instance interface {
	Online(ctx context.Context) error
	Offline(ctx context.Context) error
	Terminate(ctx context.Context) error
	LooksAlive(ctx context.Context) (bool, error)
	IsAlive(ctx context.Context) (bool, error)
	// Control forwards a resource-specific control code. Checkpoint codes are
	// refused here: they belong to the host (Services.Control).
	Control(ctx context.Context, code sdk.ControlCode, in []byte) ([]byte, error)
	Close(ctx context.Context) error
}

// Driver loads one kind of resource type.
//
// Concurrency: Open is called from many groups' executors at once and must
// be safe for concurrent use; Close is called once, after the monitor has
// stopped.
type Driver interface {
	// Open opens resource r of type t, loading t first if needed.
	Open(ctx context.Context, t TypeSpec, r ResourceSpec) (Instance, error)
	// Close stops every plugin process / runtime the driver started.
	Close(ctx context.Context) error
}

// Loader is an optional capability of a Driver: it prepares a type ahead
// of its first Open (a WASM module is compiled), so the monitor can load
// every type at start and keep that cost out of failovers.
type Loader interface {
	Load(ctx context.Context, t TypeSpec) error
}

// Deadliner is an optional capability of a Driver whose resources run code
// outside clusterd's own process (plugin processes, child processes): it
// learns the node's self-fencing deadline at every lease renewal and makes
// that code stop by itself when the deadline passes unrenewed, even while
// clusterd is stopped or dead. SetDeadline must not block; a deadline
// earlier than one already set is ignored.
type Deadliner interface {
	SetDeadline(deadline time.Time)
}

// Describer is an optional capability of a Driver: it asks a type for the
// private properties its resources take (sdk.Describer). described is
// false when the type does not describe them.
type Describer interface {
	Describe(ctx context.Context, t TypeSpec) (specs []sdk.PropertySpec, described bool, err error)
}
