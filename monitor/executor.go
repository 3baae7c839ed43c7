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
	"github.com/resmon/resmon/plugins"
)

// executor runs one group on this node. Its goroutine gathers the facts,
// asks Decide for the next action and carries it out, one at a time, and
// alone reads and writes the tenure: nothing here is locked. Health
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

// tenure is this node's ownership of the group and the resources it hosts
// for it.
type tenure struct {
	lease     Tenure
	desired   string
	failovers []time.Time
	held      bool
	heldUntil time.Time
	message   string
	res       []*hosted // sorted by name
	// answers are replies not yet published; release is a handoff not yet
	// written (etcd unreachable), retried before anything else.
	answers []model.Answer
	release *model.Handoff
	// published is what etcd holds, to write only changes.
	published      map[string]model.ResourceStatus
	publishedGroup *model.GroupStatus
}

// hosted is one resource of an owned group on this node.
type hosted struct {
	rec      model.Resource
	r        *Resource // nil while it could not be opened
	restarts Window
	retryAt  time.Time
	adminOff bool
	lastErr  string
	failed   error // a failure reported and not yet handled
}

func (h *hosted) state() model.ResourceState {
	if h.r == nil {
		return model.ResourceFailed
	}
	return h.r.State()
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
	for ctx.Err() == nil {
		for drained := false; !drained; {
			select {
			case fl := <-x.failures:
				x.recordFailure(fl)
			default:
				drained = true
			}
		}
		f, err := x.facts(ctx)
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
		if err := x.do(ctx, f, a); err != nil {
			if ctx.Err() == nil {
				x.log.Warn("action failed; will retry", "action", a.Kind.String(), "error", err)
			}
			return x.m.cfg.Now().Add(time.Second)
		}
		switch a.Kind {
		case Acquire, AddResource, UpdateResource, RemoveResource:
			// Published with the next visible step.
		default:
			x.publish(ctx)
		}
	}
	return time.Time{}
}

