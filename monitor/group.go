package monitor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/quorum"
)

// groupRunner decides for one group on this node. Its goroutine makes every
// decision and every entry-point call of the group, one at a time; health
// failures and operator requests reach it as events. Only terminateAll (a
// fence) and the host services touch its tenure from other goroutines.
type groupRunner struct {
	m      *Monitor
	name   string
	log    hclog.Logger
	cancel context.CancelFunc
	pokeCh chan struct{}
	failCh chan failEvent

	mu sync.Mutex // guards t
	t  *tenure
}

type failEvent struct {
	r *Resource
	f Failure
}

// tenure is this node's ownership of the group and the resources it hosts
// for it.
type tenure struct {
	own    quorum.Ownership
	status model.GroupStatus // what we publish, less the derived state
	deps   *Deps
	res    map[string]*hosted // by lower-case name
	byID   map[string]*hosted
	// held: the failover threshold was reached; the group stays Failed
	// until heldUntil (RetryPeriodOnFailure).
	held      bool
	heldUntil time.Time
	fenced    bool // terminated by a fence; nothing more may be written
	// down closes once terminateAll has terminated every resource: only
	// then may the instances be closed (a Close that overtook a Terminate
	// would leave the resource running, unknown to the host).
	down chan struct{}
	done []string // request keys acted on, deleted with the next publish
	// published is what etcd holds, to write only changes.
	published      map[string]model.ResourceStatus
	publishedGroup model.GroupStatus
	// pendingRelease is a handoff that could not be written yet (etcd
	// unreachable): it is retried before anything else.
	pendingRelease *model.Handoff
}

// hosted is one resource of an owned group on this node.
type hosted struct {
	rec      model.Resource
	r        *Resource // nil while it could not be opened
	openErr  error
	restarts Window
	retryAt  time.Time // when a Failed resource is tried again
	adminOff bool      // taken offline by an operator: stays offline
	lastErr  string
}

func (h *hosted) state() model.ResourceState {
	if h.r == nil {
		return model.ResourceFailed
	}
	return h.r.State()
}

func newGroupRunner(m *Monitor, name string, cancel context.CancelFunc) *groupRunner {
	return &groupRunner{
		m: m, name: name, log: m.log.With("group", name), cancel: cancel,
		pokeCh: make(chan struct{}, 1), failCh: make(chan failEvent, 64),
	}
}

func (g *groupRunner) poke() {
	select {
	case g.pokeCh <- struct{}{}:
	default:
	}
}

// deleted stops the runner of a group removed from the database.
func (g *groupRunner) deleted() { g.cancel() }

func (g *groupRunner) tenure() *tenure {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.t
}

func (g *groupRunner) token() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.t == nil || g.t.fenced {
		return 0
	}
	return g.t.own.Token
}

func (g *groupRunner) progress(id string) {
	g.mu.Lock()
	var r *Resource
	if g.t != nil {
		if h := g.t.byID[id]; h != nil {
			r = h.r
		}
	}
	g.mu.Unlock()
	if r != nil {
		r.Progress()
	}
}

func (g *groupRunner) event(kind, msg string) { g.m.cfg.Events(kind, g.name, msg) }

func (g *groupRunner) run(ctx context.Context) {
	defer g.end()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.pokeCh:
		case ev := <-g.failCh:
			g.onFailure(ctx, ev)
		case <-timer.C:
		}
		wake := g.reconcile(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if wake > 0 {
			timer.Reset(wake)
		}
	}
}

