package plugin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/sdk"
)

// fence enforces the node's self-fencing deadline inside the plugin
// process. The host renews it (SetDeadline) after every lease renewal; if
// the deadline passes unrenewed, the host is stopped, cut off from etcd or
// dead, and another node may take the groups over once the lease expires,
// a margin later. So the plugin terminates every resource by itself, on its
// own timer, without waiting for the host to tell it.
//
// Until the first SetDeadline the plugin runs unfenced (a host of an older
// protocol, or a test driving the server directly).
type fence struct {
	onExpire func() // terminates every resource; called without mu held

	mu       sync.Mutex
	deadline int64 // CLOCK_MONOTONIC ns; 0: none yet
	timer    *time.Timer
	expired  bool   // the deadline passed and no later one came since
	epoch    uint64 // counts expiries
}

// set moves the deadline to ns. An older deadline than the one held is
// ignored: renewals may arrive out of order.
func (f *fence) set(ns int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ns <= f.deadline {
		return
	}
	f.deadline = ns
	wait := pluginproto.UntilMonotonic(ns)
	if wait > 0 {
		f.expired = false
	}
	if f.timer == nil {
		f.timer = time.AfterFunc(max(wait, 0), f.fire)
		return
	}
	f.timer.Reset(max(wait, 0))
}

// fire runs when the timer ends: it terminates everything unless a renewal
// came in between.
func (f *fence) fire() {
	f.mu.Lock()
	if wait := pluginproto.UntilMonotonic(f.deadline); wait > 0 {
		f.timer.Reset(wait) // renewed while the timer fired
		f.mu.Unlock()
		return
	}
	first := !f.expired
	f.expired = true
	f.epoch++
	f.mu.Unlock()
	if first {
		f.onExpire()
	}
}

// check fails with sdk.ErrFenced while the deadline has passed: nothing may
// come online on a node that may no longer own it. It returns the epoch, for
// lost.
func (f *fence) check(entry string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.expired || (f.deadline != 0 && pluginproto.UntilMonotonic(f.deadline) <= 0) {
		return 0, fmt.Errorf("%w: %s refused: the node's self-fencing deadline has passed without renewal", sdk.ErrFenced, entry)
	}
	return f.epoch, nil
}

// lost reports whether the deadline expired since check returned epoch: a
// call that was in flight then must be undone.
func (f *fence) lost(epoch uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch != epoch
}

// SetDeadline implements the ResourceType service.
func (s *server) SetDeadline(_ context.Context, d *pluginproto.Deadline) (*pluginproto.Reply, error) {
	s.fence.set(d.GetMonotonicNs())
	return &pluginproto.Reply{}, nil
}

// fenceExpired terminates every open resource when the deadline passed.
func (s *server) fenceExpired() {
	if s.log != nil {
		s.log.Error("the node's self-fencing deadline passed without renewal: terminating every resource")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.terminateAll(ctx)
}
