package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

// A saver copies one checkpoint to etcd while its resource is online. It is
// the only writer of that checkpoint on this node, so saves are strictly
// ordered (seq grows by one per write) and never race each other.
//
// It reacts to registry (or keystore) notifications. A change after a quiet
// period is saved at once: read a consistent snapshot, encode, one fenced
// PutCheckpoint. Changes that arrive during a save or within SaveInterval
// of the start of the last one only mark the checkpoint dirty, and the next
// save (at the end of the interval) takes them all: a burst costs at most
// one etcd write per interval, and since every save reads the state as it
// is when the save starts, the last change of a burst is always stored. A
// snapshot equal to what was last stored is not written again.
//
// A save refused by fencing means another node owns the group now: the saver
// stops saving for good (the node is about to take the resource down). Any
// other failure is retried with backoff.
type saver struct {
	m      *Manager
	id     string
	name   string
	fence  model.Fence
	cp     *cpState
	src    source
	ctx    context.Context
	cancel context.CancelFunc
	sub    <-chan uint64
	reqs   chan saveReq
	done   chan struct{}
}

// errSaverStopped: the checkpoint is no longer watched (the resource let go
// of it, or it was removed).
var errSaverStopped = errors.New("no longer watched")

type saveReq struct {
	ctx   context.Context
	force bool // store even if unchanged
	final bool // exit after answering
	reply chan error
}

func newSaver(m *Manager, rs *resState, fence model.Fence, cp *cpState, src source) (*saver, error) {
	ctx, cancel := context.WithCancel(m.base)
	sub, err := src.subscribe(ctx, cp.entry.Path)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("checkpoint: watching %q for resource %q: %w", cp.entry.Path, rs.name, err)
	}
	s := &saver{m: m, id: rs.id, name: rs.name, fence: fence, cp: cp, src: src, ctx: ctx, cancel: cancel,
		sub: sub, reqs: make(chan saveReq), done: make(chan struct{})}
	go s.run()
	return s, nil
}

// stopNow ends the saver without saving and waits for it.
func (s *saver) stopNow() {
	s.cancel()
	<-s.done
}

// request asks for a save of everything committed so far (force: even if
// unchanged) and waits for its result; final also ends the saver.
func (s *saver) request(ctx context.Context, force, final bool) error {
	r := saveReq{ctx: ctx, force: force, final: final, reply: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.done:
		return fmt.Errorf("checkpoint: %s of resource %q: %w", s.cp.entry.FileName(), s.name, errSaverStopped)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// save stores the current state; lastStart is the start of the last etcd
// write (moved only when this save writes).
func (s *saver) save(ctx context.Context, force bool, lastStart *time.Time) (uint64, error) {
	start := time.Now()
	rev, wrote, err := s.m.storeRev(ctx, s.id, s.name, s.fence, s.cp, s.src, force)
	if wrote {
		*lastStart = start
	}
	return rev, err
}

func (s *saver) run() {
	defer close(s.done)
	var (
		stored    uint64 // revision of the local state last stored (or found unchanged)
		dirty     = true // changes between Restore and StartOnline are looked for once
		lastStart time.Time
		wait      <-chan time.Time
		failed    error // sticky: fenced
		backoff   = s.m.cfg.RetryInterval
	)
	seen := func(rev uint64, ok bool) {
		if !ok {
			s.sub = nil // registry closed or stopping: nothing more will come
			return
		}
		if rev > stored {
			dirty = true
		}
	}
	afterSave := func(rev uint64, err error) {
		switch {
		case err == nil:
			stored, dirty, backoff = max(stored, rev), false, s.m.cfg.RetryInterval
		case errors.Is(err, sdk.ErrFenced):
			failed = err
			s.m.cfg.Log.Error("checkpoint saves stopped: the group is owned elsewhere now", "resource", s.name, "checkpoint", s.cp.entry.FileName(), "error", err)
			s.m.event("checkpoint.save-failed", s.name, err.Error(), map[string]string{"resource_id": s.id, "checkpoint": s.cp.entry.FileName(), "path": s.cp.entry.Path})
		case s.ctx.Err() != nil:
		default:
			s.m.cfg.Log.Warn("checkpoint save failed; retrying", "resource", s.name, "checkpoint", s.cp.entry.FileName(), "retry_in", backoff, "error", err)
			wait = time.After(backoff)
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	for s.ctx.Err() == nil {
		if dirty && wait == nil && failed == nil {
			if d := s.m.cfg.SaveInterval - time.Since(lastStart); d > 0 && !lastStart.IsZero() {
				wait = time.After(d)
			} else {
				afterSave(s.save(s.ctx, false, &lastStart))
				continue
			}
		}
		select {
		case rev, ok := <-s.sub:
			seen(rev, ok)
		case <-wait:
			wait = nil
		case r := <-s.reqs:
			// Every write committed before the request was notified before
			// the request was sent: take what is waiting in the slot.
			select {
			case rev, ok := <-s.sub:
				seen(rev, ok)
			default:
			}
			err := failed
			if err == nil && (dirty || r.force) {
				ctx, cancel := context.WithCancel(s.ctx)
				stop := context.AfterFunc(r.ctx, cancel)
				var rev uint64
				rev, err = s.save(ctx, r.force, &lastStart)
				stop()
				cancel()
				afterSave(rev, err)
				if err != nil && s.ctx.Err() != nil && r.ctx.Err() == nil {
					// The saver was stopped mid-save (the checkpoint was
					// removed, or the resource let go): nothing is owed.
					err = nil
				}
			}
			r.reply <- err
			if r.final {
				return
			}
		case <-s.ctx.Done():
			return
		}
	}
}
