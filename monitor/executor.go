package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

// executor runs one group on this node. Its goroutine gathers the facts,
// asks Decide for the next action and carries it out, one at a time, and
// alone reads and writes the tenure: nothing here is locked. (An Online of
// several resources runs their entry points in goroutines of its own, each
// touching only its resource, and returns when all have: eachOf.) Health
// failures and state changes of its resources reach it as messages.
type executor struct {
	m        *Monitor
	s        Session
	group    string
	log      hclog.Logger
	cancel   context.CancelFunc
	wake     chan struct{}
	failures chan failure

	t *tenure // nil while this node does not own the group
}

type failure struct {
	r   *Resource
	err error
}

func newExecutor(m *Monitor, s Session, group string, cancel context.CancelFunc) *executor {
	return &executor{m: m, s: s, group: group, log: m.log.With("group", group), cancel: cancel,
		wake: make(chan struct{}, 1), failures: make(chan failure, 64)}
}

func (x *executor) poke() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *executor) event(kind, msg string) { x.m.cfg.Events(kind, x.group, msg) }

func (x *executor) run(ctx context.Context) {
	defer x.end()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		at := x.step(ctx)
		if ctx.Err() != nil {
			return
		}
		if !at.IsZero() {
			timer.Reset(max(at.Sub(x.m.cfg.Now()), time.Millisecond))
		}
		var done <-chan struct{}
		if x.t != nil {
			done = x.t.lease.Done()
		}
		select {
		case <-ctx.Done():
			return
		case <-x.wake:
		case fl := <-x.failures:
			x.recordFailure(fl)
		case <-timer.C:
		case <-done:
		}
		timer.Stop()
	}
}

// step carries out actions until Decide says to wait, and returns when to
// look again without news (zero: only on news).
func (x *executor) step(ctx context.Context) time.Time {
	// known is the group's view when the last action cannot have changed
	// it in etcd (its own bookkeeping) or changed it in a known way (the
	// acquire): the next decision reuses it instead of reading it again.
	// Anything another writer changes meanwhile wakes the executor and is
	// read at the next step that reads.
	var known *model.GroupView
	for ctx.Err() == nil {
		for drained := false; !drained; {
			select {
			case fl := <-x.failures:
				x.recordFailure(fl)
			default:
				drained = true
			}
		}
		f, err := x.facts(ctx, known)
		known = nil
		if err != nil {
			if ctx.Err() == nil {
				x.log.Warn("reading the group's state", "error", err)
			}
			return x.m.cfg.Now().Add(time.Second)
		}
		a := Decide(f)
		if a.Kind == Wait {
			if err := x.publish(ctx); err != nil {
				return earliest(a.At, x.m.cfg.Now().Add(time.Second))
			}
			return a.At
		}
		x.log.Trace("action", "action", a.String())
		x.m.doing.Store(x.group, fmt.Sprintf("%s (since %s)", a, f.Now.Format(time.TimeOnly)))
		err = x.do(ctx, f, a)
		x.m.doing.Delete(x.group)
		if err != nil {
			if ctx.Err() == nil {
				x.log.Warn("action failed; will retry", "action", a.Kind.String(), "error", err)
			}
			return x.m.cfg.Now().Add(time.Second)
		}
		switch a.Kind {
		case AddResource, UpdateResource:
			// Published with the next visible step.
			known = &f.View
		case Acquire:
			if x.t != nil {
				v := f.View
				v.Owned, v.Ownership = true, model.Ownership{Group: x.group, Node: x.m.cfg.Node, Token: x.t.lease.Fence().Token}
				known = &v
			}
		case Online:
			// Its publications change only the group's status, which an
			// owner's decisions do not read; whatever else changes wakes
			// the executor.
			x.publish(ctx)
			known = &f.View
		case RemoveResource:
		default:
			x.publish(ctx)
		}
	}
	return time.Time{}
}

// facts gathers what Decide reads.
func (x *executor) facts(ctx context.Context, known *model.GroupView) (Facts, error) {
	v := x.m.view.Load()
	f := Facts{
		Now: x.m.cfg.Now(), Node: x.m.cfg.Node, Started: v.started, StartupGrace: max(x.m.cfg.StartupGrace, 0),
		Up: v.eligible(), Draining: x.m.draining.Load(), Group: v.groups[x.group], Resources: v.resources[x.group],
		Paused: v.ops.IsPaused(x.m.cfg.Node), Maintenance: v.ops.Maintenance.Why(x.group, x.m.cfg.Node),
	}
	select {
	case <-x.s.Fenced():
		f.Fenced = true
		return f, nil
	default:
	}
	if known != nil && x.t != nil {
		select {
		case <-x.t.lease.Done():
			known = nil // the tenure ended: what was known of it is not so
		default:
		}
	}
	if known != nil {
		f.View = *known
	} else {
		read := x.m.groupView
		if x.t != nil {
			read = x.m.cfg.Cluster.GroupView
		}
		gv, err := read(ctx, x.group)
		if err != nil {
			return f, err
		}
		f.View = gv
	}
	if t := x.t; t != nil {
		// Requests answered but not yet published are not pending.
		f.View.Requests = slices.DeleteFunc(slices.Clone(f.View.Requests), func(r model.Request) bool {
			return slices.ContainsFunc(t.answers, func(a model.Answer) bool { return a.Request.ID == r.ID })
		})
		tf := &TenureFacts{Token: t.lease.Fence().Token, Desired: t.desired, Failovers: t.failovers,
			Held: t.held, HeldUntil: t.heldUntil, Release: t.release, Suspended: t.suspended != "",
			Bans: t.bans}
		for _, h := range t.res {
			rf := ResourceFacts{Record: h.rec, Open: h.r != nil, State: h.state(), RetryAt: h.retryAt,
				AdminOff: h.adminOff, Restarts: h.restarts.Count(f.Now), Hold: h.hold}
			if h.failed != nil {
				rf.Failure, rf.FailureClass = h.failed.Error(), sdk.ClassOf(h.failed)
			}
			tf.Resources = append(tf.Resources, rf)
		}
		f.Tenure = tf
	}
	return f, nil
}

