// Package sdk is what a resource type author imports: the contract a
// resource type implements (Open, then Online, Offline, Terminate,
// LooksAlive, IsAlive, Close and optionally Control) and the Host it is
// handed to log, report progress, use the node-local registry and issue the
// checkpoint control codes. It uses plain Go types only; the transports live
// in sdk/plugin (go-plugin) and sdk/wasm (WebAssembly guests).
package sdk

import (
	"context"
	"errors"
	"fmt"
)

// ResourceType opens resources of one type. A type is loaded once per node
// (or once per resource when its SeparateMonitor property is set) and may
// open many resources.
type ResourceType interface {
	// Open prepares one resource instance from its private properties. It
	// must not bring the resource online. host stays valid until Close returns.
	Open(ctx context.Context, host Host, r OpenRequest) (Resource, error)
}

// OpenRequest describes the resource being opened.
type OpenRequest struct {
	ID         string         // the resource's GUID, stable across nodes
	Name       string         // the resource's name, unique in the cluster
	Properties map[string]any // the private properties, as in cluster.toml
}

// Resource is one opened resource. The monitor calls at most one of Online,
// Offline, LooksAlive, IsAlive, Control and Close at a time; Terminate may
// arrive while any of them is in flight and must make it return promptly.
type Resource interface {
	// Online brings the resource online. A long start reports Host.Progress
	// regularly: PendingTimeout is measured between progress reports.
	Online(ctx context.Context) error
	// Offline takes the resource offline gracefully.
	Offline(ctx context.Context) error
	// Terminate takes the resource offline at once, without grace.
	Terminate(ctx context.Context) error
	// LooksAlive is the cheap, frequent health check.
	LooksAlive(ctx context.Context) bool
	// IsAlive is the thorough health check, run less often and whenever
	// LooksAlive says false.
	IsAlive(ctx context.Context) bool
	// Close releases what Open acquired; the resource is offline by then.
	Close(ctx context.Context) error
}

// Controller is implemented by resources that answer control codes of their
// own. Checkpoint control codes never reach it: the host answers them.
type Controller interface {
	// Control handles code with input in and returns the output. To follow
	// the Windows convention for a too-small caller buffer, return a
	// *MoreDataError from a Host.Control call unchanged.
	Control(ctx context.Context, code ControlCode, in []byte) ([]byte, error)
}

// HealthChecker is implemented by resources whose health checks can say
// why they failed. When a resource implements it, the go-plugin host calls
// CheckHealth instead of LooksAlive (deep false) and IsAlive (deep true);
// the WASM host does not, so a type keeps LooksAlive and IsAlive too. nil
// means alive. An error fails the resource at once (a failed cheap check
// does not wait for the thorough one), its message becomes the resource's
// error, and a class given with BanNode or FailEverywhere decides what
// follows (see FailureClass).
type HealthChecker interface {
	CheckHealth(ctx context.Context, deep bool) error
}

// Host is the node's side, handed to every opened resource.
//
// All methods are safe to call from any goroutine, including from inside
// Open, Online, Offline, Control and Terminate: the host answers them without
// calling back into the resource, so they cannot deadlock.
type Host interface {
	// Log writes a structured log line into the node's log, tagged with the
	// resource's name. kv alternates keys and values.
	Log(level LogLevel, msg string, kv ...any)
	// Progress reports that a long Online or Offline is still advancing; each
	// report restarts the PendingTimeout clock.
	Progress(ctx context.Context, msg string) error
	// Registry is the node-local registry.
	Registry() Registry
	// Control issues a cluster control code for this resource, such as the
	// checkpoint codes. out is the caller's buffer: the result is copied into
	// it and its length returned; when out is too small, Control returns a
	// *MoreDataError with the size needed and copies nothing.
	Control(ctx context.Context, code ControlCode, in, out []byte) (int, error)
	// FencingToken is the token of the current ownership of the resource's
	// group: hand it to external systems so they can reject a stale owner.
	FencingToken(ctx context.Context) (int64, error)
}

// LogLevel is the level of a Host.Log line.
type LogLevel int

