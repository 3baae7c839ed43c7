package checkpoint

import (
	"errors"
	"fmt"

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
	// ErrClosed reports a call on a closed Manager.
	ErrClosed = errors.New("checkpoint: manager is closed")
)

// RecoverCommand is the operator command that re-creates the checkpoints of
// the named resource from the registry of the node that owns it.
func RecoverCommand(resource string) string {
	return fmt.Sprintf("cluster checkpoint recover --resource %q", resource)
}
