package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// ErrUsage reports an action asked for with arguments it cannot take (a
// front end shows it as the operator's mistake, not the cluster's).
var ErrUsage = errors.New("ops: invalid request")

// GroupActions are the actions a group takes (model.Request*).
var GroupActions = []string{model.RequestOnline, model.RequestOffline, model.RequestMove, model.RequestCleanup}

// ResourceActions are the actions a resource takes.
var ResourceActions = []string{model.RequestOnline, model.RequestOffline, model.RequestFail, model.RequestCleanup}

// Filed is a request filed for a group's owner, with the status it
// started from (a front end follows the status from there).
type Filed struct {
	Request model.Request
	Group   model.Group
	// Resource is the resource acted on, for resource actions.
	Resource *model.Resource
	// GroupBefore and ResourceBefore are the statuses when the request
	// was filed.
	GroupBefore    model.GroupStatus
	ResourceBefore model.ResourceStatus
}

// RequestGroup files action (a GroupActions entry) for the owner of the
// named group, node naming a move's target ("" for the next preferred
// owner), and records it in the event log.
func (s Session) RequestGroup(ctx context.Context, name, action, node string) (Filed, error) {
	if !slices.Contains(GroupActions, action) {
		return Filed{}, fmt.Errorf("%w: a group cannot %q (want %s)", ErrUsage, action, strings.Join(GroupActions, ", "))
	}
	if node != "" && action != model.RequestMove {
		return Filed{}, fmt.Errorf("%w: only a move names a node", ErrUsage)
	}
	g, err := s.GroupByName(ctx, name)
	if err != nil {
		return Filed{}, err
	}
	before, _, err := s.Store.ReadGroupStatus(ctx, g.Name)
	if err != nil {
		return Filed{}, err
	}
	req, err := s.Store.File(ctx, model.Request{Group: g.Name, Action: action, Node: node, Operator: s.Operator})
	if err != nil {
		return Filed{}, err
	}
	what := action
	if node != "" {
		what += " to " + node
	}
	s.Record(ctx, "group.request", g.Name, what+" requested", map[string]string{"request": req.ID})
	return Filed{Request: req, Group: g, GroupBefore: before}, nil
}

// RequestResource files action (a ResourceActions entry) for the owner of
// the named resource's group, and records it in the event log.
func (s Session) RequestResource(ctx context.Context, name, action string) (Filed, error) {
	if !slices.Contains(ResourceActions, action) {
		return Filed{}, fmt.Errorf("%w: a resource cannot %q (want %s)", ErrUsage, action, strings.Join(ResourceActions, ", "))
	}
	r, err := s.Store.ResourceByName(ctx, name)
	if err != nil {
		return Filed{}, err
	}
	res := r.Value
	before, _, err := s.Store.ReadResourceStatus(ctx, res.ID)
	if err != nil {
		return Filed{}, err
	}
	req, err := s.Store.File(ctx, model.Request{Group: res.Group, Resource: res.ID, Action: action, Operator: s.Operator})
	if err != nil {
		return Filed{}, err
	}
	s.Record(ctx, "resource.request", res.Name, action+" requested", map[string]string{"request": req.ID, "resource": res.ID})
	return Filed{Request: req, Group: model.Group{Name: res.Group}, Resource: &res, ResourceBefore: before}, nil
}

// GroupRequestDone reports whether st shows an accepted request carried
// out: the group is where the action wants it.
func GroupRequestDone(req model.Request, rep model.Reply, before, st model.GroupStatus) bool {
	switch {
	case rep.Code == model.ResultUnchanged, req.Action == model.RequestCleanup:
		return true
	case req.Action == model.RequestOnline:
		return st.State == "Online"
	case req.Action == model.RequestOffline:
		return st.State == "Offline"
	}
	// A move: the next owner's tenure has begun (not the handoff the old
	// owner published), on the node asked for, and it has settled.
	if st.Token <= rep.Token || (req.Node != "" && !strings.EqualFold(st.Owner, req.Node)) {
		return false
	}
	return Settled(st)
}

// Settled reports whether a group has reached what its owner wants of it: a
// moved group comes up online or offline as it was before.
func Settled(st model.GroupStatus) bool {
	if st.Desired == model.DesiredOffline {
		return st.State == "Offline"
	}
	return st.State == "Online"
}