// reconcile reads the group's shared state and acts on it. It returns when
// it wants to look again without a notification (0: not needed).
func (g *groupRunner) reconcile(ctx context.Context) time.Duration {
	if ctx.Err() != nil {
		return 0
	}
	f, ok := g.m.facts(g.name)
	if !ok {
		return 0
	}
	v, err := g.m.cfg.Store.ViewGroup(ctx, g.name)
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("reading the group's state", "error", err)
		}
		return time.Second
	}
	if t := g.tenure(); t != nil {
		if t.fenced {
			g.terminateAll("") // waits for the terminations in progress
			g.endTenure(false)
			return 0
		}
		if !v.Owned || v.Ownership.Token != t.own.Token {
			g.lost(fmt.Sprintf("the group's ownership (token %d) is gone from etcd", t.own.Token))
			return 0
		}
		return g.manage(ctx, f, v)
	}
	if v.Owned || f.draining || f.member == nil {
		return 0
	}
	select {
	case <-f.member.Fenced():
		return 0
	default:
	}
	target := f.target(v.Status)
	if !strings.EqualFold(target, g.m.cfg.Node) {
		return 0
	}
	if prefs := f.group.PreferredOwners; v.Status.Group == "" && len(prefs) > 0 && !strings.EqualFold(prefs[0], target) {
		// A group that has never run: give its first preferred owner the
		// start-up grace to come up before taking it.
		g.m.mu.Lock()
		wait := g.m.cfg.StartupGrace - time.Since(g.m.started)
		g.m.mu.Unlock()
		if wait > 0 {
			g.log.Debug("waiting for the first preferred owner before taking a group that never ran", "preferred", prefs[0], "wait", wait)
			return wait
		}
	}
	g.log.Debug("this node is the group's next owner; acquiring", "last_owner", v.Status.Owner, "handoff", v.Status.Handoff, "up", f.up)
	o, err := g.m.cfg.Store.Acquire(ctx, f.member, g.name)
	if errors.Is(err, quorum.ErrOwned) {
		return 0
	}
	if err != nil {
		g.log.Warn("acquiring the group", "error", err)
		return time.Second
	}
	g.begin(ctx, f, v, o)
	return g.manage(ctx, f, v)
}

// begin starts a tenure: it counts a failover if the last tenure ended by
// a crash or a resource failure, holds the group Failed past
// FailoverThreshold, and opens the resources.
func (g *groupRunner) begin(ctx context.Context, f facts, v quorum.GroupView, o quorum.Ownership) {
	now := time.Now().UTC()
	prev := v.Status
	st := model.GroupStatus{Group: g.name, Owner: o.Node, Token: o.Token, Desired: prev.Desired}
	if prev.Group == "" || st.Desired == "" {
		st.Desired = model.DesiredOffline
		if f.group.PersistentState {
			st.Desired = model.DesiredOnline
		}
	}
	period := f.group.FailoverPeriod.D()
	for _, at := range prev.Failovers {
		if now.Sub(at) < period {
			st.Failovers = append(st.Failovers, at)
		}
	}
	t := &tenure{own: o, status: st, res: map[string]*hosted{}, byID: map[string]*hosted{}, published: map[string]model.ResourceStatus{}, down: make(chan struct{})}
	t.status.Request = prev.Request
	counted := st.Desired == model.DesiredOnline && prev.Owner != "" &&
		(prev.Handoff == nil || prev.Handoff.Reason == model.HandoffFailover)
	if counted {
		g.m.cfg.Observer.Failover(g.name)
		t.status.Failovers = append(t.status.Failovers, now)
		n, threshold := len(t.status.Failovers), f.group.EffectiveFailoverThreshold(f.knownNodes())
		why := "its node stopped"
		if prev.Handoff != nil {
			why = "a resource failed past its restart threshold"
		}
		g.log.Warn("group failed over to this node", "from", prev.Owner, "reason", why, "failovers", n, "threshold", threshold)
		g.event("group.failover", fmt.Sprintf("failed over from %s to %s because %s (failover %d within %s, threshold %d)", prev.Owner, o.Node, why, n, period, threshold))
		if n > threshold {
			t.held, t.heldUntil = true, now.Add(retryPeriod(f))
			t.status.Message = fmt.Sprintf("failover threshold reached: %d failovers within %s (FailoverThreshold %d); the group stays failed until %s",
				n, period, threshold, t.heldUntil.Format(time.RFC3339))
			g.log.Error("failover threshold reached; the group stays failed", "failovers", n, "threshold", threshold, "retry_at", t.heldUntil)
			g.event("group.failover_threshold", t.status.Message)
		}
	}
	g.mu.Lock()
	g.t = t
	g.mu.Unlock()
	g.m.setOwned(g.name, true)
	g.syncResources(ctx, f)
	g.publish(ctx)
}

// retryPeriod is the shortest RetryPeriodOnFailure of the group's resources.
func retryPeriod(f facts) time.Duration {
	d := model.DefaultProperties().RetryPeriodOnFailure.D()
	for i, r := range f.resources {
		if p := r.Properties.RetryPeriodOnFailure.D(); i == 0 || p < d {
			d = p
		}
	}
	return d
}

