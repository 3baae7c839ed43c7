package checkpoint

import (
	"context"
	"errors"

	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

// snapshot is the local state of one checkpointed key or container.
type snapshot struct {
	rev      uint64 // registry or keystore revision it reflects
	absent   bool   // the key or container does not exist
	treeJSON []byte // registry: the subtree in canonical JSON
	material []byte // crypto
}

// source is where a checkpoint's local data lives: the registry for a CPT,
// the keystore for a CPR.
type source interface {
	read(ctx context.Context, path string) (snapshot, error)
	write(ctx context.Context, d Document) error
	subscribe(ctx context.Context, path string) (<-chan uint64, error)
}

type registrySource struct{ r *registry.Registry }

func (s registrySource) read(ctx context.Context, path string) (snapshot, error) {
	b, rev, err := s.r.SnapshotJSON(ctx, path, nil)
	if errors.Is(err, sdk.ErrNotFound) {
		return snapshot{rev: rev, absent: true}, nil
	}
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{rev: rev, treeJSON: b}, nil
}

func (s registrySource) write(ctx context.Context, d Document) error {
	return s.r.Replace(ctx, d.Path, d.Tree) // a nil tree (absent) deletes
}

func (s registrySource) subscribe(ctx context.Context, path string) (<-chan uint64, error) {
	return s.r.Subscribe(ctx, path)
}

type keystoreSource struct{ k *Keystore }

func (s keystoreSource) read(ctx context.Context, name string) (snapshot, error) {
	b, rev, err := s.k.read(ctx, name)
	if errors.Is(err, sdk.ErrNotFound) {
		return snapshot{rev: rev, absent: true}, nil
	}
	return snapshot{rev: rev, material: b}, err
}

func (s keystoreSource) write(ctx context.Context, d Document) error {
	if d.Absent {
		if err := s.k.Delete(ctx, d.Path); err != nil && !errors.Is(err, sdk.ErrNotFound) {
			return err
		}
		return nil
	}
	return s.k.Put(ctx, d.Path, d.Material)
}

func (s keystoreSource) subscribe(ctx context.Context, name string) (<-chan uint64, error) {
	return s.k.Subscribe(ctx, name)
}

// source returns where checkpoints of kind live on this node.
func (m *Manager) source(kind model.CheckpointKind) (source, error) {
	if kind == model.CryptoCheckpoint {
		if m.cfg.Keystore == nil || m.cfg.CryptoKey == nil {
			return nil, ErrNoCryptoKey
		}
		return keystoreSource{m.cfg.Keystore}, nil
	}
	return registrySource{m.cfg.Registry}, nil
}
