package model

import (
	"errors"
	"fmt"
	"strings"
)

// CheckpointKind tells registry checkpoints (.CPT) from crypto ones (.CPR).
type CheckpointKind string

// Checkpoint kinds.
const (
	RegistryCheckpoint CheckpointKind = "CPT"
	CryptoCheckpoint   CheckpointKind = "CPR"
)

// CheckpointFileName is the Windows-style name of a checkpoint, "00000001.CPT".
func CheckpointFileName(kind CheckpointKind, number uint32) string {
	return fmt.Sprintf("%08x.%s", number, kind)
}

// ParseCheckpointFileName reverses CheckpointFileName.
func ParseCheckpointFileName(name string) (CheckpointKind, uint32, error) {
	base, ext, ok := strings.Cut(name, ".")
	if !ok || len(base) != 8 || (ext != string(RegistryCheckpoint) && ext != string(CryptoCheckpoint)) {
		return "", 0, fmt.Errorf("model: %q is not a checkpoint name like 00000001.CPT", name)
	}
	var n uint32
	if _, err := fmt.Sscanf(base, "%08x", &n); err != nil {
		return "", 0, fmt.Errorf("model: %q is not a checkpoint name like 00000001.CPT", name)
	}
	return CheckpointKind(ext), n, nil
}

// ErrCheckpointHold reports checkpoint data that a resource must not come
// online with until an operator decides: it is corrupt, it was saved and is
// now missing, or a backup restore put back a copy that may be older than
// the registry it would replace. The problem is the cluster's, not the
// node's, so the group neither restarts the resource nor fails over: it
// waits for a recover or an accept.
var ErrCheckpointHold = errors.New("checkpoint data needs an operator's decision")
