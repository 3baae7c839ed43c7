package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk"
)

// The executor's effects on the resources it hosts: opening and closing
// instances, Online with its checkpoints restored first, Offline with a
// last save, the restart policy carried out, recovery.

// hosted is one resource of an owned group on this node.
type hosted struct {
	rec      model.Resource
	r        *Resource // nil while no instance is open
	restarts Window
	retryAt  time.Time
	adminOff bool
	lastErr  string
	failed   error // a failure reported and not yet handled
	// down: Failed with no instance open (its Open failed, or its plugin
	// process died); cleared when an operator takes it offline.
	down bool
	// reopen: the record changed in a way only a new Open applies (private
	// properties, type, host process); done before its next Online.
	reopen bool
	// hold: its checkpoint data waits for an operator's recover or accept
	// (model.ErrCheckpointHold); the message names both.
	hold string
}

func (h *hosted) state() model.ResourceState {
	switch {
	case h.r != nil:
		return h.r.State()
	case h.down:
		return model.ResourceFailed
	}
	return model.ResourceOffline
}

// clearFailure makes a Failed resource Offline: an operator took it, or its
// group, offline, so its failure is over and no retry is due. Terminate
// already ran when it failed.
func (h *hosted) clearFailure() {
	if h.state() != model.ResourceFailed {
		return
	}
	h.down, h.retryAt = false, time.Time{}
	if h.r != nil {
		h.r.clearFailure()
	}
}

// needsReopen reports whether a record edited from old to rec applies only
// through a new Open.
func needsReopen(old, rec model.Resource) bool {
	return !reflect.DeepEqual(old.Private, rec.Private) || old.Type != rec.Type ||
		old.Properties.SeparateMonitor != rec.Properties.SeparateMonitor ||
		old.Properties.DeadlockTimeout != rec.Properties.DeadlockTimeout
}

func (x *executor) hosted(id string) *hosted {
	for _, h := range x.t.res {
		if h.rec.ID == id {
			return h
		}
	}
	panic(fmt.Sprintf("monitor: action on resource %s, which group %q does not host", id, x.group))
}