// do carries out one action.
func (x *executor) do(ctx context.Context, f Facts, a Action) error {
	t := x.t
	now := f.Now
	switch a.Kind {
	case Acquire:
		x.log.Debug("this node is the group's next owner; acquiring", "last_owner", f.View.Status.Owner, "handoff", f.View.Status.Handoff, "up", f.Up)
		lease, err := x.s.Acquire(ctx, x.group)
		if errors.Is(err, model.ErrOwned) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("acquiring the group: %w", err)
		}
		x.begin(f, lease)
	case Lost:
		x.lost(a.Message)
	case WriteRelease:
		return x.writeRelease(ctx)
	case AddResource:
		i := slices.IndexFunc(f.Resources, func(r model.Resource) bool { return r.ID == a.Resource })
		rec := f.Resources[i]
		h := &hosted{rec: rec, restarts: Window{Period: rec.Properties.RestartPeriod.D()}}
		t.res = append(t.res, h)
		slices.SortFunc(t.res, func(a, b *hosted) int { return strings.Compare(a.rec.Name, b.rec.Name) })
		x.open(ctx, h)
	case RemoveResource:
		h := x.hosted(a.Resource)
		x.takeOffline(ctx, h)
		x.close(h)
		t.res = slices.DeleteFunc(t.res, func(o *hosted) bool { return o == h })
		delete(t.published, h.rec.ID)
	case UpdateResource:
		h := x.hosted(a.Resource)
		i := slices.IndexFunc(f.Resources, func(r model.Resource) bool { return r.ID == a.Resource })
		// Edited while hosted: the policy and the entry points use the new
		// common properties from now on; what only Open reads applies at the
		// next Online, here or wherever the group goes.
		old, rec := h.rec, f.Resources[i]
		h.rec = rec
		h.restarts.Period = rec.Properties.RestartPeriod.D()
		if h.r != nil {
			h.r.setRecord(rec)
		}
		if needsReopen(old, rec) {
			h.reopen = h.r != nil
			if h.state() == model.ResourceFailed {
				// Failed (to open, or with its old properties): try the
				// new ones now rather than after RetryPeriodOnFailure.
				h.retryAt = now
			}
			if h.reopen && onlyPrivateChanged(old, rec) && x.applyPrivate(ctx, h) {
				h.reopen = false
			} else {
				x.log.Info("resource properties changed; they apply at its next Online", "resource", rec.Name, "state", h.state())
			}
		}
	case Answer:
		x.answer(a)
	case SetDesired:
		t.desired = a.Desired
		if a.Desired == model.DesiredOffline {
			for _, h := range t.res {
				h.clearFailure()
			}
		}
		if a.Reset {
			x.unban("")
			t.held, t.failovers = false, nil
			for _, h := range t.res {
				h.adminOff = false
				h.restarts.Reset()
				if h.state() == model.ResourceFailed {
					h.retryAt = now
				}
			}
		}
		t.message = a.Reply.Message
		x.answer(a)
	case ResourceOnline:
		// An operator's online gives the resource its restarts again.
		h := x.hosted(a.Resource)
		x.unban(h.rec.ID)
		h.adminOff, h.retryAt = false, now
		h.restarts.Reset()
		t.desired = model.DesiredOnline
		x.answer(a)
	case ResourceOffline:
		h := x.hosted(a.Resource)
		h.adminOff = true
		x.dependentsOffline(ctx, f, h)
		x.takeOffline(ctx, h)
		h.clearFailure()
		x.answer(a)
	case ResourceFail:
		if h := x.hosted(a.Resource); h.r != nil {
			h.r.Fail(errors.New("failure requested by an operator"))
		}
		x.answer(a)
	case Recover:
		x.recover(ctx, a)
	case Accept:
		x.accept(ctx, a)
	case Online:
		hs := make([]*hosted, len(a.Resources))
		for i, id := range a.Resources {
			hs[i] = x.hosted(id)
		}
		x.bringOnline(ctx, hs)
	case Offline:
		x.takeOffline(ctx, x.hosted(a.Resource))
	case HandleFailure:
		return x.handleFailure(ctx, f, a)
	case Release:
		var answers []model.Answer
		if a.Request != nil {
			answers = append(answers, x.reply(a))
		}
		return x.release(ctx, a.Reason, a.To, a.Message, answers)
	case Control:
		x.control(ctx, a)
	case Unhold:
		t.held, t.failovers = false, nil
		t.message = "retrying after RetryPeriodOnFailure"
		x.event("group.retry", t.message)
	case Cleanup:
		x.cleanup(a, now)
	case Suspend:
		// Resources are left as they are; only their health is no longer
		// watched, so nothing fails or restarts behind the operator's back.
		t.suspended = a.Message
		for _, h := range t.res {
			if h.r != nil {
				h.r.suspendHealth()
			}
		}
		x.log.Info("maintenance: taking no action for the group", "why", a.Message)
		x.event("group.maintenance", fmt.Sprintf("%s: %s takes no action for the group", a.Message, x.m.cfg.Node))
	case Resume:
		t.suspended = ""
		for _, h := range t.res {
			if h.r != nil {
				h.r.resumeHealth()
			}
		}
		x.log.Info("maintenance over: watching the group again")
		x.event("group.maintenance_end", fmt.Sprintf("maintenance over: %s watches the group again", x.m.cfg.Node))
	}
	return nil
}
