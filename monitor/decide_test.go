package monitor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

// The decision is a pure function of facts: these tests build facts by
// hand and check the next action, with no etcd, no plugin and no clock.

var t0 = time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)

// facts builds the facts of group g1 with resources rs on node, nodes up.
func facts(node string, up []string, rs ...model.Resource) Facts {
	g := model.DefaultGroup("g1")
	g.PreferredOwners = []string{"n1", "n2", "n3"}
	for i := range rs {
		rs[i].Group = "g1"
		if rs[i].ID == "" {
			rs[i].ID = "id-" + rs[i].Name
		}
		if rs[i].Properties == (model.Properties{}) {
			rs[i].Properties = model.DefaultProperties()
		}
	}
	return Facts{Now: t0, Node: node, Started: t0.Add(-time.Minute), StartupGrace: 10 * time.Second, Up: up, Group: g, Resources: rs}
}

// owned gives f a tenure of this node, with every resource hosted in
// state st.
func owned(f Facts, desired string, st model.ResourceState) Facts {
	f.View.Owned, f.View.Ownership = true, model.Ownership{Group: "g1", Node: f.Node, Token: 42}
	f.View.Status = model.GroupStatus{Group: "g1", Owner: f.Node, Token: 42, Desired: desired}
	f.Tenure = &TenureFacts{Token: 42, Desired: desired}
	for _, r := range f.Resources {
		f.Tenure.Resources = append(f.Tenure.Resources, ResourceFacts{Record: r, Open: true, State: st})
	}
	return f
}

func res(name string, deps ...[]string) model.Resource {
	return model.Resource{Name: name, Dependencies: deps}
}