// syncResources opens resources added to the group and closes removed ones.
func (g *groupRunner) syncResources(ctx context.Context, f facts) {
	t := g.tenure()
	want := map[string]model.Resource{}
	deps := map[string][][]string{}
	for _, r := range f.resources {
		want[strings.ToLower(r.Name)] = r
		deps[r.Name] = r.Dependencies
	}
	for key, h := range t.res {
		if r, ok := want[key]; ok && r.ID == h.rec.ID {
			if !reflect.DeepEqual(r, h.rec) {
				// Edited while hosted: the policy and the entry points use
				// the new common properties from now on.
				h.rec = r
				h.restarts.Period = r.Properties.RestartPeriod.D()
				if h.r != nil {
					h.r.setRecord(r)
				}
			}
			continue
		}
		g.takeOffline(ctx, h)
		g.closeHosted(h)
		g.mu.Lock()
		delete(t.res, key)
		delete(t.byID, h.rec.ID)
		g.mu.Unlock()
		g.m.mu.Lock()
		delete(g.m.byID, h.rec.ID)
		g.m.mu.Unlock()
	}
	for key, r := range want {
		if t.res[key] != nil {
			continue
		}
		h := &hosted{rec: r, restarts: Window{Period: r.Properties.RestartPeriod.D()}}
		g.mu.Lock()
		t.res[key], t.byID[r.ID] = h, h
		g.mu.Unlock()
		g.m.mu.Lock()
		g.m.byID[r.ID] = g
		g.m.mu.Unlock()
		g.open(ctx, f, h)
	}
	d, err := NewDeps(deps)
	if err != nil {
		// The configuration and the database refuse these; a record
		// edited by hand may still carry one.
		g.log.Error("dependencies cannot be honoured; ignoring them", "error", err)
		for n := range deps {
			deps[n] = nil
		}
		d, _ = NewDeps(deps)
	}
	t.deps = d
}

// open opens h's instance through the driver of its type.
func (g *groupRunner) open(ctx context.Context, f facts, h *hosted) {
	rec := h.rec
	typ, ok := f.types[rec.Type]
	var inst plugins.Instance
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("resource type %q is not in the cluster database", rec.Type)
	case g.m.drivers[typ.Kind] == nil:
		err = fmt.Errorf("resource type %q has kind %q, which this node cannot load", rec.Type, typ.Kind)
	default:
		inst, err = g.m.drivers[typ.Kind].Open(ctx, typeSpec(typ), plugins.ResourceSpec{
			ID: rec.ID, Name: rec.Name, Properties: rec.Private,
			SeparateMonitor: rec.Properties.SeparateMonitor, DeadlockTimeout: rec.Properties.DeadlockTimeout.D(),
		})
	}
	if err != nil {
		h.openErr = fmt.Errorf("opening resource %q: %w", rec.Name, err)
		h.lastErr = h.openErr.Error()
		h.retryAt = time.Now().Add(rec.Properties.RetryPeriodOnFailure.D())
		g.log.Error("cannot open resource", "resource", rec.Name, "error", err)
		g.event("resource.open_failed", h.openErr.Error())
		return
	}
	var r *Resource
	r = NewResource(ResourceConfig{
		Record: rec, Instance: inst, Log: g.log, Observer: g.m.cfg.Observer,
		OnState: func(*Resource, model.ResourceState) { g.poke() },
		OnFailure: func(fl Failure) {
			select {
			case g.failCh <- failEvent{r: r, f: fl}:
			default:
				g.log.Warn("failure queue full; dropping a failure report", "resource", fl.Resource)
			}
		},
	})
	g.mu.Lock()
	h.r, h.openErr = r, nil
	g.mu.Unlock()
}

