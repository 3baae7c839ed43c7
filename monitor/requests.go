package monitor

import (
	"fmt"
	"strings"

	"github.com/resmon/resmon/model"
)

// decideRequest decides how the owner carries out the oldest pending
// operator request. Every request gets a typed reply; the reply of an
// action that changes something is published with that change.
func decideRequest(f Facts, p placement, req model.Request) Action {
	t := f.Tenure
	by := ""
	if req.Operator != "" {
		by = " by " + req.Operator
	}
	a := Action{Request: &req, Reply: model.Reply{Code: model.ResultDone}}
	refuse := func(format string, args ...any) Action {
		a.Kind, a.Resource, a.Reply.Code, a.Reply.Message = Answer, "", model.ResultRefused, fmt.Sprintf(format, args...)
		return a
	}
	if err := req.Validate(); err != nil {
		return refuse("%v", err)
	}
	if req.Action == model.RequestCleanup {
		if req.Resource != "" {
			r := t.resource(req.Resource)
			if r == nil {
				return refuse("resource %s is not in group %q", req.Resource, f.Group.Name)
			}
			a.Resource = r.Record.ID
			a.Reply.Message = fmt.Sprintf("resource %q cleaned up%s: restart count and Failed state reset", r.Record.Name, by)
		} else {
			a.Reply.Message = "cleaned up" + by + ": restart and failover counts and Failed states reset"
		}
		if f.Maintenance != "" {
			a.Reply.Message += fmt.Sprintf("; in %s, so nothing is tried until it ends", f.Maintenance)
		}
		a.Kind = Cleanup
		return a
	}
	if f.Maintenance != "" && req.Action != model.RequestRecover && req.Action != model.RequestAccept {
		return refuse("the group is in %s: the monitor takes no action until it ends", f.Maintenance)
	}
	if req.Action == model.RequestRecover || req.Action == model.RequestAccept {
		if req.Resource != "" && t.resource(req.Resource) == nil {
			return refuse("resource %s is not in group %q", req.Resource, f.Group.Name)
		}
		a.Kind, a.Resource = Recover, req.Resource
		if req.Action == model.RequestAccept {
			a.Kind = Accept
		}
		return a
	}
	if req.Resource != "" {
		r := t.resource(req.Resource)
		if r == nil {
			return refuse("resource %s is not in group %q", req.Resource, f.Group.Name)
		}
		a.Resource = r.Record.ID
		switch req.Action {
		case model.RequestOnline:
			if r.Hold != "" {
				return refuse("%s", r.Hold)
			}
			a.Kind, a.Reply.Message = ResourceOnline, fmt.Sprintf("resource %q brought online%s", r.Record.Name, by)
		case model.RequestOffline:
			a.Kind, a.Reply.Message = ResourceOffline, fmt.Sprintf("resource %q taken offline%s", r.Record.Name, by)
		case model.RequestFail:
			if r.State != model.ResourceOnline {
				return refuse("resource %q is %s, not Online: only an online resource can be failed", r.Record.Name, r.State)
			}
			a.Kind, a.Reply.Message = ResourceFail, fmt.Sprintf("resource %q failed%s", r.Record.Name, by)
		case model.RequestControl:
			if !r.Open {
				return refuse("resource %q is not open on %s (its type could not open it): no control code can reach it", r.Record.Name, f.Node)
			}
			a.Kind = Control
		default:
			return refuse("%s applies to groups, not to resource %q", req.Action, r.Record.Name)
		}
		return a
	}
	switch req.Action {
	case model.RequestOnline:
		a.Kind, a.Desired, a.Reset = SetDesired, model.DesiredOnline, true
		a.Reply.Message = "brought online" + by
	case model.RequestOffline:
		a.Kind, a.Desired = SetDesired, model.DesiredOffline
		a.Reply.Message = "taken offline" + by
	case model.RequestMove:
		to := req.Node
		if to == "" {
			to = p.next(f.Node, false)
		}
		switch {
		case to == "":
			return refuse("no other node is up and may own the group")
		case strings.EqualFold(to, f.Node):
			a.Kind, a.Reply.Code, a.Reply.Message = Answer, model.ResultUnchanged, fmt.Sprintf("the group is already on %s", f.Node)
			return a
		case !p.isUp(to):
			return refuse("node %q is not up", to)
		case !p.canOwn(to):
			return refuse("node %q is not a possible owner of every resource of the group", to)
		case !p.allowed(to):
			b := findBanOn(t.Bans, to)
			return refuse("node %q is banned from resource %q (%s); `cluster resource %q online` lifts the ban", to, b.Name, b.Reason, b.Name)
		}
		a.Kind, a.Reason, a.To = Release, model.HandoffMove, to
		a.Message = fmt.Sprintf("moved to %s%s", to, by)
		a.Reply.Message = a.Message
	default:
		return refuse("%s applies to resources, not to groups", req.Action)
	}
	return a
}

// findBanOn is the first ban of node (which the caller knows has one).
func findBanOn(bans []model.Ban, node string) model.Ban {
	for _, b := range bans {
		if !b.Everywhere() && strings.EqualFold(b.Node, node) {
			return b
		}
	}
	return model.Ban{}
}
