package checkpoint

import (
	"errors"
	"fmt"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

var (
	// ErrCorrupt reports checkpoint data that fails verification (a checksum,
	// the format, or the identity it carries). Corrupt data is never
	// restored; the error says how to re-create it from the owner's registry.
	ErrCorrupt = errors.New("checkpoint: checkpoint data is corrupt")
	// ErrNoCryptoKey reports a crypto checkpoint on a node that has no
	// cluster key (cluster.crypto_key_file) or no keystore.
	ErrNoCryptoKey = errors.New("checkpoint: crypto checkpoints need the cluster key: set cluster.crypto_key_file in cluster.toml (32 bytes, or 64 hex digits, mode 0600) on every node")
	// ErrWrongCryptoKey reports a CPR sealed under another cluster key.
	ErrWrongCryptoKey = errors.New("checkpoint: crypto checkpoint was sealed with a different cluster key")
	// ErrOverlap reports a checkpoint refused because it equals, contains or
	// lies inside another checkpoint (rule 7 of RULES.md); the message names the
	// resource holding the other one.
	ErrOverlap = fmt.Errorf("checkpoint: overlapping checkpoint: %w", sdk.ErrInvalidParameter)
	// ErrNotRestored reports StartOnline without a successful Restore of the
	// resource with the same fence on this node.
	ErrNotRestored = errors.New("checkpoint: resource was not restored on this node under this fence")
	// ErrOnline reports Restore of a resource that is online on this node.
	ErrOnline = errors.New("checkpoint: resource is online on this node")
	// ErrSuspended reports a flush while a resource's checkpoints are not
	// being stored: its record went away while it is online (deleted, or
	// being rewritten by a backup restore).
	ErrSuspended = errors.New("checkpoint: checkpoints are not being stored right now: the resource's record is away (a restore is rewriting it)")
	// ErrClosed reports a call on a closed Manager.
	ErrClosed = errors.New("checkpoint: manager is closed")
)

// Problems that hold a resource until an operator recovers or accepts its
// checkpoint (HoldError carries them).
var (
	// ErrStale reports data a backup restore put back, not yet recovered
	// from a registry or accepted.
	ErrStale = errors.New("checkpoint: checkpoint data was put back by a backup restore")
	// ErrLost reports a checkpoint whose data was stored once and is gone.
	ErrLost = errors.New("checkpoint: checkpoint data was saved and is now missing")
)

// HoldError is a checkpoint a resource must not come online with until an
// operator recovers it from a node's registry or accepts it. errors.Is
// matches model.ErrCheckpointHold and the problem (ErrCorrupt, ErrStale,
// ErrLost).
type HoldError struct {
	Resource   string // name
	Checkpoint string // "00000001.CPT"
	Path       string
	Problem    error // ErrCorrupt, ErrStale or ErrLost
	Detail     string
	Cause      error // what found the problem, if anything (quorum.ErrCorruptCheckpoint…)
}

// Unwrap returns the cause.
func (e *HoldError) Unwrap() error { return e.Cause }

func (e *HoldError) Error() string {
	what := map[error]string{ErrCorrupt: "is corrupt", ErrStale: "was put back by a backup restore and may be older than the registry it would replace",
		ErrLost: "was saved and is now missing from etcd"}[e.Problem]
	msg := fmt.Sprintf("checkpoint %s (%s) of resource %q %s", e.Checkpoint, e.Path, e.Resource, what)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg + fmt.Sprintf("; the resource waits for an operator: re-create it from the registry of the node that owns the group with %s (to use another node's registry, move the group there first), or accept it with %s",
		RecoverCommand(e.Resource), AcceptCommand(e.Resource))
}

// Is matches model.ErrCheckpointHold and the problem.
func (e *HoldError) Is(target error) bool {
	return target == model.ErrCheckpointHold || target == e.Problem
}

// AcceptCommand is the operator command that accepts a resource's held
// checkpoints as they are (a restored copy as current, missing or corrupt
// data replaced by the owner's registry as it is).
func AcceptCommand(resource string) string {
	return fmt.Sprintf("cluster checkpoint accept --resource %q", resource)
}

// RecoverCommand is the operator command that re-creates the checkpoints of
// the named resource from the registry of the node that owns it.
func RecoverCommand(resource string) string {
	return fmt.Sprintf("cluster checkpoint recover --resource %q", resource)
}