// facts gathers what Decide reads.
func (x *executor) facts(ctx context.Context) (Facts, error) {
	v := x.m.view.Load()
	f := Facts{
		Now: x.m.cfg.Now(), Node: x.m.cfg.Node, Started: v.started, StartupGrace: max(x.m.cfg.StartupGrace, 0),
		Up: v.up, Draining: x.m.draining.Load(), Group: v.groups[x.group], Resources: v.resources[x.group],
	}
	select {
	case <-x.s.Fenced():
		f.Fenced = true
		return f, nil
	default:
	}
	gv, err := x.m.cfg.Cluster.GroupView(ctx, x.group)
	if err != nil {
		return f, err
	}
	f.View = gv
	if t := x.t; t != nil {
		// Requests answered but not yet published are not pending.
		f.View.Requests = slices.DeleteFunc(slices.Clone(f.View.Requests), func(r model.Request) bool {
			return slices.ContainsFunc(t.answers, func(a model.Answer) bool { return a.Request.ID == r.ID })
		})
		tf := &TenureFacts{Token: t.lease.Fence().Token, Desired: t.desired, Failovers: t.failovers,
			Held: t.held, HeldUntil: t.heldUntil, Release: t.release}
		for _, h := range t.res {
			rf := ResourceFacts{Record: h.rec, Open: h.r != nil, State: h.state(), RetryAt: h.retryAt,
				AdminOff: h.adminOff, Restarts: h.restarts.Count(f.Now)}
			if h.failed != nil {
				rf.Failure = h.failed.Error()
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
		// common properties from now on.
		h.rec = f.Resources[i]
		h.restarts.Period = h.rec.Properties.RestartPeriod.D()
		if h.r != nil {
			h.r.setRecord(h.rec)
		}
	case Answer:
		x.answer(a)
	case SetDesired:
		t.desired = a.Desired
		if a.Reset {
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
		h := x.hosted(a.Resource)
		h.adminOff, h.retryAt = false, now
		t.desired = model.DesiredOnline
		x.answer(a)
	case ResourceOffline:
		h := x.hosted(a.Resource)
		h.adminOff = true
		x.dependentsOffline(ctx, f, h)
		x.takeOffline(ctx, h)
		x.answer(a)
	case ResourceFail:
		if h := x.hosted(a.Resource); h.r != nil {
			h.r.Fail(errors.New("failure requested by an operator"))
		}
		x.answer(a)
	case Recover:
		x.recover(ctx, a)
	case Online:
		x.bringOnline(ctx, x.hosted(a.Resource))
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
	case Unhold:
		t.held, t.failovers = false, nil
		t.message = "retrying after RetryPeriodOnFailure"
		x.event("group.retry", t.message)
	}
	return nil
}

func (x *executor) hosted(id string) *hosted {
	for _, h := range x.t.res {
		if h.rec.ID == id {
			return h
		}
	}
	panic(fmt.Sprintf("monitor: action on resource %s, which group %q does not host", id, x.group))
}

// reply completes an action's reply with who answered and when.
func (x *executor) reply(a Action) model.Answer {
	r := a.Reply
	r.Request, r.Group, r.Action = a.Request.ID, a.Request.Group, a.Request.Action
	r.Node, r.Time = x.m.cfg.Node, x.m.cfg.Now().UTC()
	if x.t != nil {
		r.Token = x.t.lease.Fence().Token
	}
	return model.Answer{Request: *a.Request, Reply: r}
}

// answer queues an action's reply for the next publication.
func (x *executor) answer(a Action) {
	if a.Request == nil {
		return
	}
	ans := x.reply(a)
	if ans.Reply.Code == model.ResultRefused {
		x.log.Warn("request refused", "action", a.Request.Action, "message", ans.Reply.Message)
	}
	x.t.answers = append(x.t.answers, ans)
}

// begin starts a tenure.
func (x *executor) begin(f Facts, lease Tenure) {
	st := DecideStart(f)
	x.t = &tenure{lease: lease, desired: st.Desired, failovers: st.Failovers, held: st.Held, heldUntil: st.HeldUntil,
		message: st.Message, published: map[string]model.ResourceStatus{}}
	if st.Counted {
		prev := f.View.Status
		x.m.cfg.Observer.Failover(x.group)
		n := len(st.Failovers)
		x.log.Warn("group failed over to this node", "from", prev.Owner, "reason", st.Why, "failovers", n, "threshold", st.Threshold)
		x.event("group.failover", fmt.Sprintf("failed over from %s to %s because %s (failover %d within %s, threshold %d)",
			prev.Owner, x.m.cfg.Node, st.Why, n, f.Group.FailoverPeriod, st.Threshold))
		if st.Held {
			x.log.Error("failover threshold reached; the group stays failed", "failovers", n, "threshold", st.Threshold, "retry_at", st.HeldUntil)
			x.event("group.failover_threshold", st.Message)
		}
	}
	x.m.setOwned(x.group, true)
}

// open opens h's instance through the driver of its type.
func (x *executor) open(ctx context.Context, h *hosted) {
	rec := h.rec
	typ, ok := x.m.view.Load().types[rec.Type]
	var inst plugins.Instance
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("resource type %q is not in the cluster database", rec.Type)
	case x.m.cfg.Drivers[typ.Kind] == nil:
		err = fmt.Errorf("resource type %q has kind %q, which this node cannot load", rec.Type, typ.Kind)
	default:
		inst, err = x.m.cfg.Drivers[typ.Kind].Open(ctx, typeSpec(typ), plugins.ResourceSpec{
			ID: rec.ID, Name: rec.Name, Properties: rec.Private,
			SeparateMonitor: rec.Properties.SeparateMonitor, DeadlockTimeout: rec.Properties.DeadlockTimeout.D(),
		})
	}
	if err != nil {
		err = fmt.Errorf("opening resource %q: %w", rec.Name, err)
		h.lastErr = err.Error()
		h.retryAt = x.m.cfg.Now().Add(rec.Properties.RetryPeriodOnFailure.D())
		x.log.Error("cannot open resource", "resource", rec.Name, "error", err)
		x.event("resource.open_failed", err.Error())
		return
	}
	var r *Resource
	r = NewResource(ResourceConfig{
		Record: rec, Instance: inst, Log: x.log, Observer: x.m.cfg.Observer,
		OnState: func(*Resource, model.ResourceState) { x.poke() },
		OnFailure: func(fl Failure) {
			select {
			case x.failures <- failure{r: r, err: fl.Err}:
			default:
				x.log.Warn("failure queue full; dropping a failure report", "resource", fl.Resource)
			}
		},
	})
	h.r = r
	x.m.hosted.add(x.group, x.t.lease.Fence().Token, r)
}

// close releases h's instance.
func (x *executor) close(h *hosted) {
	if h.r == nil {
		return
	}
	x.m.hosted.remove(h.r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.r.Close(ctx); err != nil {
		x.log.Debug("closing resource", "resource", h.rec.Name, "error", err)
	}
	h.r = nil
}

// recordFailure notes a health failure for the next decision.
func (x *executor) recordFailure(fl failure) {
	if x.t == nil {
		return
	}
	for _, h := range x.t.res {
		if h.r == fl.r {
			h.failed = fl.err
			return
		}
	}
	// A resource of an earlier tenure.
}

// bringOnline restores h's checkpoints, starts storing their changes and
// calls Online. A failure is left for the restart policy.
func (x *executor) bringOnline(ctx context.Context, h *hosted) {
	if h.r == nil {
		x.open(ctx, h)
		if h.r == nil {
			h.failed = errors.New(h.lastErr)
			return
		}
	}
	h.retryAt = time.Time{}
	fence := x.t.lease.Fence()
	cp := x.m.cfg.Checkpoints
	if err := cp.Restore(ctx, h.rec, fence); err != nil {
		h.r.markFailed()
		h.failed = fmt.Errorf("restoring the checkpoints of resource %q: %w", h.rec.Name, err)
		return
	}
	if err := cp.StartOnline(ctx, h.rec, fence); err != nil {
		h.r.markFailed()
		h.failed = fmt.Errorf("starting the checkpoints of resource %q: %w", h.rec.Name, err)
		return
	}
	if err := h.r.Online(ctx); err != nil {
		h.failed = err
		return
	}
	h.lastErr = ""
}

// takeOffline takes one resource offline (PendingTimeout → Terminate
// inside) and stores its checkpoints a last time (rule 9).
func (x *executor) takeOffline(ctx context.Context, h *hosted) {
	if h.r == nil {
		return
	}
	switch h.r.State() {
	case model.ResourceOffline, model.ResourceFailed:
		return
	}
	if err := h.r.Offline(ctx); err != nil {
		h.lastErr = err.Error()
		x.log.Warn("resource did not go offline cleanly", "resource", h.rec.Name, "error", err)
		x.m.cfg.Events("resource.offline_failed", h.rec.Name, err.Error())
	}
	if err := x.m.cfg.Checkpoints.Offline(ctx, h.rec); err != nil {
		x.log.Warn("last checkpoint save", "resource", h.rec.Name, "error", err)
	}
	x.publish(ctx)
}

// dependentsOffline takes h's dependents offline, top-down.
func (x *executor) dependentsOffline(ctx context.Context, f Facts, h *hosted) {
	for _, name := range tenureDeps(f.Tenure).Dependents(h.rec.Name) {
		for _, d := range x.t.res {
			if strings.EqualFold(d.rec.Name, name) {
				x.takeOffline(ctx, d)
			}
		}
	}
}

// offlineAll takes the group offline top-down (rule 12).
func (x *executor) offlineAll(ctx context.Context) {
	tf := &TenureFacts{}
	for _, h := range x.t.res {
		tf.Resources = append(tf.Resources, ResourceFacts{Record: h.rec})
	}
	for _, name := range tenureDeps(tf).OfflineOrder() {
		for _, h := range x.t.res {
			if h.rec.Name == name {
				x.takeOffline(ctx, h)
			}
		}
	}
}

// handleFailure applies the decided restart policy to a failed resource:
// its dependents go offline, then it restarts after RestartDelay, stays
// failed until RetryPeriodOnFailure, or the group fails over.
func (x *executor) handleFailure(ctx context.Context, f Facts, a Action) error {
	h := x.hosted(a.Resource)
	cause := h.failed
	if cause == nil {
		cause = errors.New(a.Message)
	}
	h.failed = nil
	now := x.m.cfg.Now()
	if h.r != nil && errors.Is(cause, plugins.ErrPluginExited) {
		// The instance died with its plugin process (or sandbox): what
		// follows, here or after a failover, must open the resource again,
		// in a new process, rather than call the dead one until the
		// restart threshold runs out.
		x.close(h)
	}
	if err := x.m.cfg.Checkpoints.Offline(ctx, h.rec); err != nil {
		x.log.Warn("last checkpoint save after a failure", "resource", h.rec.Name, "error", err)
	}
	p := h.rec.Properties
	n := h.restarts.Add(now)
	h.lastErr = cause.Error()
	x.dependentsOffline(ctx, f, h)
	x.log.Warn("resource failed", "resource", h.rec.Name, "error", cause, "failures", n, "threshold", p.RestartThreshold, "decision", a.Decision)
	x.m.cfg.Events("resource.failed", h.rec.Name, fmt.Sprintf("%v (failure %d within %s; %s)", cause, n, p.RestartPeriod, a.Decision))
	switch a.Decision {
	case Restart:
		x.m.cfg.Observer.Restart(x.group, h.rec.Name)
		h.retryAt = now.Add(p.RestartDelay.D())
	case FailoverGroup:
		h.retryAt = now.Add(p.RetryPeriodOnFailure.D())
		return x.release(ctx, model.HandoffFailover, a.To, fmt.Sprintf("resource %q failed %d times within %s", h.rec.Name, n, p.RestartPeriod), nil)
	default:
		h.retryAt = now.Add(p.RetryPeriodOnFailure.D())
	}
	return nil
}

// recover re-creates checkpoint data from this node's registry.
func (x *executor) recover(ctx context.Context, a Action) {
	var out []model.CheckpointRecovery
	var failed []string
	for _, h := range x.t.res {
		if a.Resource != "" && h.rec.ID != a.Resource {
			continue
		}
		if a.Resource == "" && len(h.rec.RegistryCheckpoints)+len(h.rec.CryptoCheckpoints) == 0 {
			continue
		}
		r := x.m.cfg.Checkpoints.Recover(ctx, h.rec, x.t.lease.Fence())
		if r.Error != "" {
			failed = append(failed, fmt.Sprintf("%s: %s", h.rec.Name, r.Error))
		}
		out = append(out, r)
	}
	a.Reply.Recovered = out
	a.Reply.Message = fmt.Sprintf("re-created the checkpoints of %d resource(s) from the registry of node %s", len(out)-len(failed), x.m.cfg.Node)
	if len(failed) > 0 {
		a.Reply.Code = model.ResultFailed
		a.Reply.Message += "; failed: " + strings.Join(failed, "; ")
	}
	x.answer(a)
}

// release takes the group offline and hands it to node to (rule 13: the
// next owner acquires it; "" lets the usual rules pick one), leaving the
// reason in the status.
func (x *executor) release(ctx context.Context, reason, to, msg string, answers []model.Answer) error {
	t := x.t
	x.offlineAll(ctx)
	t.release = &model.Handoff{From: x.m.cfg.Node, To: to, Reason: reason, Time: x.m.cfg.Now().UTC()}
	t.message = msg
	t.answers = append(t.answers, answers...)
	return x.writeRelease(ctx)
}

// writeRelease writes the handoff decided by release.
func (x *executor) writeRelease(ctx context.Context) error {
	t := x.t
	st, rs := x.statuses()
	st.Handoff = t.release
	err := t.lease.HandOff(ctx, model.Publication{Group: &st, Resources: rs, Answers: t.answers})
	if errors.Is(err, model.ErrFenced) {
		x.lost("the group's ownership was gone when handing it off")
		return nil
	}
	if err != nil {
		return fmt.Errorf("handing the group off: %w", err)
	}
	target := t.release.To
	if target == "" {
		target = "the next available owner"
	}
	x.log.Info("group released", "reason", t.release.Reason, "to", target)
	x.event("group."+t.release.Reason, fmt.Sprintf("%s: %s handed the group to %s", t.message, x.m.cfg.Node, target))
	x.endTenure(true)
	return nil
}

// lost ends a tenure whose ownership is gone: everything is terminated and
// nothing more is written.
func (x *executor) lost(why string) {
	x.log.Error("lost the group: terminating its resources", "reason", why)
	x.event("group.lost", fmt.Sprintf("%s lost the group: %s", x.m.cfg.Node, why))
	x.m.hosted.terminate(x.group, why, x.log)
	x.endTenure(false)
}

// endTenure closes the tenure's instances and forgets it. Unless clean,
// checkpoints stop without a last save.
func (x *executor) endTenure(clean bool) {
	t := x.t
	if t == nil {
		return
	}
	for _, h := range t.res {
		if !clean {
			x.m.cfg.Checkpoints.Abandon(h.rec)
		}
		x.close(h)
	}
	x.t = nil
	x.m.setOwned(x.group, false)
	x.m.cfg.Observer.GroupState(x.group, model.GroupOffline, false)
	for _, h := range t.res {
		x.m.cfg.Observer.ResourceState(x.group, h.rec.Name, model.ResourceOffline)
	}
}

// end runs when the executor stops (the node stops or fences, or the
// group was deleted): whatever still runs is terminated.
func (x *executor) end() {
	if x.t != nil {
		x.m.hosted.terminate(x.group, "the monitor is stopping", x.log)
		x.endTenure(false)
	}
}