// manage brings an owned group to what it should be.
func (g *groupRunner) manage(ctx context.Context, f facts, v quorum.GroupView) time.Duration {
	t := g.tenure()
	if t == nil {
		return 0
	}
	if h := t.pendingRelease; h != nil {
		return g.release(ctx, f, h.Reason, h.To, t.status.Message)
	}
	g.syncResources(ctx, f)
	if req := v.Request; req != nil {
		if released, wake := g.handleRequest(ctx, f, *req); released {
			return wake
		}
	}
	for _, rr := range v.Resource {
		g.handleResourceRequest(ctx, rr)
	}
	if f.draining {
		return g.release(ctx, f, model.HandoffDrain, NextOwner(f.group.PreferredOwners, g.m.cfg.Node, f.up, f.possibleOwners(), false), "the owner's clusterd is stopping")
	}
	now := time.Now()
	var wake time.Duration
	if t.held {
		if now.Before(t.heldUntil) {
			g.publish(ctx)
			return t.heldUntil.Sub(now)
		}
		t.held, t.status.Failovers = false, nil
		t.status.Message = "retrying after RetryPeriodOnFailure"
		g.event("group.retry", t.status.Message)
	}
	if t.status.Desired == model.DesiredOnline {
		released, w := g.converge(ctx, f)
		if released {
			return w
		}
		wake = w
		if f.group.AutoFailbackType == model.FailbackAllow {
			back := FailbackTarget(f.group.PreferredOwners, g.m.cfg.Node, f.up, f.group.FailbackWindowStart, f.group.FailbackWindowEnd, g.m.cfg.Now())
			if back != "" && f.canOwn(back) {
				return g.release(ctx, f, model.HandoffFailback, back, fmt.Sprintf("failing back to preferred owner %s", back))
			}
			if f.group.FailbackWindowStart >= 0 && f.group.FailbackWindowEnd >= 0 {
				wake = minWake(wake, time.Until(g.m.cfg.Now().Truncate(time.Hour).Add(time.Hour)))
			}
		}
	} else {
		g.offlineAll(ctx)
	}
	if err := g.publish(ctx); err != nil {
		wake = minWake(wake, time.Second)
	}
	return wake
}