// Log levels.
const (
	LevelTrace LogLevel = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

// ControlCode is a cluster control code, with the Windows numbers.
type ControlCode uint32

// Checkpoint control codes. They are handled by the host and never passed to
// the resource type. Input of ADD/DELETE is the UTF-8 key path (registry) or
// container name Type\Provider\Container (crypto); output of GET is the list
// of checkpoints, each NUL-terminated, followed by one more NUL (a multi-string).
const (
	AddRegistryCheckpoint    ControlCode = 0x014000A2
	DeleteRegistryCheckpoint ControlCode = 0x014000A6
	GetRegistryCheckpoints   ControlCode = 0x010000A9
	AddCryptoCheckpoint      ControlCode = 0x014000AE
	DeleteCryptoCheckpoint   ControlCode = 0x014000B2
	GetCryptoCheckpoints     ControlCode = 0x010000B5
)

// FlushCheckpoints is resmon's own host-handled code (Windows has none like
// it): it returns once every change to the resource's checkpointed registry
// keys and key containers made before the call is stored in the quorum
// under the group's current fencing token, without waiting for the save
// interval. A resource uses it to acknowledge state to its own clients only
// once that state would survive a failover. It takes no input and writes no
// output; sdk.ErrFenced means this node no longer stores the resource's
// checkpoints (the resource is not online here, or the group has moved on),
// so nothing written since the last confirmed flush is known to be kept.
//
// # Notes
//
// The number lies in the range Windows keeps for the cluster's internal
// codes (bit 20), apart from the codes a resource type defines for itself
// (bit 21), so it cannot clash with either.
const FlushCheckpoints ControlCode = 0x01100401

// SetPrivateProperties is sent by the monitor to an open resource whose
// private properties an operator changed (`cluster resource NAME set
// -private KEY=VALUE`), with the Windows number of
// CLUSCTL_RESOURCE_SET_PRIVATE_PROPERTIES. The input is the complete new
// set as one JSON object. A resource that applies them where it is (online
// or not) returns nil and uses them from then on; any error, such as
// ErrInvalidFunction from a resource that answers no control codes, leaves
// the resource as it is, and the new set reaches the type at the resource's
// next Open, which the monitor makes before the next Online.
const SetPrivateProperties ControlCode = 0x01400086

// IsTypeCode reports whether c lies in the range of codes a resource type
// defines for itself: the resource object in the top byte (0x01) and the
// user bit (bit 21) set, the cluster's internal bit (bit 20) clear. Bit 22
// marks codes that change something (Windows' modify bit), bits 0-1 the
// access. So 0x01200000-0x012FFFFF and 0x01600000-0x016FFFFF are the
// type's own; Windows and resmon never define codes there.
func (c ControlCode) IsTypeCode() bool {
	return c&0xFF000000 == 0x01000000 && c&(1<<21) != 0 && c&(1<<20) == 0 && c&(1<<23) == 0
}

// IsCheckpointCode reports whether c is one of the checkpoint control codes
// the host answers: the six Windows ones and FlushCheckpoints.
func (c ControlCode) IsCheckpointCode() bool {
	switch c {
	case AddRegistryCheckpoint, DeleteRegistryCheckpoint, GetRegistryCheckpoints,
		AddCryptoCheckpoint, DeleteCryptoCheckpoint, GetCryptoCheckpoints, FlushCheckpoints:
		return true
	}
	return false
}

func (c ControlCode) String() string {
	switch c {
	case AddRegistryCheckpoint:
		return "ADD_REGISTRY_CHECKPOINT"
	case DeleteRegistryCheckpoint:
		return "DELETE_REGISTRY_CHECKPOINT"
	case GetRegistryCheckpoints:
		return "GET_REGISTRY_CHECKPOINTS"
	case AddCryptoCheckpoint:
		return "ADD_CRYPTO_CHECKPOINT"
	case DeleteCryptoCheckpoint:
		return "DELETE_CRYPTO_CHECKPOINT"
	case GetCryptoCheckpoints:
		return "GET_CRYPTO_CHECKPOINTS"
	case FlushCheckpoints:
		return "FLUSH_CHECKPOINTS"
	case SetPrivateProperties:
		return "SET_PRIVATE_PROPERTIES"
	}
	return fmt.Sprintf("0x%08X", uint32(c))
}

// Errors with the Windows meanings. Transports carry them across the process
// or sandbox boundary so errors.Is works on either side.
var (
	ErrAlreadyExists    = errors.New("already exists")                // ERROR_ALREADY_EXISTS
	ErrNotFound         = errors.New("not found")                     // ERROR_FILE_NOT_FOUND
	ErrMoreData         = errors.New("more data is available")        // ERROR_MORE_DATA
	ErrInvalidFunction  = errors.New("control code not handled")      // ERROR_INVALID_FUNCTION
	ErrInvalidParameter = errors.New("invalid parameter")             // ERROR_INVALID_PARAMETER
	ErrAccessDenied     = errors.New("access denied by the host")     // ERROR_ACCESS_DENIED (capabilities)
	ErrFenced           = errors.New("node no longer owns the group") // the fencing token is stale
)

// MoreDataError says the output buffer was too small; Needed is the size
// that would have been enough. errors.Is(err, ErrMoreData) holds.
type MoreDataError struct{ Needed int }

func (e *MoreDataError) Error() string {
	return fmt.Sprintf("more data is available: %d bytes needed", e.Needed)
}

// Is makes errors.Is(err, ErrMoreData) true.
func (e *MoreDataError) Is(target error) bool { return target == ErrMoreData }
