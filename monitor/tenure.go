package monitor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resmon/resmon/model"
)

// A tenure's life on the executor: how it begins, how it answers
// requests, how it hands the group off, and how it ends.

// tenure is this node's ownership of the group and the resources it hosts
// for it.
type tenure struct {
	lease     Tenure
	desired   string
	failovers []time.Time
	held      bool
	heldUntil time.Time
	message   string
	bans      []model.Ban
	res       []*hosted // sorted by name
	// answers are replies not yet published; release is a handoff not yet
	// written (etcd unreachable), retried before anything else.
	answers []model.Answer
	release *model.Handoff
	// suspended says why the tenure is in maintenance ("": it is not).
	suspended string
	// published is what etcd holds, to write only changes.
	published      map[string]model.ResourceStatus
	publishedGroup *model.GroupStatus
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
		message: st.Message, bans: st.Bans, published: map[string]model.ResourceStatus{}}
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