func minWake(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// converge brings every resource that should be online online, bottom-up,
// and applies the restart policy to those that fail.
func (g *groupRunner) converge(ctx context.Context, f facts) (released bool, wake time.Duration) {
	t := g.tenure()
	online := func(n string) bool {
		h := t.res[strings.ToLower(n)]
		return h != nil && h.state() == model.ResourceOnline
	}
	for _, name := range t.deps.OnlineOrder() {
		h := t.res[strings.ToLower(name)]
		if h == nil || h.adminOff {
			continue
		}
		switch h.state() {
		case model.ResourceOnline, model.ResourceOnlinePending, model.ResourceOfflinePending, model.ResourcePending:
			continue
		case model.ResourceFailed:
			if h.retryAt.IsZero() {
				continue
			}
			if d := time.Until(h.retryAt); d > 0 {
				wake = minWake(wake, d)
				continue
			}
		}
		if !t.deps.Satisfied(name, online) {
			continue
		}
		if ctx.Err() != nil || t.fenced {
			return false, 0
		}
		err := g.bringOnline(ctx, f, h)
		g.publish(ctx)
		if err != nil {
			if rel, w := g.applyPolicy(ctx, f, h, err); rel {
				return true, w
			}
			wake = minWake(wake, time.Until(h.retryAt))
		}
	}
	return false, wake
}

// bringOnline restores h's checkpoints, starts storing their changes and
// calls Online.
func (g *groupRunner) bringOnline(ctx context.Context, f facts, h *hosted) error {
	t := g.tenure()
	if h.r == nil {
		g.open(ctx, f, h)
		if h.r == nil {
			return h.openErr
		}
	}
	h.retryAt = time.Time{}
	fence := t.own.Fence()
	cp := g.m.cfg.Checkpoints
	if err := cp.Restore(ctx, h.rec, fence); err != nil {
		h.r.markFailed()
		return fmt.Errorf("restoring the checkpoints of resource %q: %w", h.rec.Name, err)
	}
	if err := cp.StartOnline(ctx, h.rec, fence); err != nil {
		h.r.markFailed()
		return fmt.Errorf("starting the checkpoints of resource %q: %w", h.rec.Name, err)
	}
	if err := h.r.Online(ctx); err != nil {
		if cerr := cp.Offline(context.WithoutCancel(ctx), h.rec); cerr != nil {
			g.log.Warn("last checkpoint save after a failed Online", "resource", h.rec.Name, "error", cerr)
		}
		return err
	}
	h.lastErr = ""
	return nil
}

// onFailure handles a health-check failure reported by a resource.
func (g *groupRunner) onFailure(ctx context.Context, ev failEvent) {
	t := g.tenure()
	if t == nil || t.fenced {
		return
	}
	var h *hosted
	for _, x := range t.res {
		if x.r == ev.r {
			h = x
		}
	}
	if h == nil {
		return // a resource of an earlier tenure
	}
	f, ok := g.m.facts(g.name)
	if !ok {
		return
	}
	if err := g.m.cfg.Checkpoints.Offline(ctx, h.rec); err != nil {
		g.log.Warn("last checkpoint save after a failure", "resource", h.rec.Name, "error", err)
	}
	g.applyPolicy(ctx, f, h, ev.f.Err)
	g.publish(ctx)
}

// applyPolicy takes a failed resource's dependents offline and applies its
// RestartAction: restart after RestartDelay, stay failed until
// RetryPeriodOnFailure, or fail the whole group over.
func (g *groupRunner) applyPolicy(ctx context.Context, f facts, h *hosted, cause error) (released bool, wake time.Duration) {
	t := g.tenure()
	now := time.Now()
	if h.r != nil && errors.Is(cause, plugins.ErrPluginExited) {
		// The instance died with its plugin process (or sandbox): what
		// follows, here or after a failover, must open the resource again,
		// in a new process, rather than call the dead one until the
		// restart threshold runs out.
		g.closeHosted(h)
		g.mu.Lock()
		h.r = nil
		g.mu.Unlock()
	}
	p := h.rec.Properties
	n := h.restarts.Add(now)
	h.lastErr = cause.Error()
	for _, d := range t.deps.Dependents(h.rec.Name) {
		if dh := t.res[strings.ToLower(d)]; dh != nil {
			g.takeOffline(ctx, dh)
		}
	}
	dec := DecideRestart(p.RestartAction, p.RestartThreshold, n)
	g.log.Warn("resource failed", "resource", h.rec.Name, "error", cause, "failures", n, "threshold", p.RestartThreshold, "decision", dec)
	g.m.cfg.Events("resource.failed", h.rec.Name, fmt.Sprintf("%v (failure %d within %s; %s)", cause, n, p.RestartPeriod, dec))
	switch dec {
	case Restart:
		g.m.cfg.Observer.Restart(g.name, h.rec.Name)
		h.retryAt = now.Add(p.RestartDelay.D())
		return false, max(p.RestartDelay.D(), time.Millisecond)
	case FailoverGroup:
		h.retryAt = now.Add(p.RetryPeriodOnFailure.D())
		to := NextOwner(f.group.PreferredOwners, g.m.cfg.Node, f.up, f.possibleOwners(), true)
		return true, g.release(ctx, f, model.HandoffFailover, to,
			fmt.Sprintf("resource %q failed %d times within %s", h.rec.Name, n, p.RestartPeriod))
	default:
		h.retryAt = now.Add(p.RetryPeriodOnFailure.D())
		return false, p.RetryPeriodOnFailure.D()
	}
}

// takeOffline takes one resource offline (PendingTimeout → Terminate inside)
// and stores its checkpoints a last time.
func (g *groupRunner) takeOffline(ctx context.Context, h *hosted) {
	if h.r == nil {
		return
	}
	switch h.r.State() {
	case model.ResourceOffline, model.ResourceFailed:
		return
	}
	if err := h.r.Offline(ctx); err != nil {
		h.lastErr = err.Error()
		g.log.Warn("resource did not go offline cleanly", "resource", h.rec.Name, "error", err)
		g.m.cfg.Events("resource.offline_failed", h.rec.Name, err.Error())
	}
	if err := g.m.cfg.Checkpoints.Offline(ctx, h.rec); err != nil {
		g.log.Warn("last checkpoint save", "resource", h.rec.Name, "error", err)
	}
	g.publish(ctx)
}

// offlineAll takes the group offline top-down (rule 12).
func (g *groupRunner) offlineAll(ctx context.Context) {
	t := g.tenure()
	for _, name := range t.deps.OfflineOrder() {
		if h := t.res[strings.ToLower(name)]; h != nil {
			g.takeOffline(ctx, h)
		}
	}
}

// release takes the group offline and hands it to node to (rule 13: the
// next owner acquires it; "" lets the usual rules pick one), leaving the
// reason in the status. It returns the wake-up delay when the handoff could
// not be written yet.
func (g *groupRunner) release(ctx context.Context, f facts, reason, to, msg string) time.Duration {
	t := g.tenure()
	g.offlineAll(ctx)
	h := &model.Handoff{From: g.m.cfg.Node, To: to, Reason: reason, Time: time.Now().UTC()}
	t.pendingRelease = h
	st, rs := g.statuses(t)
	st.Handoff, st.Message = h, msg
	if err := g.m.cfg.Store.HandOff(ctx, t.own, st, rs, t.done...); err != nil {
		if errors.Is(err, model.ErrFenced) {
			g.lost("the group's ownership was gone when handing it off")
			return 0
		}
		g.log.Warn("handing the group off; will retry", "error", err)
		return time.Second
	}
	target := to
	if target == "" {
		target = "the next available owner"
	}
	g.log.Info("group released", "reason", reason, "to", target)
	g.event("group."+reason, fmt.Sprintf("%s: %s handed the group to %s", msg, g.m.cfg.Node, target))
	g.endTenure(true)
	return 0
}

// handleRequest acts on an operator's group request. It reports whether the
// group was released (moved).
func (g *groupRunner) handleRequest(ctx context.Context, f facts, req model.GroupRequest) (bool, time.Duration) {
	t := g.tenure()
	key := g.m.cfg.Store.RequestKey(req)
	t.done = append(t.done, key)
	t.status.Request = req.ID
	switch req.Action {
	case model.RequestOnline:
		t.status.Desired, t.status.Failovers, t.held = model.DesiredOnline, nil, false
		for _, h := range t.res {
			h.adminOff, h.retryAt = false, time.Time{}
			h.restarts.Reset()
		}
		t.status.Message = "brought online by an operator"
	case model.RequestOffline:
		t.status.Desired = model.DesiredOffline
		t.status.Message = "taken offline by an operator"
		g.offlineAll(ctx)
	case model.RequestMove:
		to := req.Node
		if to == "" {
			to = NextOwner(f.group.PreferredOwners, g.m.cfg.Node, f.up, f.possibleOwners(), false)
		}
		switch {
		case to == "":
			t.status.Message = "move refused: no other node is up and may own the group"
		case strings.EqualFold(to, g.m.cfg.Node):
			t.status.Message = fmt.Sprintf("move: the group is already on %s", to)
		case !f.isUp(to):
			t.status.Message = fmt.Sprintf("move refused: node %q is not up", to)
		case !f.canOwn(to):
			t.status.Message = fmt.Sprintf("move refused: node %q is not a possible owner of every resource of the group", to)
		default:
			return true, g.release(ctx, f, model.HandoffMove, to, fmt.Sprintf("moved to %s by an operator", to))
		}
		g.log.Warn("group move refused", "message", t.status.Message)
	}
	return false, 0
}

// handleResourceRequest acts on an operator's resource request.
func (g *groupRunner) handleResourceRequest(ctx context.Context, rr model.ResourceRequest) {
	t := g.tenure()
	t.done = append(t.done, g.m.cfg.Store.ResourceRequestKey(rr))
	h := t.byID[rr.Resource]
	if h == nil {
		return
	}
	switch rr.Action {
	case model.RequestFail:
		if h.r != nil && h.r.State() == model.ResourceOnline {
			h.r.Fail(errors.New("failure requested by an operator"))
		}
	case model.RequestOffline:
		h.adminOff = true
		for _, d := range t.deps.Dependents(h.rec.Name) {
			if dh := t.res[strings.ToLower(d)]; dh != nil {
				g.takeOffline(ctx, dh)
			}
		}
		g.takeOffline(ctx, h)
	case model.RequestOnline:
		h.adminOff, h.retryAt = false, time.Time{}
		t.status.Desired = model.DesiredOnline
	}
}

// statuses computes what the group and its resources look like now.
func (g *groupRunner) statuses(t *tenure) (model.GroupStatus, []model.ResourceStatus) {
	now := time.Now().UTC()
	var states []model.ResourceState
	rs := make([]model.ResourceStatus, 0, len(t.res))
	for _, h := range t.res {
		s := h.state()
		states = append(states, s)
		rs = append(rs, model.ResourceStatus{
			ID: h.rec.ID, Name: h.rec.Name, Group: g.name, Node: g.m.cfg.Node, State: s.String(), Code: int(s),
			Token: t.own.Token, Restarts: h.restarts.Count(time.Now()), Error: h.lastErr, Time: now,
		})
	}
	gs := model.DeriveGroupState(states)
	if t.held {
		gs = model.GroupFailed
	}
	st := t.status
	st.State, st.Code, st.Time = gs.String(), int(gs), now
	return st, rs
}

// publish writes the group's and its resources' states where they changed,
// fenced by the tenure's token, and deletes the requests acted on.
func (g *groupRunner) publish(ctx context.Context) error {
	t := g.tenure()
	if t == nil || t.fenced {
		return nil
	}
	st, rs := g.statuses(t)
	var changed []model.ResourceStatus
	for _, r := range rs {
		old, ok := t.published[r.ID]
		if !ok || old.Code != r.Code || old.Error != r.Error || old.Restarts != r.Restarts {
			changed = append(changed, r)
		}
	}
	same := st
	same.Time = t.publishedGroup.Time
	if len(changed) == 0 && len(t.done) == 0 && equalStatus(same, t.publishedGroup) {
		return nil
	}
	err := g.m.cfg.Store.Publish(ctx, t.own.Fence(), &st, changed, t.done...)
	if errors.Is(err, model.ErrFenced) {
		g.lost("a state write was fenced: another node owns the group")
		return err
	}
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("publishing the group's state", "error", err)
		}
		return err
	}
	for _, r := range changed {
		t.published[r.ID] = r
		g.m.cfg.Observer.ResourceState(g.name, r.Name, model.ResourceState(r.Code))
	}
	g.m.cfg.Observer.GroupState(g.name, model.GroupState(st.Code), true)
	t.publishedGroup, t.done = st, nil
	return nil
}

