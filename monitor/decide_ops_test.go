package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
)

// Operations facts: maintenance, paused nodes and cleanup, decided
// without etcd like every other decision.

func TestDecideMaintenance(t *testing.T) {
	up3 := []string{"n1", "n2", "n3"}
	const why = "cluster maintenance by alice"
	inMaint := func(f Facts) Facts { f.Maintenance = why; return f }
	suspended := func(f Facts) Facts { f.Tenure.Suspended = true; return f }
	for _, c := range []struct {
		name string
		f    Facts
		want ActionKind
		to   string
		msg  string // in the reply or the action's message
	}{
		{"an unowned group is not taken", inMaint(facts("n1", up3, res("a"))), Wait, "", ""},
		{"a crashed owner's group stays unowned", func() Facts {
			f := inMaint(facts("n2", []string{"n2", "n3"}, res("a")))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline}
			return f
		}(), Wait, "", ""},
		{"the owner suspends first", inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOnline)), Suspend, "", why},
		{"then waits", suspended(inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOnline))), Wait, "", ""},
		{"a failure is not restarted", func() Facts {
			f := suspended(inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceFailed)))
			f.Tenure.Resources[0].Failure = "IsAlive returned false"
			return f
		}(), Wait, "", ""},
		{"an offline resource is not brought online", suspended(inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOffline))), Wait, "", ""},
		{"desired offline: an online resource is left online", suspended(inMaint(owned(facts("n1", up3, res("a")), model.DesiredOffline, model.ResourceOnline))), Wait, "", ""},
		{"no failback", func() Facts {
			f := suspended(inMaint(owned(facts("n2", up3, res("a")), model.DesiredOnline, model.ResourceOnline)))
			f.Group.AutoFailbackType = model.FailbackAllow
			return f
		}(), Wait, "", ""},
		{"a paused owner keeps the group", func() Facts {
			f := suspended(inMaint(owned(facts("n1", up3[1:], res("a")), model.DesiredOnline, model.ResourceOnline)))
			f.Paused = true
			return f
		}(), Wait, "", ""},
		{"a stopping owner hands the group to itself", func() Facts {
			f := suspended(inMaint(owned(facts("n1", up3[1:], res("a")), model.DesiredOnline, model.ResourceOnline)))
			f.Draining = true
			return f
		}(), Release, "n1", "stopping in cluster maintenance"},
		{"a move is refused", func() Facts {
			f := suspended(inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOnline)))
			f.View.Requests = []model.Request{{ID: "r1", Group: "g1", Action: model.RequestMove}}
			return f
		}(), Answer, "", "is in cluster maintenance"},
		{"an offline request is refused", func() Facts {
			f := suspended(inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOnline)))
			f.View.Requests = []model.Request{{ID: "r1", Group: "g1", Action: model.RequestOffline}}
			return f
		}(), Answer, "", "takes no action"},
		{"a cleanup is carried out, nothing tried", func() Facts {
			f := suspended(inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceFailed)))
			f.View.Requests = []model.Request{{ID: "r1", Group: "g1", Action: model.RequestCleanup}}
			return f
		}(), Cleanup, "", "nothing is tried until it ends"},
		{"a checkpoint recovery is carried out", func() Facts {
			f := suspended(inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOnline)))
			f.View.Requests = []model.Request{{ID: "r1", Group: "g1", Action: model.RequestRecover}}
			return f
		}(), Recover, "", ""},
		{"maintenance over: resume", suspended(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOnline)), Resume, "", ""},
		{"resumed: a failure is handled again", func() Facts {
			f := owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceFailed)
			f.Tenure.Resources[0].Failure = "IsAlive returned false"
			return f
		}(), HandleFailure, "", ""},
		{"fenced in maintenance: nothing", func() Facts {
			f := inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOnline))
			f.Fenced = true
			return f
		}(), Wait, "", ""},
		{"ownership lost in maintenance: still lost", func() Facts {
			f := suspended(inMaint(owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOnline)))
			f.View.Owned = false
			return f
		}(), Lost, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Decide(c.f)
			if a.Kind != c.want || a.To != c.to {
				t.Fatalf("got %v (to %q), want %v to %q", a, a.To, c.want, c.to)
			}
			if c.msg != "" && !strings.Contains(a.Message+" "+a.Reply.Message, c.msg) {
				t.Fatalf("message %q / reply %q lacks %q", a.Message, a.Reply.Message, c.msg)
			}
		})
	}
}