// open opens h's instance through the driver of its type. A failure the
// type classed as one retrying cannot fix (sdk.ClassBanNode,
// ClassFailEverywhere) goes to the policy at once; others wait for
// RetryPeriodOnFailure, as before.
func (x *executor) open(ctx context.Context, h *hosted) error {
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
		h.lastErr, h.down = err.Error(), true
		h.retryAt = x.m.cfg.Now().Add(rec.Properties.RetryPeriodOnFailure.D())
		x.log.Error("cannot open resource", "resource", rec.Name, "error", err)
		x.event("resource.open_failed", err.Error())
		if sdk.ClassOf(err) != sdk.ClassRestart {
			h.failed = err
		}
		return err
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
	h.r, h.down, h.reopen = r, false, false
	x.m.hosted.add(x.group, x.t.lease.Fence().Token, r)
	if b := findBan(x.t.bans, rec.ID, x.m.cfg.Node); b != nil {
		// Banned here by an earlier tenure: shown Failed, never started.
		r.markFailed()
	}
	return nil
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

// bringOnline brings hs online together: each one's checkpoints are
// restored and start being stored, the group's status shows them
// OnlinePending in one publication, and their Online entry points run side
// by side. None of them depends on another (decideOnline), so nothing
// orders them; what would serialise them is etcd's round trips, one
// publication per resource and per state. A failure is left for the
// restart policy.
func (x *executor) bringOnline(ctx context.Context, hs []*hosted) {
	ready := make([]bool, len(hs))
	eachOf(hs, func(i int, h *hosted) { ready[i] = x.prepareOnline(ctx, h) })
	var started []*hosted
	for i, h := range hs {
		if ready[i] {
			// Show the pending state while the entry points run: they
			// may take PendingTimeout and more.
			h.r.setState(model.ResourceOnlinePending)
			started = append(started, h)
		}
	}
	if len(started) == 0 {
		return
	}
	x.publish(ctx)
	eachOf(started, func(_ int, h *hosted) {
		if err := h.r.Online(ctx); err != nil {
			h.failed = err
			return
		}
		h.lastErr = ""
	})
}

// prepareOnline readies h for its Online: an instance open with its
// current record, its checkpoints restored and being stored. It reports
// whether h may come online; if not, why is in h.
func (x *executor) prepareOnline(ctx context.Context, h *hosted) bool {
	if h.reopen && h.r != nil {
		x.log.Info("reopening the resource: its properties changed since it was opened", "resource", h.rec.Name)
		x.close(h)
	}
	if h.r == nil {
		if err := x.open(ctx, h); err != nil {
			h.failed = err
			return false
		}
	}
	h.retryAt = time.Time{}
	fence := x.t.lease.Fence()
	cp := x.m.cfg.Checkpoints
	if err := cp.Restore(ctx, h.rec, fence); err != nil {
		h.r.markFailed()
		if errors.Is(err, model.ErrCheckpointHold) {
			// Not a failure of this node: no restart, no failover.
			h.hold, h.lastErr = err.Error(), err.Error()
			x.log.Error("resource waits for an operator", "resource", h.rec.Name, "reason", err)
			x.event("resource.waiting", err.Error())
			return false
		}
		h.failed = fmt.Errorf("restoring the checkpoints of resource %q: %w", h.rec.Name, err)
		return false
	}
	if err := cp.StartOnline(ctx, h.rec, fence); err != nil {
		h.r.markFailed()
		h.failed = fmt.Errorf("starting the checkpoints of resource %q: %w", h.rec.Name, err)
		return false
	}
	return true
}

// eachOf calls do for every element of hs, each in its own goroutine (the
// first in this one), and returns when all have returned. Each call may
// change only its own element: the executor's other state is not locked.
func eachOf(hs []*hosted, do func(int, *hosted)) {
	if len(hs) == 0 {
		return
	}
	var wg sync.WaitGroup
	for i, h := range hs[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do(i+1, h)
		}()
	}
	do(0, hs[0])
	wg.Wait()
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
	h.r.stopHealth()
	h.r.setState(model.ResourceOfflinePending)
	x.publish(ctx)
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
		h.down = true
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
	if a.Ban != nil {
		x.ban(*a.Ban)
		h.lastErr = banMessage(*a.Ban, x.group)
	}
	switch a.Decision {
	case Restart:
		x.m.cfg.Observer.Restart(x.group, h.rec.Name)
		h.retryAt = now.Add(p.RestartDelay.D())
	case FailoverGroup:
		h.retryAt = now.Add(p.RetryPeriodOnFailure.D())
		return x.release(ctx, model.HandoffFailover, a.To, fmt.Sprintf("resource %q failed %d times within %s", h.rec.Name, n, p.RestartPeriod), nil)
	case FailoverBanned:
		return x.release(ctx, model.HandoffFailover, a.To, fmt.Sprintf("resource %q failed on %s, which is now banned from it", h.rec.Name, x.m.cfg.Node), nil)
	case StayFailedBanned, FailedEverywhere:
		h.retryAt = time.Time{} // until an operator lifts the ban
	default:
		h.retryAt = now.Add(p.RetryPeriodOnFailure.D())
	}
	return nil
}

// ban records b in the tenure (replacing one of the same resource and
// node) and in the event log; the group's status publishes it.
func (x *executor) ban(b model.Ban) {
	t := x.t
	t.bans = slices.DeleteFunc(t.bans, func(o model.Ban) bool {
		return o.Resource == b.Resource && strings.EqualFold(o.Node, b.Node)
	})
	t.bans = append(t.bans, b)
	msg := banMessage(b, x.group)
	x.log.Error("resource banned", "resource", b.Name, "node", b.Node, "everywhere", b.Everywhere(), "reason", b.Reason)
	x.m.cfg.Events("resource.banned", b.Name, msg)
}

// unban lifts the bans of resource id ("" for every resource), as an
// operator's online does.
func (x *executor) unban(id string) {
	t := x.t
	n := len(t.bans)
	t.bans = slices.DeleteFunc(t.bans, func(b model.Ban) bool { return id == "" || b.Resource == id })
	if len(t.bans) == n {
		return
	}
	for _, h := range t.res {
		if (id == "" || h.rec.ID == id) && h.state() == model.ResourceFailed {
			h.lastErr = ""
			h.retryAt = x.m.cfg.Now()
		}
	}
	x.log.Info("bans lifted by an operator", "resource", id)
}

// onlyPrivateChanged: of what needs a new Open, only the private
// properties changed (not the type, nor how it is hosted).
func onlyPrivateChanged(old, rec model.Resource) bool {
	old.Private = rec.Private
	return !needsReopen(old, rec)
}