// ResourceRequestDone reports whether st shows a resource action carried
// out. A fail is done as soon as the status shows the failure: the
// resource Failed, or its restart count went up.
func ResourceRequestDone(action string, before, st model.ResourceStatus) bool {
	switch action {
	case model.RequestCleanup:
		return true // answered: the counts are reset; a retry shows in status
	case model.RequestFail:
		return st.State == "Failed" || st.Restarts > before.Restarts
	case model.RequestOnline:
		return st.State == "Online"
	default:
		return st.State == "Offline"
	}
}

// Maintenance scopes.
const (
	ScopeCluster = string(quorum.ScopeCluster)
	ScopeNode    = string(quorum.ScopeNode)
	ScopeGroup   = string(quorum.ScopeGroup)
)

// SetMaintenance turns maintenance of the cluster, a node or a group on or
// off and records the change. It returns the name it applies to (the
// group's own spelling) and whether anything changed.
func (s Session) SetMaintenance(ctx context.Context, scope, name string, on bool, reason string) (string, bool, error) {
	subject := s.Store.Keys().Prefix()
	switch scope {
	case ScopeCluster:
		name = ""
	case ScopeGroup:
		g, err := s.GroupByName(ctx, name)
		if err != nil {
			return name, false, err
		}
		name, subject = g.Name, g.Name
	case ScopeNode:
		if err := model.ValidName(name); err != nil {
			return name, false, fmt.Errorf("%w: node name %v", ErrUsage, err)
		}
		subject = name
	default:
		return name, false, fmt.Errorf("%w: maintenance scope %q (want cluster, node or group)", ErrUsage, scope)
	}
	changed, err := s.Store.SetMaintenance(ctx, quorum.MaintenanceScope(scope), name, on, model.Mark{By: s.Operator, Reason: reason})
	if err != nil {
		return name, false, err
	}
	if changed {
		state := map[bool]string{true: "on", false: "off"}[on]
		msg := scope + " maintenance " + state
		if reason != "" {
			msg += ": " + reason
		}
		s.Record(ctx, "maintenance."+state, subject, msg, map[string]string{"scope": scope})
	}
	return name, changed, nil
}

// Pause pauses the named node: it owns no group and takes none, and the
// owner hands each of its groups to the next node (a drain). It returns
// the node as it was, whether it was paused now (false: already), and the
// operations state.
func (s Session) Pause(ctx context.Context, name string) (NodeView, bool, model.Ops, error) {
	n, ops, err := s.NodeByName(ctx, name)
	if err != nil {
		return n, false, ops, err
	}
	paused, err := s.Store.Pause(ctx, model.NodePause{Node: n.Node, By: s.Operator, Groups: n.Groups})
	if err != nil {
		return n, false, ops, err
	}
	if paused {
		s.Record(ctx, "node.pause", n.Node, fmt.Sprintf("paused; draining %d groups", len(n.Groups)), nil)
	}
	return n, paused, ops, nil
}

// Resume lets a paused node own groups again and records it. The pause
// lists the groups it drained, for a failback (FailBack).
func (s Session) Resume(ctx context.Context, name string, failback bool) (model.NodePause, error) {
	p, err := s.Store.Resume(ctx, name)
	if err != nil {
		return p, err
	}
	s.Record(ctx, "node.resume", p.Node, "resumed", map[string]string{"failback": fmt.Sprint(failback)})
	return p, nil
}

// FailBack files a move back to the node for each group the pause drained
// and returns the requests filed (a failure to file one ends the list with
// its error).
func (s Session) FailBack(ctx context.Context, p model.NodePause) ([]model.Request, error) {
	var out []model.Request
	for _, g := range p.Groups {
		req, err := s.Store.File(ctx, model.Request{Group: g, Action: model.RequestMove, Node: p.Node, Operator: s.Operator})
		if err != nil {
			return out, fmt.Errorf("group %q: %w", g, err)
		}
		s.Record(ctx, "group.request", g, "move to "+p.Node+" requested (failback)", map[string]string{"request": req.ID})
		out = append(out, req)
	}
	return out, nil
}

// Recover re-creates the checkpoints of the named resource ("" for every
// resource) from the registry of each owner (rule 10 of RULES.md), and
// records it. It returns the error of each resource in its result; the
// error returned is the cluster's.
func (s Session) Recover(ctx context.Context, resource string) ([]checkpoint.RecoverResult, error) {
	results, err := checkpoint.Recover(ctx, s.Store, resource, s.Operator)
	if err != nil {
		return nil, err
	}
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
	}
	subject := resource
	if resource == "" {
		subject = "all resources"
	}
	s.Record(ctx, "checkpoint.recover", subject, fmt.Sprintf("re-created from the owners' registries: %d resources, %d failed", len(results), failed), nil)
	return results, nil
}