func equalStatus(a, b model.GroupStatus) bool {
	if a.State != b.State || a.Owner != b.Owner || a.Token != b.Token || a.Desired != b.Desired ||
		a.Message != b.Message || a.Request != b.Request || len(a.Failovers) != len(b.Failovers) || (a.Handoff == nil) != (b.Handoff == nil) {
		return false
	}
	for i := range a.Failovers {
		if !a.Failovers[i].Equal(b.Failovers[i]) {
			return false
		}
	}
	return true
}

// lost ends a tenure whose ownership is gone: everything is terminated and
// nothing more is written.
func (g *groupRunner) lost(why string) {
	g.log.Error("lost the group: terminating its resources", "reason", why)
	g.event("group.lost", fmt.Sprintf("%s lost the group: %s", g.m.cfg.Node, why))
	g.terminateAll(why)
	g.endTenure(false)
}

// terminateAll takes every resource of the tenure down at once and stops
// its checkpoints without a last save. It may run on any goroutine; a call
// while another is terminating waits for it, so whoever closes the
// instances next never overtakes a Terminate.
func (g *groupRunner) terminateAll(why string) {
	g.mu.Lock()
	t := g.t
	if t == nil {
		g.mu.Unlock()
		return
	}
	if t.fenced {
		g.mu.Unlock()
		<-t.down
		return
	}
	t.fenced = true
	defer close(t.down)
	hs := make([]*hosted, 0, len(t.res))
	for _, h := range t.res {
		hs = append(hs, h)
	}
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, h := range hs {
		if h.r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := h.r.Terminate(ctx); err != nil {
				g.log.Warn("terminate", "resource", h.rec.Name, "reason", why, "error", err)
			}
		}()
	}
	wg.Wait()
	for _, h := range hs {
		g.m.cfg.Checkpoints.Abandon(h.rec)
	}
}

