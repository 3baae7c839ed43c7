//go:build wasip1

package wasm

import (
	"context"
	"sync"
	"time"
)

// callCtx is the context of one entry point. It ends at the host's deadline
// for the call, or when the entry point returns. Its Done channel and timer
// are made only when someone asks for Done: the frequent health checks
// rarely do, and a timer costs more than the check itself in a guest.
type callCtx struct {
	deadline    time.Time
	hasDeadline bool

	mu    sync.Mutex
	done  chan struct{}
	err   error
	timer *time.Timer
}

var _ context.Context = (*callCtx)(nil)

// callContext returns the context of the current call and the function
// that ends it.
func callContext() (context.Context, func()) {
	c := &callCtx{}
	if d := hostDeadline(); d > 0 {
		c.deadline, c.hasDeadline = time.Unix(0, d), true
	}
	return c, func() { c.finish(context.Canceled) }
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, c.hasDeadline }

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		c.checkLocked()
		switch {
		case c.err != nil:
			close(c.done)
		case c.hasDeadline:
			c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.finish(context.DeadlineExceeded) })
		}
	}
	return c.done
}

func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checkLocked() && c.done != nil {
		close(c.done)
	}
	return c.err
}

func (c *callCtx) Value(any) any { return nil }

// checkLocked ends the context if its deadline has passed; it reports
// whether it did so just now.
func (c *callCtx) checkLocked() bool {
	if c.err == nil && c.hasDeadline && !time.Now().Before(c.deadline) {
		c.err = context.DeadlineExceeded
		return true
	}
	return false
}

func (c *callCtx) finish(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.err == nil {
		c.err = err
		if c.done != nil {
			close(c.done)
		}
	}
}