func TestMaintenanceWhy(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := model.Maintenance{Nodes: map[string]model.Mark{"n2": {By: "bob", Time: at}}, Groups: map[string]model.Mark{"G1": {By: "alice", Time: at, Reason: "disk swap"}}}
	for _, c := range []struct{ group, node, want string }{
		{"g1", "n1", "group maintenance by alice: disk swap"},
		{"g2", "n2", "maintenance of node n2 by bob"},
		{"g2", "N2", "maintenance of node N2 by bob"},
		{"g2", "n1", ""},
		{"g2", "", ""},
	} {
		if got := m.Why(c.group, c.node); got != c.want {
			t.Errorf("Why(%q, %q) = %q, want %q", c.group, c.node, got, c.want)
		}
	}
	m.Cluster = &model.Mark{By: "carol"}
	if got := m.Why("g2", "n1"); got != "cluster maintenance by carol" {
		t.Errorf("cluster: %q", got)
	}
}

func TestDecidePause(t *testing.T) {
	up := []string{"n2", "n3"} // n1 is paused: never among the nodes that may take groups
	for _, c := range []struct {
		name string
		f    Facts
		want ActionKind
		to   string
	}{
		{"a paused node takes nothing", func() Facts { f := facts("n1", up, res("a")); f.Paused = true; return f }(), Wait, ""},
		{"a paused owner hands its group to the next preferred owner", func() Facts {
			f := owned(facts("n1", up, res("a")), model.DesiredOnline, model.ResourceOnline)
			f.Paused = true
			return f
		}(), Release, "n2"},
		{"with nobody else up it lets the group go offline", func() Facts {
			f := owned(facts("n1", nil, res("a")), model.DesiredOnline, model.ResourceOnline)
			f.Paused = true
			return f
		}(), Release, ""},
		{"the next node takes the handed group", func() Facts {
			f := facts("n2", up, res("a"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline, Handoff: &model.Handoff{From: "n1", To: "n2", Reason: model.HandoffPause}}
			return f
		}(), Acquire, ""},
		{"a move to a paused node is refused", func() Facts {
			f := owned(facts("n2", up, res("a")), model.DesiredOnline, model.ResourceOnline)
			f.View.Requests = []model.Request{{ID: "r1", Group: "g1", Action: model.RequestMove, Node: "n1"}}
			return f
		}(), Answer, ""},
		{"no failback to a paused preferred owner", func() Facts {
			f := owned(facts("n2", up, res("a")), model.DesiredOnline, model.ResourceOnline)
			f.Group.AutoFailbackType = model.FailbackAllow
			return f
		}(), Wait, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Decide(c.f)
			if a.Kind != c.want || a.To != c.to {
				t.Fatalf("got %v (to %q), want %v to %q", a, a.To, c.want, c.to)
			}
		})
	}
	// A take after a pause is not a failover.
	f := facts("n2", up, res("a"))
	f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline, Handoff: &model.Handoff{From: "n1", To: "n2", Reason: model.HandoffPause}}
	if s := DecideStart(f); s.Counted {
		t.Fatalf("a pause handoff counted as a failover: %+v", s)
	}
}

func TestDecideCleanup(t *testing.T) {
	up3 := []string{"n1", "n2", "n3"}
	for _, c := range []struct {
		name     string
		f        Facts
		want     ActionKind
		resource string
	}{
		{"group cleanup", func() Facts {
			f := owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceFailed)
			f.Tenure.Held, f.Tenure.HeldUntil = true, t0.Add(time.Hour)
			f.View.Requests = []model.Request{{ID: "r1", Group: "g1", Action: model.RequestCleanup, Operator: "alice"}}
			return f
		}(), Cleanup, ""},
		{"resource cleanup", func() Facts {
			f := owned(facts("n1", up3, res("a"), res("b")), model.DesiredOnline, model.ResourceFailed)
			f.View.Requests = []model.Request{{ID: "r1", Group: "g1", Action: model.RequestCleanup, Resource: "id-b"}}
			return f
		}(), Cleanup, "id-b"},
		{"cleanup of a resource of another group is refused", func() Facts {
			f := owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceFailed)
			f.View.Requests = []model.Request{{ID: "r1", Group: "g1", Action: model.RequestCleanup, Resource: "id-zzz"}}
			return f
		}(), Answer, ""},
		{"after cleanup a Failed resource due now comes online", func() Facts {
			f := owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceFailed)
			f.Tenure.Resources[0].RetryAt = t0
			return f
		}(), Online, "id-a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Decide(c.f)
			got := a.Resource
			if a.Kind == Online {
				got = strings.Join(a.Resources, " ")
			}
			if a.Kind != c.want || got != c.resource {
				t.Fatalf("got %v, want %v %q", a, c.want, c.resource)
			}
			if a.Kind == Cleanup && (a.Reply.Code != model.ResultDone || a.Request == nil) {
				t.Fatalf("cleanup reply: %+v", a.Reply)
			}
		})
	}
}
