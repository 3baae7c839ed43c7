package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/resmon/resmon/model"
)

// statuses computes what the group and its resources look like now.
func (x *executor) statuses() (model.GroupStatus, []model.ResourceStatus) {
	t := x.t
	now := x.m.cfg.Now().UTC()
	token := t.lease.Fence().Token
	states := make([]model.ResourceState, 0, len(t.res))
	rs := make([]model.ResourceStatus, 0, len(t.res))
	for _, h := range t.res {
		s := h.state()
		states = append(states, s)
		msg := h.lastErr
		if b := findBan(t.bans, h.rec.ID, x.m.cfg.Node); b != nil && msg == "" {
			msg = banMessage(*b, x.group)
		}
		rs = append(rs, model.ResourceStatus{
			ID: h.rec.ID, Name: h.rec.Name, Group: x.group, Node: x.m.cfg.Node, State: s.String(), Code: int(s),
			Token: token, Restarts: h.restarts.Count(now), Error: msg, Time: now,
		})
		if s == model.ResourceFailed && !h.retryAt.IsZero() {
			rs[len(rs)-1].RetryAt = h.retryAt.UTC()
		}
	}
	gs := model.DeriveGroupState(states)
	if t.held {
		gs = model.GroupFailed
	}
	msg := t.message
	for _, h := range t.res {
		if h.hold != "" {
			msg = "waiting for an operator: " + h.hold
			break
		}
	}
	return model.GroupStatus{
		Group: x.group, State: gs.String(), Code: int(gs), Owner: x.m.cfg.Node, Token: token,
		Desired: t.desired, Failovers: t.failovers, Bans: t.bans, Message: msg, Maintenance: t.suspended, Time: now,
		HeldUntil: func() time.Time {
			if t.held {
				return t.heldUntil.UTC()
			}
			return time.Time{}
		}(),
	}, rs
}

// publish writes the group's and its resources' states where they changed
// and the answers queued, fenced by the tenure's token.
func (x *executor) publish(ctx context.Context) error {
	t := x.t
	if t == nil {
		return nil
	}
	st, rs := x.statuses()
	var changed []model.ResourceStatus
	for _, r := range rs {
		old, ok := t.published[r.ID]
		if !ok || old.Code != r.Code || old.Error != r.Error || old.Restarts != r.Restarts || !old.RetryAt.Equal(r.RetryAt) {
			changed = append(changed, r)
		}
	}
	if len(changed) == 0 && len(t.answers) == 0 && t.publishedGroup != nil && sameStatus(st, *t.publishedGroup) {
		return nil
	}
	err := t.lease.Publish(ctx, model.Publication{Group: &st, Resources: changed, Answers: t.answers})
	if err != nil {
		// A fenced write means another tenure owns the group: the next
		// decision sees it in the group's view and ends this one.
		if ctx.Err() == nil && !errors.Is(err, model.ErrFenced) {
			x.log.Warn("publishing the group's state", "error", err)
		}
		return err
	}
	for _, r := range changed {
		t.published[r.ID] = r
		x.m.cfg.Observer.ResourceState(x.group, r.Name, model.ResourceState(r.Code))
	}
	x.m.cfg.Observer.GroupState(x.group, model.GroupState(st.Code), true)
	t.publishedGroup, t.answers = &st, nil
	return nil
}

// sameStatus reports whether two statuses differ only in their time.
func sameStatus(a, b model.GroupStatus) bool {
	if a.State != b.State || a.Owner != b.Owner || a.Token != b.Token || a.Desired != b.Desired ||
		a.Message != b.Message || a.Maintenance != b.Maintenance || !a.HeldUntil.Equal(b.HeldUntil) || len(a.Failovers) != len(b.Failovers) || (a.Handoff == nil) != (b.Handoff == nil) ||
		!slices.EqualFunc(a.Bans, b.Bans, func(x, y model.Ban) bool { return x.Resource == y.Resource && x.Node == y.Node }) {
		return false
	}
	for i := range a.Failovers {
		if !a.Failovers[i].Equal(b.Failovers[i]) {
			return false
		}
	}
	return true
}

// banMessage says where a ban holds and how it is lifted, for the
// resource's published error and the event log.
func banMessage(b model.Ban, group string) string {
	where := "node " + b.Node + " is kept out of its possible owners"
	if b.Everywhere() {
		where = "it stays failed on every node"
	}
	return fmt.Sprintf("%s; %s until an operator brings it online (cluster resource %q online, or cluster group %q online)", b.Reason, where, b.Name, group)
}
