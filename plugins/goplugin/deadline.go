package goplugin

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/resmon/resmon/internal/pluginproto"
)

// SetDeadline implements plugins.Deadliner: every plugin process learns
// the node's self-fencing deadline, now and whenever it moves, and
// terminates its resources by itself if it passes unrenewed (sdk/plugin).
// A process started later learns the latest one before its first Open. It
// never blocks: each process is sent the newest deadline by a goroutine of
// its own.
func (d *Driver) SetDeadline(t time.Time) {
	ns := pluginproto.ToMonotonic(t)
	for {
		old := d.deadline.Load()
		if ns <= old {
			return
		}
		if d.deadline.CompareAndSwap(old, ns) {
			break
		}
	}
	d.mu.Lock()
	procs := make([]*process, 0, len(d.procs))
	for _, p := range d.procs {
		procs = append(procs, p)
	}
	d.mu.Unlock()
	for _, p := range procs {
		select {
		case p.renew <- struct{}{}:
		default: // a send is pending: it reads the newest deadline
		}
	}
}

// deadlineTimeout bounds one SetDeadline call: a renewal late by more
// than this is worth nothing to the plugin.
const deadlineTimeout = 2 * time.Second

// pushDeadline sends the driver's deadline to the process, if there is
// one and the process understands it. A plugin built before deadlines
// existed answers Unimplemented: it is told once in the log and never
// asked again.
func (p *process) pushDeadline() {
	ns := p.d.deadline.Load()
	if ns == 0 || p.noDeadline.Load() || ns <= p.sent {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadlineTimeout)
	defer cancel()
	rep, err := p.rpc.SetDeadline(ctx, &pluginproto.Deadline{MonotonicNs: ns})
	switch {
	case status.Code(err) == codes.Unimplemented:
		p.noDeadline.Store(true)
		p.log.Warn("the plugin predates self-fencing deadlines: its resources are not taken down while clusterd is stopped or cut off; rebuild it with the current sdk/plugin", "pid", p.pid)
	case err != nil:
		if p.deadErr() == nil {
			p.log.Warn("handing the self-fencing deadline to the plugin", "pid", p.pid, "error", err)
		}
	case rep.GetError() != nil:
		p.log.Warn("the plugin refused the self-fencing deadline", "pid", p.pid, "error", pluginproto.DecodeError(rep.GetError()))
	default:
		p.sent = ns
	}
}

// renewLoop sends each new deadline until the process is gone.
func (p *process) renewLoop() {
	for {
		select {
		case <-p.deadCh:
			return
		case <-p.renew:
			p.pushDeadline()
		}
	}
}