// endTenure closes the tenure's instances and forgets it.
func (g *groupRunner) endTenure(clean bool) {
	g.mu.Lock()
	t := g.t
	g.t = nil
	g.mu.Unlock()
	if t == nil {
		return
	}
	for _, h := range t.res {
		if !clean {
			g.m.cfg.Checkpoints.Abandon(h.rec)
		}
		g.closeHosted(h)
	}
	g.m.mu.Lock()
	for id := range t.byID {
		if g.m.byID[id] == g {
			delete(g.m.byID, id)
		}
	}
	g.m.mu.Unlock()
	g.m.setOwned(g.name, false)
	g.m.cfg.Observer.GroupState(g.name, model.GroupOffline, false)
	for _, h := range t.res {
		g.m.cfg.Observer.ResourceState(g.name, h.rec.Name, model.ResourceOffline)
	}
}

func (g *groupRunner) closeHosted(h *hosted) {
	if h.r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.r.Close(ctx); err != nil {
		g.log.Debug("closing resource", "resource", h.rec.Name, "error", err)
	}
}

// end runs when the runner stops (the node stops, fences, or the group was
// deleted): whatever still runs is terminated.
func (g *groupRunner) end() {
	if g.tenure() != nil {
		g.terminateAll("the monitor is stopping")
		g.endTenure(false)
	}
}