func TestDecideUnowned(t *testing.T) {
	up3 := []string{"n1", "n2", "n3"}
	for _, c := range []struct {
		name string
		f    func() Facts
		want ActionKind
		at   time.Time
	}{
		{"first preferred owner takes a group that never ran", func() Facts { return facts("n1", up3, res("a")) }, Acquire, time.Time{}},
		{"the second does not", func() Facts { return facts("n2", up3, res("a")) }, Wait, time.Time{}},
		{"owned by another node", func() Facts {
			f := facts("n1", up3, res("a"))
			f.View.Owned, f.View.Ownership = true, model.Ownership{Node: "n2", Token: 3}
			return f
		}, Wait, time.Time{}},
		{"a draining node takes nothing", func() Facts { f := facts("n1", up3[1:], res("a")); f.Draining = true; return f }, Wait, time.Time{}},
		{"a fenced node takes nothing", func() Facts { f := facts("n1", up3, res("a")); f.Fenced = true; return f }, Wait, time.Time{}},
		{"startup grace: n2 waits for n1 to come up", func() Facts {
			f := facts("n2", []string{"n2", "n3"}, res("a"))
			f.Started = t0.Add(-2 * time.Second)
			return f
		}, Wait, t0.Add(8 * time.Second)},
		{"grace over: n2 takes it", func() Facts { return facts("n2", []string{"n2", "n3"}, res("a")) }, Acquire, time.Time{}},
		{"rule 11+13: the owner died, the next preferred owner takes it", func() Facts {
			f := facts("n2", []string{"n2", "n3"}, res("a"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline}
			return f
		}, Acquire, time.Time{}},
		{"rule 13: n3 is not next after n1", func() Facts {
			f := facts("n3", []string{"n2", "n3"}, res("a"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline}
			return f
		}, Wait, time.Time{}},
		{"a handoff names the next owner", func() Facts {
			f := facts("n3", up3, res("a"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Handoff: &model.Handoff{From: "n1", To: "n3", Reason: model.HandoffMove}}
			return f
		}, Acquire, time.Time{}},
		{"a handoff to a node that is down goes to the next preferred owner", func() Facts {
			f := facts("n2", []string{"n1", "n2"}, res("a"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Handoff: &model.Handoff{From: "n1", To: "n3", Reason: model.HandoffMove}}
			return f
		}, Acquire, time.Time{}},
		{"possible owners skip n2", func() Facts {
			r := res("a")
			r.PossibleOwners = []string{"n1", "n3"}
			f := facts("n3", []string{"n2", "n3"}, r)
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1"}
			return f
		}, Acquire, time.Time{}},
		{"no node can own every resource", func() Facts {
			a, b := res("a"), res("b")
			a.PossibleOwners, b.PossibleOwners = []string{"n1"}, []string{"n2"}
			f := facts("n1", up3, a, b)
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n3"}
			return f
		}, Wait, time.Time{}},
		{"the last owner is the only one left", func() Facts {
			f := facts("n1", []string{"n1"}, res("a"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline}
			return f
		}, Acquire, time.Time{}},
		{"a group deleted from the database", func() Facts { f := facts("n1", up3); f.Group = model.Group{}; return f }, Wait, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := Decide(c.f())
			if a.Kind != c.want || !a.At.Equal(c.at) {
				t.Fatalf("got %v, want %v (at %v)", a, c.want, c.at)
			}
		})
	}
}

func TestDecideOwned(t *testing.T) {
	up3 := []string{"n1", "n2", "n3"}
	on, off := model.DesiredOnline, model.DesiredOffline
	for _, c := range []struct {
		name string
		f    func() Facts
		want string // Action.String()
	}{
		{"lost: the owner key is gone", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceOnline)
			f.View.Owned = false
			return f
		}, "lost"},
		{"lost: another tenure owns the group", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceOnline)
			f.View.Ownership.Token = 50
			return f
		}, "lost"},
		{"a handoff not yet written comes first", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceOnline)
			f.Tenure.Release = &model.Handoff{From: "n1", To: "n2", Reason: model.HandoffMove}
			f.View.Requests = []model.Request{{ID: "r", Group: "g1", Action: model.RequestOffline}}
			return f
		}, "write-release"},
		{"a new resource is added", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceOnline)
			f.Resources = append(f.Resources, model.Resource{ID: "id-b", Name: "b", Group: "g1"})
			return f
		}, "add-resource id-b"},
		{"a deleted resource is removed", func() Facts {
			f := owned(facts("n1", up3, res("a"), res("b")), on, model.ResourceOnline)
			f.Resources = f.Resources[:1]
			return f
		}, "remove-resource id-b"},
		{"an edited resource is updated", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceOnline)
			f.Resources[0].Properties.RestartThreshold = 9
			return f
		}, "update-resource id-a"},
		{"rule 14: bottom-up, the provider first", func() Facts {
			return owned(facts("n1", up3, res("app", []string{"disk"}), res("disk")), on, model.ResourceOffline)
		}, "online id-disk"},
		{"rule 14: independent resources come online together", func() Facts {
			return owned(facts("n1", up3, res("b"), res("a")), on, model.ResourceOffline)
		}, "online id-a id-b"},
		{"rule 14: the providers together, their dependent after them", func() Facts {
			return owned(facts("n1", up3, res("app", []string{"disk"}, []string{"ip"}), res("disk"), res("ip"), res("log")), on, model.ResourceOffline)
		}, "online id-disk id-ip id-log"},
		{"rule 14: an online or pending resource is not brought online again", func() Facts {
			f := owned(facts("n1", up3, res("a"), res("b"), res("c")), on, model.ResourceOffline)
			f.Tenure.Resources[0].State = model.ResourceOnline
			f.Tenure.Resources[1].State = model.ResourceOnlinePending
			return f
		}, "online id-c"},
		{"rule 14: the dependent once its provider is online", func() Facts {
			f := owned(facts("n1", up3, res("app", []string{"disk"}), res("disk")), on, model.ResourceOffline)
			f.Tenure.Resources[1].State = model.ResourceOnline
			return f
		}, "online id-app"},
		{"rule 14: an OR-group needs one member", func() Facts {
			f := owned(facts("n1", up3, res("app", []string{"ip-a", "ip-b"}), res("ip-a"), res("ip-b")), on, model.ResourceOffline)
			f.Tenure.Resources[2].State = model.ResourceOnline // ip-b
			f.Tenure.Resources[1].State, f.Tenure.Resources[1].RetryAt = model.ResourceFailed, t0.Add(time.Hour)
			return f
		}, "online id-app"},
		{"rule 12: top-down, the dependent first", func() Facts {
			return owned(facts("n1", up3, res("app", []string{"disk"}), res("disk")), off, model.ResourceOnline)
		}, "offline id-app"},
		{"everything online: wait", func() Facts {
			return owned(facts("n1", up3, res("a")), on, model.ResourceOnline)
		}, "wait"},
		{"an operator's offline resource stays offline", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceOffline)
			f.Tenure.Resources[0].AdminOff = true
			return f
		}, "wait"},
		{"a resource held for its checkpoints is not retried", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceFailed)
			f.Tenure.Resources[0].RetryAt, f.Tenure.Resources[0].Hold = t0, "checkpoint is corrupt"
			return f
		}, "wait"},
		{"its dependents wait with it", func() Facts {
			f := owned(facts("n1", up3, res("app", []string{"disk"}), res("disk")), on, model.ResourceOffline)
			f.Tenure.Resources[1].State, f.Tenure.Resources[1].Hold = model.ResourceFailed, "checkpoint is stale"
			return f
		}, "wait"},
		{"a failed resource waits for its retry", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceFailed)
			f.Tenure.Resources[0].RetryAt = t0.Add(time.Minute)
			return f
		}, "wait until " + t0.Add(time.Minute).Format(time.RFC3339Nano)},
		{"a failed resource is retried when its time comes", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceFailed)
			f.Tenure.Resources[0].RetryAt = t0
			return f
		}, "online id-a"},
		{"draining hands the group to the next owner", func() Facts {
			f := owned(facts("n1", up3[1:], res("a")), on, model.ResourceOnline)
			f.Draining = true
			return f
		}, `release drain to "n2"`},
		{"draining with nobody left releases to anyone", func() Facts {
			f := owned(facts("n1", nil, res("a")), on, model.ResourceOnline)
			f.Draining = true
			return f
		}, `release drain to ""`},
		{"a held group waits", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceFailed)
			f.Tenure.Held, f.Tenure.HeldUntil = true, t0.Add(time.Hour)
			return f
		}, "wait until " + t0.Add(time.Hour).Format(time.RFC3339Nano)},
		{"rule 15: retried after RetryPeriodOnFailure", func() Facts {
			f := owned(facts("n1", up3, res("a")), on, model.ResourceFailed)
			f.Tenure.Held, f.Tenure.HeldUntil = true, t0
			return f
		}, "unhold"},
		{"failback allowed: back to the first preferred owner", func() Facts {
			f := owned(facts("n2", up3, res("a")), on, model.ResourceOnline)
			f.Group.AutoFailbackType = model.FailbackAllow
			return f
		}, `release failback to "n1"`},
		{"failback prevented by default", func() Facts {
			return owned(facts("n2", up3, res("a")), on, model.ResourceOnline)
		}, "wait"},
		{"failback outside its window waits for the next hour", func() Facts {
			f := owned(facts("n2", up3, res("a")), on, model.ResourceOnline)
			f.Group.AutoFailbackType, f.Group.FailbackWindowStart, f.Group.FailbackWindowEnd = model.FailbackAllow, 22, 23
			return f
		}, "wait until " + t0.Truncate(time.Hour).Add(time.Hour).Format(time.RFC3339Nano)},
		{"failback inside its window", func() Facts {
			f := owned(facts("n2", up3, res("a")), on, model.ResourceOnline)
			f.Group.AutoFailbackType, f.Group.FailbackWindowStart, f.Group.FailbackWindowEnd = model.FailbackAllow, 10, 11
			return f
		}, `release failback to "n1"`},
		{"failback waits until the group is online", func() Facts {
			f := owned(facts("n2", up3, res("a")), on, model.ResourceOffline)
			f.Group.AutoFailbackType = model.FailbackAllow
			return f
		}, "online id-a"},
		{"no failback to a node that cannot own a resource", func() Facts {
			r := res("a")
			r.PossibleOwners = []string{"n2", "n3"}
			f := owned(facts("n2", up3, r), on, model.ResourceOnline)
			f.Group.AutoFailbackType = model.FailbackAllow
			return f
		}, "wait"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Decide(c.f()).String(); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestDecideFailure: the restart policy (RestartAction, RestartThreshold
// within RestartPeriod) for every action and count.
func TestDecideFailure(t *testing.T) {
	for action := 0; action <= 2; action++ {
		for threshold := 0; threshold <= 3; threshold++ {
			for before := 0; before <= 4; before++ {
				r := res("a")
				r.Properties = model.DefaultProperties()
				r.Properties.RestartAction, r.Properties.RestartThreshold = action, threshold
				f := owned(facts("n1", []string{"n1", "n2", "n3"}, r), model.DesiredOnline, model.ResourceFailed)
				f.Tenure.Resources[0].Restarts, f.Tenure.Resources[0].Failure = before, "IsAlive returned false"
				a := Decide(f)
				want := StayFailed
				switch {
				case action == 0:
				case before+1 <= threshold:
					want = Restart
				case action == 2:
					want = FailoverGroup
				}
				if a.Kind != HandleFailure || a.Decision != want || a.Failures != before+1 {
					t.Errorf("action %d threshold %d after %d failures: %v %v (failure %d), want %v", action, threshold, before, a, a.Decision, a.Failures, want)
				}
				if want == FailoverGroup && a.To != "n2" {
					t.Errorf("failover to %q, want n2", a.To)
				}
			}
		}
	}
}

// TestDecideRequests: every operator request gets the action and typed
// reply the owner must carry out.
func TestDecideRequests(t *testing.T) {
	up3 := []string{"n1", "n2", "n3"}
	for _, c := range []struct {
		name     string
		req      model.Request
		up       []string
		possible []string
		state    model.ResourceState
		want     string
		code     model.ResultCode
		msg      string
		hold     string
	}{
		{"group online", model.Request{Action: model.RequestOnline, Operator: "ann"}, up3, nil, model.ResourceFailed, "set-desired", model.ResultDone, "brought online by ann", ""},
		{"group offline", model.Request{Action: model.RequestOffline}, up3, nil, model.ResourceOnline, "set-desired", model.ResultDone, "taken offline", ""},
		{"move to the next preferred owner", model.Request{Action: model.RequestMove}, up3, nil, model.ResourceOnline, `release move to "n2"`, model.ResultDone, "moved to n2", ""},
		{"move to a named node", model.Request{Action: model.RequestMove, Node: "n3"}, up3, nil, model.ResourceOnline, `release move to "n3"`, model.ResultDone, "moved to n3", ""},
		{"move to where it is", model.Request{Action: model.RequestMove, Node: "N1"}, up3, nil, model.ResourceOnline, "answer", model.ResultUnchanged, "already on n1", ""},
		{"move to a node that is down", model.Request{Action: model.RequestMove, Node: "n9"}, up3, nil, model.ResourceOnline, "answer", model.ResultRefused, `"n9" is not up`, ""},
		{"move with nowhere to go", model.Request{Action: model.RequestMove}, []string{"n1"}, nil, model.ResourceOnline, "answer", model.ResultRefused, "no other node", ""},
		{"move to a node that may not own a resource", model.Request{Action: model.RequestMove, Node: "n3"}, up3, []string{"n1", "n2"}, model.ResourceOnline, "answer", model.ResultRefused, "not a possible owner", ""},
		{"resource online", model.Request{Action: model.RequestOnline, Resource: "id-a"}, up3, nil, model.ResourceFailed, "resource-online id-a", model.ResultDone, `"a" brought online`, ""},
		{"resource offline", model.Request{Action: model.RequestOffline, Resource: "id-a"}, up3, nil, model.ResourceOnline, "resource-offline id-a", model.ResultDone, `"a" taken offline`, ""},
		{"resource fail", model.Request{Action: model.RequestFail, Resource: "id-a"}, up3, nil, model.ResourceOnline, "resource-fail id-a", model.ResultDone, `"a" failed`, ""},
		{"fail refused when not online", model.Request{Action: model.RequestFail, Resource: "id-a"}, up3, nil, model.ResourceOffline, "answer", model.ResultRefused, "not Online", ""},
		{"a resource of another group", model.Request{Action: model.RequestOnline, Resource: "id-zz"}, up3, nil, model.ResourceOnline, "answer", model.ResultRefused, "not in group", ""},
		{"recover one", model.Request{Action: model.RequestRecover, Resource: "id-a"}, up3, nil, model.ResourceFailed, "recover id-a", model.ResultDone, "", ""},
		{"recover all", model.Request{Action: model.RequestRecover}, up3, nil, model.ResourceOffline, "recover", model.ResultDone, "", ""},
		{"accept one", model.Request{Action: model.RequestAccept, Resource: "id-a"}, up3, nil, model.ResourceFailed, "accept id-a", model.ResultDone, "", ""},
		{"an unknown action", model.Request{Action: "reboot"}, up3, nil, model.ResourceOnline, "answer", model.ResultRefused, "action", ""},
		{"move of a resource", model.Request{Action: model.RequestMove, Resource: "id-a"}, up3, nil, model.ResourceOnline, "answer", model.ResultRefused, "applies to groups", ""},
		{"online of a held resource names recover and accept", model.Request{Action: model.RequestOnline, Resource: "id-a"}, up3, nil, model.ResourceFailed, "answer", model.ResultRefused, "recover", "checkpoint is stale: recover or accept"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := res("a")
			r.PossibleOwners = c.possible
			f := owned(facts("n1", c.up, r), model.DesiredOnline, c.state)
			if c.hold != "" {
				f.Tenure.Resources[0].Hold = c.hold
			}
			c.req.ID, c.req.Group = "req-1", "g1"
			f.View.Requests = []model.Request{c.req, {ID: "req-2", Group: "g1", Action: model.RequestOffline}}
			a := Decide(f)
			if a.String() != c.want || a.Request == nil || a.Request.ID != "req-1" {
				t.Fatalf("got %v (request %v), want %q for the oldest request", a, a.Request, c.want)
			}
			if a.Reply.Code != c.code || !strings.Contains(a.Reply.Message, c.msg) {
				t.Fatalf("reply %s %q, want %s containing %q", a.Reply.Code, a.Reply.Message, c.code, c.msg)
			}
		})
	}
}

// TestDecideStart: rule 15 and what counts as a failover.
func TestDecideStart(t *testing.T) {
	prev := func(owner string, h *model.Handoff, failovers ...time.Time) model.GroupStatus {
		return model.GroupStatus{Group: "g1", Owner: owner, Desired: model.DesiredOnline, Handoff: h, Failovers: failovers}
	}
	for _, c := range []struct {
		name      string
		status    model.GroupStatus
		threshold int
		desired   string
		counted   bool
		held      bool
		failovers int
	}{
		{"a group that never ran, not persistent", model.GroupStatus{}, 2, model.DesiredOffline, false, false, 0},
		{"a crash counts", prev("n1", nil), 2, model.DesiredOnline, true, false, 1},
		{"a resource failover counts", prev("n1", &model.Handoff{Reason: model.HandoffFailover}), 2, model.DesiredOnline, true, false, 1},
		{"a move does not", prev("n1", &model.Handoff{Reason: model.HandoffMove}), 2, model.DesiredOnline, false, false, 0},
		{"a drain does not", prev("n1", &model.Handoff{Reason: model.HandoffDrain}), 2, model.DesiredOnline, false, false, 0},
		{"a failback does not", prev("n1", &model.Handoff{Reason: model.HandoffFailback}), 2, model.DesiredOnline, false, false, 0},
		{"past the threshold the group is held", prev("n1", nil, t0.Add(-time.Hour), t0.Add(-time.Minute)), 2, model.DesiredOnline, true, true, 3},
		{"old failovers fall out of the period", prev("n1", nil, t0.Add(-7*time.Hour), t0.Add(-8*time.Hour)), 2, model.DesiredOnline, true, false, 1},
		{"the same node taking it back after its own restart or fence", prev("n2", nil, t0.Add(-time.Minute)), 1, model.DesiredOnline, false, false, 1},
		{"an offline group is not a failover", model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOffline}, 2, model.DesiredOffline, false, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := facts("n2", []string{"n2", "n3"}, res("a"))
			f.Group.FailoverThreshold = c.threshold
			f.View.Status = c.status
			s := DecideStart(f)
			if s.Desired != c.desired || s.Counted != c.counted || s.Held != c.held || len(s.Failovers) != c.failovers {
				t.Fatalf("got %+v", s)
			}
			if s.Held && (!s.HeldUntil.Equal(t0.Add(time.Hour)) || !strings.Contains(s.Message, "failover threshold reached")) {
				t.Fatalf("held: %+v", s)
			}
		})
	}
}

