package cli

import (
	"reflect"
	"testing"

	"github.com/resmon/resmon/model"
)

func TestGroupRequestDone(t *testing.T) {
	before := model.GroupStatus{Group: "g", State: "Online", Owner: "node1", Desired: model.DesiredOnline, Request: "old"}
	st := func(state, owner, request, msg string) model.GroupStatus {
		return model.GroupStatus{Group: "g", State: state, Owner: owner, Desired: model.DesiredOnline, Request: request, Message: msg}
	}
	for _, c := range []struct {
		name    string
		req     model.GroupRequest
		st      model.GroupStatus
		done    bool
		wantErr bool
	}{
		{"not acted on yet", model.GroupRequest{ID: "r", Action: "offline"}, st("Offline", "node1", "old", ""), false, false},
		{"offline reached", model.GroupRequest{ID: "r", Action: "offline"}, st("Offline", "node1", "r", ""), true, false},
		{"online pending", model.GroupRequest{ID: "r", Action: "online"}, st("Pending", "node1", "r", ""), false, false},
		{"online reached", model.GroupRequest{ID: "r", Action: "online"}, st("Online", "node1", "r", ""), true, false},
		{"move refused", model.GroupRequest{ID: "r", Action: "move"}, st("Online", "node1", "r", "move refused: no other node is up"), true, true},
		{"move handoff", model.GroupRequest{ID: "r", Action: "move"}, st("Offline", "node1", "r", "moved to node2"), false, false},
		{"move arriving", model.GroupRequest{ID: "r", Action: "move"}, st("Pending", "node2", "r", ""), false, false},
		{"moved", model.GroupRequest{ID: "r", Action: "move"}, st("Online", "node2", "r", ""), true, false},
		{"moved elsewhere", model.GroupRequest{ID: "r", Action: "move", Node: "node3"}, st("Online", "node2", "r", ""), false, false},
		{"already there", model.GroupRequest{ID: "r", Action: "move", Node: "node1"}, st("Online", "node1", "r", "move: the group is already on node1"), true, false},
	} {
		done, err := groupRequestDone(c.req, before, c.st)
		if done != c.done || (err != nil) != c.wantErr {
			t.Errorf("%s: done %v, error %v; want done %v, error %v", c.name, done, err, c.done, c.wantErr)
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
