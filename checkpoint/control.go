package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/sdk"
)

// Ref names the resource a control code comes from. It has the fields of
// plugins.Ref, so clusterd converts one into the other:
//
//	func (s services) Control(ctx context.Context, r plugins.Ref, code sdk.ControlCode, in, out []byte) (int, error) {
//		return s.checkpoints.Control(ctx, checkpoint.Ref(r), code, in, out)
//	}
//
// Control answers the six checkpoint control codes for resource r, with the
// Windows semantics and the out-buffer convention of sdk.Host.Control (rule
// 8). It never calls into a resource, so a resource may issue these codes
// from inside any of its entry points.
//
//   - ADD_*: in is the key path (registry) or container name Type\Provider\Container
//     (crypto), UTF-8, optionally NUL-terminated. The checkpoint is added to the
//     cluster database; if the resource is online here its current local state
//     is stored at once and watched from then on. sdk.ErrAlreadyExists if the
//     resource has it; ErrOverlap (sdk.ErrInvalidParameter) if it equals,
//     contains or lies inside a checkpoint of any resource; ErrNoCryptoKey
//     for a crypto checkpoint on a node without the cluster key.
//   - DELETE_*: removes the checkpoint and its data in etcd (not the local
//     data); sdk.ErrNotFound if the resource does not have it.
//   - GET_*: writes the checkpoints as NUL-terminated UTF-8 strings followed
//     by one more NUL and returns the length; *sdk.MoreDataError{Needed} if
//     out is too small (nothing is copied then).
//
// FLUSH_CHECKPOINTS (sdk.FlushCheckpoints) returns 0 once every change to
// the resource's checkpoints committed before the call is stored under the
// tenure's fence; sdk.ErrFenced when the resource is not online on this node
// or a save was refused by the fence.
//
// Other codes are sdk.ErrInvalidFunction. ADD and DELETE return 0.
func (m *Manager) Control(ctx context.Context, r model.Ref, code sdk.ControlCode, in, out []byte) (int, error) {
	var kind model.CheckpointKind
	switch code {
	case sdk.FlushCheckpoints:
		if r.ID == "" {
			return 0, fmt.Errorf("checkpoint: control code %s: no resource id: %w", code, sdk.ErrInvalidParameter)
		}
		return 0, m.flush(ctx, r.ID, r.Name, "", true)
	case sdk.AddRegistryCheckpoint, sdk.DeleteRegistryCheckpoint, sdk.GetRegistryCheckpoints:
		kind = model.RegistryCheckpoint
	case sdk.AddCryptoCheckpoint, sdk.DeleteCryptoCheckpoint, sdk.GetCryptoCheckpoints:
		kind = model.CryptoCheckpoint
	default:
		return 0, fmt.Errorf("checkpoint: control code %s for resource %q: %w", code, r.Name, sdk.ErrInvalidFunction)
	}
	if r.ID == "" {
		return 0, fmt.Errorf("checkpoint: control code %s: no resource id: %w", code, sdk.ErrInvalidParameter)
	}
	if code == sdk.GetRegistryCheckpoints || code == sdk.GetCryptoCheckpoints {
		return m.getCheckpoints(ctx, r, code, kind, out)
	}
	path, err := controlPath(kind, in)
	if err != nil {
		return 0, fmt.Errorf("checkpoint: control code %s for resource %q: %w", code, r.Name, err)
	}
	if code == sdk.AddRegistryCheckpoint || code == sdk.AddCryptoCheckpoint {
		return 0, m.addCheckpoint(ctx, r, code, kind, path)
	}
	return 0, m.deleteCheckpoint(ctx, r, code, kind, path)
}

// controlPath reads the input of ADD/DELETE.
func controlPath(kind model.CheckpointKind, in []byte) (string, error) {
	s := strings.TrimRight(string(in), "\x00")
	if kind == model.CryptoCheckpoint {
		return ParseContainerName(s)
	}
	p, err := registry.ParsePath(s)
	if err == nil && p == "" {
		err = fmt.Errorf("%w: the root key cannot be checkpointed", registry.ErrInvalidPath)
	}
	return p, err
}

// mapStoreError gives a database error its sdk meaning.
func mapStoreError(code sdk.ControlCode, r model.Ref, err error) error {
	switch {
	case errors.Is(err, quorum.ErrCheckpointOverlap):
		return fmt.Errorf("%w: %s for resource %q: %w", ErrOverlap, code, r.Name, err)
	case errors.Is(err, quorum.ErrExists):
		return fmt.Errorf("checkpoint: %s for resource %q: %v: %w", code, r.Name, err, sdk.ErrAlreadyExists)
	case errors.Is(err, quorum.ErrNotFound):
		return fmt.Errorf("checkpoint: %s for resource %q: %v: %w", code, r.Name, err, sdk.ErrNotFound)
	}
	return fmt.Errorf("checkpoint: %s for resource %q: %w", code, r.Name, err)
}

func (m *Manager) addCheckpoint(ctx context.Context, r model.Ref, code sdk.ControlCode, kind model.CheckpointKind, path string) error {
	src, err := m.source(kind)
	if err != nil {
		return fmt.Errorf("checkpoint: %s %q for resource %q: %w", code, path, r.Name, err)
	}
	rs, err := m.lock(r.ID, r.Name, "")
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	e, err := m.cfg.Store.AddCheckpoint(ctx, r.ID, kind, path)
	if err != nil {
		return mapStoreError(code, r, err)
	}
	m.cfg.Log.Info("checkpoint added", "resource", r.Name, "checkpoint", e.FileName(), "path", path)
	if !rs.restored {
		return nil // the next Restore stores the local state (no data yet)
	}
	// Restored or online here: this node owns the group, so the current
	// local state becomes the checkpoint now.
	cp := &cpState{entry: e}
	if err := m.store(ctx, rs, rs.fence, cp, src, true); err != nil {
		return err
	}
	rs.cps[cpKey(e)] = cp
	if rs.online {
		return m.startSaver(rs, cp)
	}
	return nil
}

func (m *Manager) deleteCheckpoint(ctx context.Context, r model.Ref, code sdk.ControlCode, kind model.CheckpointKind, path string) error {
	rs, err := m.lock(r.ID, r.Name, "")
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	// Stop saving first, so no save re-creates the data after it is deleted.
	k := cpKey(quorum.CheckpointEntry{Kind: kind, Path: path})
	if cp := rs.cps[k]; cp != nil {
		if cp.saver != nil {
			cp.saver.stopNow()
			cp.saver = nil
		}
		delete(rs.cps, k)
	}
	e, err := m.cfg.Store.RemoveCheckpoint(ctx, r.ID, kind, path)
	if err != nil {
		return mapStoreError(code, r, err)
	}
	m.cfg.Log.Info("checkpoint deleted", "resource", r.Name, "checkpoint", e.FileName(), "path", e.Path)
	return nil
}

func (m *Manager) getCheckpoints(ctx context.Context, r model.Ref, code sdk.ControlCode, kind model.CheckpointKind, out []byte) (int, error) {
	rec, err := m.cfg.Store.Resource(ctx, r.ID)
	if err != nil {
		return 0, mapStoreError(code, r, err)
	}
	list := rec.Value.RegistryCheckpoints
	if kind == model.CryptoCheckpoint {
		list = rec.Value.CryptoCheckpoints
	}
	var b []byte
	for _, p := range list {
		b = append(append(b, p...), 0)
	}
	b = append(b, 0)
	if len(out) < len(b) {
		return 0, &sdk.MoreDataError{Needed: len(b)}
	}
	return copy(out, b), nil
}