// TestDecideAtMostOneTaker: for every combination of nodes up, last
// owner, handoff target, preferred order, possible owners, draining and
// start-up grace, the nodes that look at the same facts never both decide
// to acquire the group, never one that is down, draining or not a possible
// owner, and some node takes it whenever one qualifies.
func TestDecideAtMostOneTaker(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4"}
	orders := [][]string{nil, {"n1", "n2", "n3", "n4"}, {"n3", "n1"}, {"n4", "n3", "n2", "n1"}}
	possibles := [][]string{nil, {"n2", "n3"}, {"n4"}, {"n9"}}
	cases := 0
	for upMask := 0; upMask < 1<<len(nodes); upMask++ {
		for drainMask := 0; drainMask < 1<<len(nodes); drainMask += 3 {
			for last := -1; last < len(nodes); last++ {
				for handoff := -1; handoff < len(nodes); handoff++ {
					for oi, order := range orders {
						for pi, possible := range possibles {
							for _, inGrace := range []bool{false, true} {
								cases++
								var up []string
								for i, n := range nodes {
									if upMask&(1<<i) != 0 && drainMask&(1<<i) == 0 {
										up = append(up, n)
									}
								}
								r := res("a")
								r.PossibleOwners = possible
								var takers []string
								for i, n := range nodes {
									if upMask&(1<<i) == 0 {
										continue // a node that is down decides nothing
									}
									f := facts(n, up, r)
									f.Group.PreferredOwners = order
									f.Draining = drainMask&(1<<i) != 0
									if inGrace {
										f.Started = t0
									}
									if last >= 0 {
										f.View.Status = model.GroupStatus{Group: "g1", Owner: nodes[last], Desired: model.DesiredOnline}
										if handoff >= 0 {
											f.View.Status.Handoff = &model.Handoff{From: nodes[last], To: nodes[handoff], Reason: model.HandoffMove}
										}
									}
									if Decide(f).Kind == Acquire {
										takers = append(takers, n)
									}
								}
								where := fmt.Sprintf("up %v order %d possible %d last %d handoff %d grace %v", up, oi, pi, last, handoff, inGrace)
								if len(takers) > 1 {
									t.Fatalf("%s: %v all decide to acquire", where, takers)
								}
								for _, n := range takers {
									if !containsFold(up, n) || (possible != nil && !containsFold(possible, n)) {
										t.Fatalf("%s: %s may not own the group but decides to acquire it", where, n)
									}
								}
								qualifies := false
								for _, n := range up {
									qualifies = qualifies || possible == nil || containsFold(possible, n)
								}
								neverRan := last < 0
								graceHolds := neverRan && inGrace && len(order) > 0 && !containsFold(up, order[0])
								if qualifies && !graceHolds && len(takers) == 0 && !(neverRan && inGrace) {
									t.Fatalf("%s: no node takes a group some node may own", where)
								}
							}
						}
					}
				}
			}
		}
	}
	if cases < 10000 {
		t.Fatalf("only %d cases", cases)
	}
	t.Logf("%d cases", cases)
}

