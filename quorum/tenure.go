package quorum

import (
	"context"
	"errors"
	"sync"

	"github.com/resmon/resmon/model"
)

// Tenure is one ownership of a group by a member, in the manner of an
// election won: its fence guards every owner-only write, and it ends with a
// handoff, a release, a fenced write (another tenure owns the group now) or
// the end of the member's lease. Its methods are safe for concurrent use.
type Tenure struct {
	s    *Store
	own  model.Ownership
	once sync.Once
	done chan struct{}
}

// Acquire makes this member's node the owner of group if nobody owns it
// (see Store.Acquire) and returns the tenure. If another node owns it the
// error is a *model.OwnedError.
func (m *Member) Acquire(ctx context.Context, group string) (*Tenure, error) {
	o, err := m.s.Acquire(ctx, m, group)
	if err != nil {
		return nil, err
	}
	t := &Tenure{s: m.s, own: o, done: make(chan struct{})}
	go func() {
		select {
		case <-m.done:
		case <-m.fenced:
		case <-t.done:
		}
		t.end()
	}()
	return t, nil
}

// Ownership is the tenure's group, node and fencing token.
func (t *Tenure) Ownership() model.Ownership { return t.own }

// Fence is the fence of the tenure's owner-only writes.
func (t *Tenure) Fence() model.Fence { return t.own.Fence() }

// Done closes when the tenure has ended: handed off or released, a write
// found it fenced, or the member left or fenced itself.
func (t *Tenure) Done() <-chan struct{} { return t.done }

func (t *Tenure) end() { t.once.Do(func() { close(t.done) }) }

func (t *Tenure) check(err error) error {
	if errors.Is(err, model.ErrFenced) {
		t.end()
	}
	return err
}

// Publish writes statuses and answers under the tenure's fence (see
// Store.Publish).
func (t *Tenure) Publish(ctx context.Context, p model.Publication) error {
	return t.check(t.s.Publish(ctx, t.Fence(), p))
}

// HandOff writes the last publication and releases the group in one Txn
// (see Store.HandOff); the tenure ends.
func (t *Tenure) HandOff(ctx context.Context, p model.Publication) error {
	err := t.check(t.s.HandOff(ctx, t.own, p))
	if err == nil {
		t.end()
	}
	return err
}

// Release gives the group up without a publication; the tenure ends.
func (t *Tenure) Release(ctx context.Context) error {
	err := t.check(t.s.Release(ctx, t.own))
	if err == nil {
		t.end()
	}
	return err
}
