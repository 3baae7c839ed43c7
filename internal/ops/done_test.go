package ops_test

import (
	"testing"

	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
)

func TestGroupRequestDone(t *testing.T) {
	before := model.GroupStatus{Group: "g", State: "Online", Owner: "node1", Token: 10, Desired: model.DesiredOnline}
	st := func(state, owner string, token int64) model.GroupStatus {
		return model.GroupStatus{Group: "g", State: state, Owner: owner, Token: token, Desired: model.DesiredOnline}
	}
	offlineWanted := func(state, owner string, token int64) model.GroupStatus {
		s := st(state, owner, token)
		s.Desired = model.DesiredOffline
		return s
	}
	done := model.Reply{Code: model.ResultDone, Token: 10}
	unchanged := model.Reply{Code: model.ResultUnchanged, Token: 10}
	for _, c := range []struct {
		name string
		req  model.Request
		rep  model.Reply
		st   model.GroupStatus
		done bool
	}{
		{"offline not yet", model.Request{Action: "offline"}, done, st("OfflinePending", "node1", 10), false},
		{"offline reached", model.Request{Action: "offline"}, done, st("Offline", "node1", 10), true},
		{"online pending", model.Request{Action: "online"}, done, st("Pending", "node1", 10), false},
		{"online reached", model.Request{Action: "online"}, done, st("Online", "node1", 10), true},
		{"cleanup answered", model.Request{Action: "cleanup"}, done, st("Failed", "node1", 10), true},
		{"move handoff", model.Request{Action: "move"}, done, st("Offline", "node1", 10), false},
		{"move arriving", model.Request{Action: "move"}, done, st("Pending", "node2", 12), false},
		{"moved", model.Request{Action: "move"}, done, st("Online", "node2", 12), true},
		{"moved, owner named in another case", model.Request{Action: "move", Node: "NODE2"}, done, st("Online", "node2", 12), true},
		{"moved elsewhere", model.Request{Action: "move", Node: "node3"}, done, st("Online", "node2", 12), false},
		{"moved back to the same node name, new tenure", model.Request{Action: "move"}, done, st("Online", "node1", 13), true},
		{"moved while offline, arrived offline", model.Request{Action: "move"}, done, offlineWanted("Offline", "node2", 12), true},
		{"moved while offline, not yet settled", model.Request{Action: "move"}, done, offlineWanted("Pending", "node2", 12), false},
		{"already there", model.Request{Action: "move", Node: "node1"}, unchanged, st("Online", "node1", 10), true},
	} {
		if got := ops.GroupRequestDone(c.req, c.rep, before, c.st); got != c.done {
			t.Errorf("%s: done %v, want %v", c.name, got, c.done)
		}
	}
}

func TestResourceRequestDone(t *testing.T) {
	before := model.ResourceStatus{State: "Online", Restarts: 2}
	st := func(state string, restarts int) model.ResourceStatus {
		return model.ResourceStatus{State: state, Restarts: restarts}
	}
	for _, c := range []struct {
		name   string
		action string
		st     model.ResourceStatus
		done   bool
	}{
		{"online pending", model.RequestOnline, st("Pending", 2), false},
		{"online reached", model.RequestOnline, st("Online", 2), true},
		{"offline not yet", model.RequestOffline, st("OfflinePending", 2), false},
		{"offline reached", model.RequestOffline, st("Offline", 2), true},
		{"fail not yet seen", model.RequestFail, st("Online", 2), false},
		{"failed", model.RequestFail, st("Failed", 2), true},
		{"failed and restarted", model.RequestFail, st("Online", 3), true},
		{"cleanup answered", model.RequestCleanup, st("Failed", 0), true},
	} {
		if got := ops.ResourceRequestDone(c.action, before, c.st); got != c.done {
			t.Errorf("%s: done %v, want %v", c.name, got, c.done)
		}
	}
}

func TestNodeViewStateLine(t *testing.T) {
	for _, c := range []struct {
		name string
		n    ops.NodeView
		want string
	}{
		{"up", ops.NodeView{State: "Up"}, "Up"},
		{"down", ops.NodeView{State: "Down"}, "Down"},
		{"stopping", ops.NodeView{State: "Up", Draining: true}, "Up (stopping)"},
		{"paused", ops.NodeView{State: "Up", Paused: &model.NodePause{}}, "Up (paused)"},
		{"maintenance", ops.NodeView{State: "Down", Maintenance: &model.Mark{}}, "Down (maintenance)"},
		{"all", ops.NodeView{State: "Up", Draining: true, Paused: &model.NodePause{}, Maintenance: &model.Mark{}}, "Up (stopping, paused, maintenance)"},
	} {
		if got := c.n.StateLine(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