// TestDecideFailureClasses: a failure's class (sdk.FailureClass) decides
// before the restart policy: a ban of this node with a failover, a ban
// with the resource left failed here, or failed everywhere.
func TestDecideFailureClasses(t *testing.T) {
	up3 := []string{"n1", "n2", "n3"}
	for _, c := range []struct {
		name   string
		class  sdk.FailureClass
		action int
		up     []string
		bans   []model.Ban // earlier bans
		want   RestartDecision
		to     string
		banOn  string // node of the new ban; "*" every node, "" none
	}{
		{"soft: the restart policy", sdk.ClassRestart, 2, up3, nil, Restart, "", ""},
		{"hard: ban n1, fail over to n2", sdk.ClassBanNode, 2, up3, nil, FailoverBanned, "n2", "n1"},
		{"hard: n2 banned before, fail over to n3", sdk.ClassBanNode, 2, up3, []model.Ban{{Resource: "id-a", Node: "n2"}}, FailoverBanned, "n3", "n1"},
		{"hard: every other node banned, stay failed", sdk.ClassBanNode, 2, up3, []model.Ban{{Resource: "id-a", Node: "n2"}, {Resource: "id-a", Node: "n3"}}, StayFailedBanned, "", "n1"},
		{"hard: alone, stay failed", sdk.ClassBanNode, 2, []string{"n1"}, nil, StayFailedBanned, "", "n1"},
		{"hard: RestartAction 1 does not move the group", sdk.ClassBanNode, 1, up3, nil, StayFailedBanned, "", "n1"},
		{"hard: RestartAction 0 either", sdk.ClassBanNode, 0, up3, nil, StayFailedBanned, "", "n1"},
		{"fatal: failed everywhere, no move", sdk.ClassFailEverywhere, 2, up3, nil, FailedEverywhere, "", "*"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := res("a")
			r.Properties = model.DefaultProperties()
			r.Properties.RestartAction = c.action
			f := owned(facts("n1", c.up, r), model.DesiredOnline, model.ResourceFailed)
			f.Tenure.Bans = c.bans
			f.Tenure.Resources[0].Failure, f.Tenure.Resources[0].FailureClass = "start: not installed (5)", c.class
			a := Decide(f)
			if a.Kind != HandleFailure || a.Decision != c.want || a.To != c.to {
				t.Fatalf("got %v, decision %v to %q; want %v to %q", a, a.Decision, a.To, c.want, c.to)
			}
			switch {
			case c.banOn == "" && a.Ban != nil:
				t.Fatalf("unexpected ban %+v", *a.Ban)
			case c.banOn == "":
			case a.Ban == nil:
				t.Fatalf("no ban, want one on %q", c.banOn)
			case (c.banOn == "*") != a.Ban.Everywhere() || (c.banOn != "*" && a.Ban.Node != c.banOn):
				t.Fatalf("ban %+v, want on %q", *a.Ban, c.banOn)
			case a.Ban.Resource != "id-a" || a.Ban.Reason != "start: not installed (5)" || !a.Ban.Time.Equal(t0):
				t.Fatalf("ban %+v", *a.Ban)
			}
		})
	}
	// The pure function itself, for every RestartAction.
	for action := 0; action <= 2; action++ {
		for _, elsewhere := range []bool{false, true} {
			if got := DecideFailure(sdk.ClassFailEverywhere, action, 3, 1, elsewhere); got != FailedEverywhere {
				t.Errorf("fatal, action %d: %v", action, got)
			}
			want := StayFailedBanned
			if action == 2 && elsewhere {
				want = FailoverBanned
			}
			if got := DecideFailure(sdk.ClassBanNode, action, 3, 1, elsewhere); got != want {
				t.Errorf("hard, action %d, elsewhere %v: %v, want %v", action, elsewhere, got, want)
			}
			if got := DecideFailure(sdk.ClassRestart, action, 3, 1, elsewhere); got != DecideRestart(action, 3, 1) {
				t.Errorf("soft, action %d: %v", action, got)
			}
		}
	}
}

