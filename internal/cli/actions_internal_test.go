package cli

import (
	"reflect"
	"testing"

	"github.com/resmon/resmon/model"
)

func TestGroupRequestDone(t *testing.T) {
	before := model.GroupStatus{Group: "g", State: "Online", Owner: "node1", Token: 10, Desired: model.DesiredOnline}
	st := func(state, owner string, token int64) model.GroupStatus {
		return model.GroupStatus{Group: "g", State: state, Owner: owner, Token: token, Desired: model.DesiredOnline}
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
		{"move handoff", model.Request{Action: "move"}, done, st("Offline", "node1", 10), false},
		{"move arriving", model.Request{Action: "move"}, done, st("Pending", "node2", 12), false},
		{"moved", model.Request{Action: "move"}, done, st("Online", "node2", 12), true},
		{"moved elsewhere", model.Request{Action: "move", Node: "node3"}, done, st("Online", "node2", 12), false},
		{"moved back to the same node name, new tenure", model.Request{Action: "move"}, done, st("Online", "node1", 13), true},
		{"already there", model.Request{Action: "move", Node: "node1"}, unchanged, st("Online", "node1", 10), true},
	} {
		if got := groupRequestDone(c.req, c.rep, before, c.st); got != c.done {
			t.Errorf("%s: done %v, want %v", c.name, got, c.done)
		}
	}
}

func TestParseDependencies(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    [][]string
		wantErr bool
	}{
		{"", nil, false},
		{"Disk P:", [][]string{{"Disk P:"}}, false},
		{"IP A, IP B; Disk P:", [][]string{{"IP A", "IP B"}, {"Disk P:"}}, false},
		{"A;;B", nil, true},
		{"A,", nil, true},
	} {
		got, err := parseDependencies(c.in)
		if (err != nil) != c.wantErr || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %v, %v; want %v (error %v)", c.in, got, err, c.want, c.wantErr)
		}
	}
}