// applyPrivate hands changed private properties to h's open instance
// (sdk.SetPrivateProperties) and reports whether the resource took them
// where it is; if not, they apply at its next Open (before its next
// Online), as for a type that answers no control codes.
func (x *executor) applyPrivate(ctx context.Context, h *hosted) bool {
	in, err := json.Marshal(h.rec.Private)
	if err == nil {
		_, err = h.r.Control(ctx, sdk.SetPrivateProperties, in)
	}
	switch {
	case err == nil:
		x.log.Info("private properties applied by the resource", "resource", h.rec.Name)
		return true
	case !errors.Is(err, sdk.ErrInvalidFunction):
		x.log.Warn("the resource refused its new private properties", "resource", h.rec.Name, "error", err)
		x.m.cfg.Events("resource.properties_refused", h.rec.Name, err.Error())
	}
	return false
}

// control carries out an operator's control request: the code goes to the
// resource's instance, its output comes back in the reply.
func (x *executor) control(ctx context.Context, a Action) {
	h := x.hosted(a.Resource)
	code := sdk.ControlCode(a.Request.Code)
	out, err := h.r.Control(ctx, code, a.Request.In)
	switch {
	case err != nil:
		a.Reply.Code, a.Reply.Message = model.ResultFailed, fmt.Sprintf("control code %s of resource %q: %v", code, h.rec.Name, err)
	case len(out) > model.MaxControlInput:
		a.Reply.Code, a.Reply.Message = model.ResultFailed, fmt.Sprintf("control code %s of resource %q: %d bytes of output (at most %d are kept)", code, h.rec.Name, len(out), model.MaxControlInput)
	default:
		a.Reply.Out = out
		a.Reply.Message = fmt.Sprintf("control code %s of resource %q: %d bytes of output", code, h.rec.Name, len(out))
	}
	x.answer(a)
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
		} else {
			x.unhold(h)
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

// unhold lets a resource held for its checkpoints try again now.
func (x *executor) unhold(h *hosted) {
	if h.hold == "" {
		return
	}
	h.hold, h.lastErr, h.retryAt = "", "", x.m.cfg.Now()
	h.down = h.r == nil
	x.log.Info("resource released by an operator; trying again", "resource", h.rec.Name)
}

// accept takes held checkpoint data as it is.
func (x *executor) accept(ctx context.Context, a Action) {
	var changed, failed []string
	for _, h := range x.t.res {
		if (a.Resource != "" && h.rec.ID != a.Resource) || (a.Resource == "" && h.hold == "") {
			continue
		}
		done, err := x.m.cfg.Checkpoints.Accept(ctx, h.rec, x.t.lease.Fence())
		changed = append(changed, done...)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", h.rec.Name, err))
			continue
		}
		x.unhold(h)
	}
	a.Reply.Message = "nothing held: nothing to accept"
	if len(changed) > 0 {
		a.Reply.Message = "accepted " + strings.Join(changed, "; ")
	}
	if len(failed) > 0 {
		a.Reply.Code = model.ResultFailed
		a.Reply.Message += "; failed: " + strings.Join(failed, "; ")
	}
	x.answer(a)
}

// cleanup carries out an operator's cleanup of the group or of one
// resource: restart counts, failover counts and holds are forgotten, a
// pending failure is dropped, and a Failed resource (or one that could not
// be opened) is tried again now. Resources taken offline by an operator
// stay offline: cleanup forgets failures, not decisions.
func (x *executor) cleanup(a Action, now time.Time) {
	t := x.t
	if a.Resource == "" {
		t.held, t.heldUntil, t.failovers = false, time.Time{}, nil
		t.message = ""
	}
	for _, h := range t.res {
		if a.Resource != "" && h.rec.ID != a.Resource {
			continue
		}
		h.restarts.Reset()
		h.failed, h.lastErr = nil, ""
		if h.state() == model.ResourceFailed {
			h.retryAt = now
		}
		if h.r == nil {
			x.open(context.Background(), h)
		}
	}
	subject := "the group"
	if a.Resource != "" {
		subject = "resource " + x.hosted(a.Resource).rec.Name
	}
	x.event("group.cleanup", fmt.Sprintf("%s cleaned up on %s (%s)", subject, x.m.cfg.Node, a.Reply.Message))
	x.answer(a)
}