// TestDecideBans: where bans keep a group and its resources, and how they
// are shown to the next owner.
func TestDecideBans(t *testing.T) {
	up3 := []string{"n1", "n2", "n3"}
	banN2 := []model.Ban{{Resource: "id-a", Name: "a", Node: "n2", Reason: "start: not installed (5)"}}
	for _, c := range []struct {
		name string
		f    func() Facts
		want string
	}{
		{"unowned: the banned next owner passes, n3 takes the group", func() Facts {
			f := facts("n3", []string{"n2", "n3"}, res("a"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline, Bans: banN2}
			return f
		}, "acquire"},
		{"unowned: and n2 does not take it", func() Facts {
			f := facts("n2", []string{"n2", "n3"}, res("a"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline, Bans: banN2}
			return f
		}, "wait"},
		{"unowned: a banned node takes the group when no other is up", func() Facts {
			f := facts("n2", []string{"n2"}, res("a"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline, Bans: banN2}
			return f
		}, "acquire"},
		{"unowned: a ban of a resource no longer in the group is forgotten", func() Facts {
			f := facts("n2", []string{"n2", "n3"}, res("b"))
			f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline, Bans: banN2}
			return f
		}, "acquire"},
		{"owned: a resource banned here is not brought online; its dependent waits", func() Facts {
			f := owned(facts("n2", up3, res("a"), res("b", []string{"a"}), res("c")), model.DesiredOnline, model.ResourceOffline)
			f.Tenure.Bans = banN2
			return f
		}, "online id-c"},
		{"owned: banned everywhere", func() Facts {
			f := owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceFailed)
			f.Tenure.Bans = []model.Ban{{Resource: "id-a", Name: "a", Reason: "not configured (6)"}}
			f.Tenure.Resources[0].RetryAt = t0.Add(-time.Second)
			return f
		}, "wait"},
		{"owned: a ban elsewhere does not stop it here", func() Facts {
			f := owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOffline)
			f.Tenure.Bans = banN2
			return f
		}, "online id-a"},
		{"owned: no failback to a banned preferred owner", func() Facts {
			f := owned(facts("n2", up3, res("a")), model.DesiredOnline, model.ResourceOnline)
			f.Group.AutoFailbackType = model.FailbackAllow
			f.Tenure.Bans = []model.Ban{{Resource: "id-a", Name: "a", Node: "n1", Reason: "x"}}
			return f
		}, "wait"},
		{"owned: draining skips the banned node", func() Facts {
			f := owned(facts("n1", []string{"n2", "n3"}, res("a")), model.DesiredOnline, model.ResourceOnline)
			f.Draining = true
			f.Tenure.Bans = banN2
			return f
		}, `release drain to "n3"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if a := Decide(c.f()); a.String() != c.want {
				t.Fatalf("got %v, want %q", a, c.want)
			}
		})
	}

	// A move to a banned node is refused with the way out.
	f := owned(facts("n1", up3, res("a")), model.DesiredOnline, model.ResourceOnline)
	f.Tenure.Bans = banN2
	f.View.Requests = []model.Request{{ID: "req-1", Group: "g1", Action: model.RequestMove, Node: "n2"}}
	a := Decide(f)
	if a.Kind != Answer || a.Reply.Code != model.ResultRefused || !strings.Contains(a.Reply.Message, `banned from resource "a"`) ||
		!strings.Contains(a.Reply.Message, `cluster resource "a" online`) {
		t.Fatalf("move to a banned node: %v %s %q", a, a.Reply.Code, a.Reply.Message)
	}

	// The next owner inherits the bans of resources still in the group.
	f = facts("n3", []string{"n2", "n3"}, res("a"))
	f.View.Status = model.GroupStatus{Group: "g1", Owner: "n1", Desired: model.DesiredOnline,
		Bans: append(slices.Clone(banN2), model.Ban{Resource: "id-gone", Node: "n3"})}
	if st := DecideStart(f); len(st.Bans) != 1 || st.Bans[0].Node != "n2" {
		t.Fatalf("inherited bans %+v", st.Bans)
	}
}

// TestDecideControl: a control request goes to an open resource and is
// refused for one its type could not open.
func TestDecideControl(t *testing.T) {
	for _, open := range []bool{true, false} {
		f := owned(facts("n1", []string{"n1"}, res("a")), model.DesiredOnline, model.ResourceOnline)
		f.Tenure.Resources[0].Open = open
		f.View.Requests = []model.Request{{ID: "req-1", Group: "g1", Action: model.RequestControl, Resource: "id-a", Code: 0x01200004}}
		a := Decide(f)
		if open && (a.String() != "control id-a" || a.Request == nil || a.Reply.Code != model.ResultDone) {
			t.Fatalf("open: %v %s", a, a.Reply.Code)
		}
		if !open && (a.Kind != Answer || a.Reply.Code != model.ResultRefused || !strings.Contains(a.Reply.Message, "not open")) {
			t.Fatalf("not open: %v %s %q", a, a.Reply.Code, a.Reply.Message)
		}
	}
}
