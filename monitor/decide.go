package monitor

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

// ActionKind names what the executor should do next for a group.
type ActionKind int

// Actions.
const (
	// Wait: nothing to do until news arrives or At (zero: only news).
	Wait ActionKind = iota
	// Acquire: take the unowned group.
	Acquire
	// Lost: the tenure's ownership is gone; terminate everything, write
	// nothing more.
	Lost
	// WriteRelease: write the handoff decided earlier.
	WriteRelease
	// AddResource, RemoveResource, UpdateResource: follow the group's
	// records (Resource is the id).
	AddResource
	RemoveResource
	UpdateResource
	// Answer: answer Request with Reply and change nothing else.
	Answer
	// SetDesired: make the group's desired state Desired; with Reset, the
	// operator asked for it online: forget failure counts and holds.
	SetDesired
	// ResourceOnline, ResourceOffline, ResourceFail: an operator's request
	// about one resource.
	ResourceOnline
	ResourceOffline
	ResourceFail
	// Recover: re-create checkpoint data (Resource, or every resource of
	// the group when empty) from this node's registry.
	Recover
	// Accept: take held checkpoint data as it is (Resource, or every held
	// resource of the group when empty).
	Accept
	// Online: bring Resources online together (their providers are
	// online). Offline: take Resource offline.
	Online
	Offline
	// HandleFailure: apply the restart policy to a failed resource.
	HandleFailure
	// Release: take the group offline and hand it to To for Reason.
	Release
	// Unhold: the RetryPeriodOnFailure of a held group is over.
	Unhold
	// Cleanup: an operator's cleanup of the group, or of Resource: forget
	// restart and failover counts and the Failed state, try again now.
	Cleanup
	// Suspend: maintenance began (Message says which): stop health
	// polling and take no action until it ends.
	Suspend
	// Resume: maintenance ended: poll health again.
	Resume
	// Control: send Request's control code to Resource and answer with
	// its output.
	Control
)

var actionNames = [...]string{"wait", "acquire", "lost", "write-release", "add-resource", "remove-resource",
	"update-resource", "answer", "set-desired", "resource-online", "resource-offline", "resource-fail",
	"recover", "accept", "online", "offline", "handle-failure", "release", "unhold", "cleanup", "suspend", "resume", "control"}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// Action is the next thing to do for a group. Only the fields its Kind
// names are set.
type Action struct {
	Kind     ActionKind
	Resource string // id
	// Online: every resource ready to come online now (ids, in online
	// order); none depends on another, so they come online together.
	Resources []string
	// Request is the operator request the action carries out; Reply is
	// the answer to publish with it.
	Request *model.Request
	Reply   model.Reply
	Desired string
	Reset   bool
	// Release and Lost.
	Reason  string // model.Handoff* for Release
	To      string // the next owner; "" lets the usual rules pick
	Message string
	// HandleFailure.
	Decision RestartDecision
	Failures int        // within RestartPeriod, this one included
	Ban      *model.Ban // the ban to record with the decision
	// Wait.
	At time.Time
}

func (a Action) String() string {
	s := a.Kind.String()
	if a.Resource != "" {
		s += " " + a.Resource
	}
	for _, id := range a.Resources {
		s += " " + id
	}
	if a.Kind == Release {
		s += fmt.Sprintf(" %s to %q", a.Reason, a.To)
	}
	if a.Kind == Wait && !a.At.IsZero() {
		s += " until " + a.At.Format(time.RFC3339Nano)
	}
	return s
}

// Decide returns the next action for a group on this node. It is a pure
// function of f: the executor carries the action out, gathers the facts
// again and asks again, until the answer is Wait.
func Decide(f Facts) Action {
	if f.Fenced {
		return Action{Kind: Wait}
	}
	if f.Tenure == nil {
		return decideUnowned(f)
	}
	return decideOwned(f)
}

// decideUnowned decides whether this node takes the group.
func decideUnowned(f Facts) Action {
	// In maintenance nothing moves: an unowned group stays unowned.
	if f.View.Owned || f.Draining || f.Paused || f.Maintenance != "" || f.Group.Name == "" {
		return Action{Kind: Wait}
	}
	p := newPlacement(&f)
	if !strings.EqualFold(p.target(f.View.Status), f.Node) {
		return Action{Kind: Wait}
	}
	if prefs := f.Group.PreferredOwners; f.View.Status.Group == "" && len(prefs) > 0 && !strings.EqualFold(prefs[0], f.Node) {
		// A group that never ran: give its first preferred owner the
		// start-up grace to come up before taking it.
		if until := f.Started.Add(f.StartupGrace); f.Now.Before(until) {
			return Action{Kind: Wait, At: until}
		}
	}
	return Action{Kind: Acquire}
}

// decideOwned decides the next step of this node's tenure.
func decideOwned(f Facts) Action {
	t := f.Tenure
	if !f.View.Owned || f.View.Ownership.Token != t.Token {
		return Action{Kind: Lost, Message: fmt.Sprintf("the group's ownership (token %d) is gone from etcd", t.Token)}
	}
	if t.Release != nil {
		return Action{Kind: WriteRelease}
	}
	if a, ok := decideRecords(f); ok {
		return a
	}
	switch {
	case f.Maintenance != "" && !t.Suspended:
		return Action{Kind: Suspend, Message: f.Maintenance}
	case f.Maintenance == "" && t.Suspended:
		return Action{Kind: Resume}
	}
	p := newPlacement(&f)
	if len(f.View.Requests) > 0 {
		return decideRequest(f, p, f.View.Requests[0])
	}
	if f.Maintenance != "" {
		if f.Draining {
			// Stopping is the node's own life, not a decision of the
			// monitor: its applications cannot outlive it. The group
			// goes offline and is handed to this node again, so that
			// nothing moves while maintenance lasts and the take after
			// it is not counted as a failover.
			return Action{Kind: Release, Reason: model.HandoffDrain, To: f.Node,
				Message: fmt.Sprintf("the owner's clusterd is stopping in %s; the group waits for it", f.Maintenance)}
		}
		return Action{Kind: Wait}
	}
	if f.Draining {
		return Action{Kind: Release, Reason: model.HandoffDrain, To: p.next(f.Node, false), Message: "the owner's clusterd is stopping"}
	}
	if f.Paused {
		return Action{Kind: Release, Reason: model.HandoffPause, To: p.next(f.Node, false), Message: "the owner was paused"}
	}
	for _, r := range t.Resources {
		if r.Failure != "" {
			return decideFailure(f, p, r)
		}
	}
	if t.Held {
		if f.Now.Before(t.HeldUntil) {
			return Action{Kind: Wait, At: t.HeldUntil}
		}
		return Action{Kind: Unhold}
	}
	if t.Desired != model.DesiredOnline {
		return decideOffline(f)
	}
	a := decideOnline(f)
	if a.Kind != Wait {
		return a
	}
	if f.Group.AutoFailbackType == model.FailbackAllow {
		g := f.Group
		if back := FailbackTarget(g.PreferredOwners, f.Node, f.Up, g.FailbackWindowStart, g.FailbackWindowEnd, f.Now); back != "" && p.allowed(back) {
			return Action{Kind: Release, Reason: model.HandoffFailback, To: back, Message: fmt.Sprintf("failing back to preferred owner %s", back)}
		}
		if g.FailbackWindowStart >= 0 && g.FailbackWindowEnd >= 0 {
			a.At = earliest(a.At, f.Now.Truncate(time.Hour).Add(time.Hour))
		}
	}
	return a
}

// decideRecords follows the group's records: resources added, removed
// (or moved to another group) and edited.
func decideRecords(f Facts) (Action, bool) {
	t := f.Tenure
	for _, h := range t.Resources {
		i := slices.IndexFunc(f.Resources, func(r model.Resource) bool { return r.ID == h.Record.ID })
		if i < 0 {
			return Action{Kind: RemoveResource, Resource: h.Record.ID}, true
		}
	}
	for _, r := range f.Resources {
		h := t.resource(r.ID)
		if h == nil {
			return Action{Kind: AddResource, Resource: r.ID}, true
		}
		if !sameRecord(h.Record, r) {
			return Action{Kind: UpdateResource, Resource: r.ID}, true
		}
	}
	return Action{}, false
}

// decideFailure applies the failure's class and the resource's
// RestartAction to its n-th failure.
func decideFailure(f Facts, p placement, r ResourceFacts) Action {
	props := r.Record.Properties
	n := r.Restarts + 1
	a := Action{Kind: HandleFailure, Resource: r.Record.ID, Failures: n, Message: r.Failure}
	to := ""
	switch r.FailureClass {
	case sdk.ClassBanNode:
		a.Ban = &model.Ban{Resource: r.Record.ID, Name: r.Record.Name, Node: f.Node, Reason: r.Failure, Time: f.Now.UTC()}
		p.banned = append(p.banned, f.Node)
		to = p.next(f.Node, false)
	case sdk.ClassFailEverywhere:
		a.Ban = &model.Ban{Resource: r.Record.ID, Name: r.Record.Name, Reason: r.Failure, Time: f.Now.UTC()}
	default:
		to = p.next(f.Node, true)
	}
	a.Decision = DecideFailure(r.FailureClass, props.RestartAction, props.RestartThreshold, n, to != "")
	if a.Decision == FailoverGroup || a.Decision == FailoverBanned {
		a.To = to
	}
	return a
}

// DecideFailure decides what follows the n-th failure of a resource
// within its RestartPeriod from the failure's class: the restart policy
// (DecideRestart) for sdk.ClassRestart; for sdk.ClassBanNode a ban of this
// node and a failover when RestartAction is 2 and another node may take
// the group (elsewhere), else the resource stays Failed here; for
// sdk.ClassFailEverywhere the resource stays Failed wherever the group
// goes, and the group stays.
func DecideFailure(class sdk.FailureClass, action, threshold, n int, elsewhere bool) RestartDecision {
	switch class {
	case sdk.ClassBanNode:
		if action == 2 && elsewhere {
			return FailoverBanned
		}
		return StayFailedBanned
	case sdk.ClassFailEverywhere:
		return FailedEverywhere
	}
	return DecideRestart(action, threshold, n)
}

// decideOnline brings online, bottom-up (rule 14), every resource whose
// providers are online and that is not held offline by an operator or
// failed with a retry still to come. Those are independent of one another,
// so they come online together, as a group's independent resources do on
// Windows; their dependents follow once they are online.
func decideOnline(f Facts) Action {
	t := f.Tenure
	deps := tenureDeps(t)
	online := func(n string) bool {
		r := t.byName(n)
		return r != nil && r.State == model.ResourceOnline
	}
	var at time.Time
	var ready []string
	for _, name := range deps.OnlineOrder() {
		r := t.byName(name)
		if r == nil || r.AdminOff || r.Hold != "" || t.banned(r.Record.ID, f.Node) != nil {
			continue
		}
		switch r.State {
		case model.ResourceOnline, model.ResourceOnlinePending, model.ResourceOfflinePending, model.ResourcePending:
			continue
		case model.ResourceFailed:
			if r.RetryAt.IsZero() {
				continue
			}
			if r.RetryAt.After(f.Now) {
				at = earliest(at, r.RetryAt)
				continue
			}
		}
		if !deps.Satisfied(name, online) {
			continue
		}
		ready = append(ready, r.Record.ID)
	}
	if len(ready) > 0 {
		return Action{Kind: Online, Resources: ready}
	}
	return Action{Kind: Wait, At: at}
}

// decideOffline takes the next resource offline, top-down (rule 12).
func decideOffline(f Facts) Action {
	t := f.Tenure
	for _, name := range tenureDeps(t).OfflineOrder() {
		r := t.byName(name)
		if r == nil || !r.Open {
			continue
		}
		switch r.State {
		case model.ResourceOffline, model.ResourceFailed:
			continue
		}
		return Action{Kind: Offline, Resource: r.Record.ID}
	}
	return Action{Kind: Wait}
}

// tenureDeps is the dependency graph of the hosted resources. Records
// with dependencies that cannot be honoured (the database refuses them; a
// record edited by hand may carry one) are taken without dependencies.
func tenureDeps(t *TenureFacts) *Deps {
	m := make(map[string][][]string, len(t.Resources))
	for _, r := range t.Resources {
		m[r.Record.Name] = r.Record.Dependencies
	}
	d, err := NewDeps(m)
	if err != nil {
		for n := range m {
			m[n] = nil
		}
		d, _ = NewDeps(m)
	}
	return d
}

// StartTenure is how a tenure begins: what the group should be, and
// whether this take counts as a failover (a crash, or a resource failure
// past its threshold; moves, drains and failbacks do not count), holding
// the group Failed past FailoverThreshold within FailoverPeriod (rule 15).
type StartTenure struct {
	Desired   string
	Failovers []time.Time
	Counted   bool   // this take is a failover
	Why       string // why it counts
	Held      bool
	HeldUntil time.Time
	Message   string
	Threshold int
	// Bans are the bans of the previous tenures, of resources still in
	// the group.
	Bans []model.Ban
}

// DecideStart decides how a tenure that f's node just won begins.
func DecideStart(f Facts) StartTenure {
	prev := f.View.Status
	s := StartTenure{Desired: prev.Desired, Bans: groupBans(prev.Bans, f.Resources)}
	if prev.Group == "" || s.Desired == "" {
		s.Desired = model.DesiredOffline
		if f.Group.PersistentState {
			s.Desired = model.DesiredOnline
		}
	}
	period := f.Group.FailoverPeriod.D()
	for _, at := range prev.Failovers {
		if f.Now.Sub(at) < period {
			s.Failovers = append(s.Failovers, at)
		}
	}
	// A failover is the group moving to another node because its owner
	// died or a resource failed past its threshold. The same node taking
	// it back after its own restart or self-fence is not an attempt that
	// failed, and moves, drains and failbacks are not failures.
	s.Counted = s.Desired == model.DesiredOnline && prev.Owner != "" && !strings.EqualFold(prev.Owner, f.Node) &&
		(prev.Handoff == nil || prev.Handoff.Reason == model.HandoffFailover)
	if !s.Counted {
		return s
	}
	s.Failovers = append(s.Failovers, f.Now.UTC())
	s.Why = "its node stopped"
	if prev.Handoff != nil {
		s.Why = "a resource failed past its restart threshold"
	}
	n := len(s.Failovers)
	s.Threshold = f.Group.EffectiveFailoverThreshold(f.knownNodes())
	if n > s.Threshold {
		s.Held, s.HeldUntil = true, f.Now.Add(retryPeriod(f.Resources))
		s.Message = fmt.Sprintf("failover threshold reached: %d failovers within %s (FailoverThreshold %d); the group stays failed until %s",
			n, period, s.Threshold, s.HeldUntil.UTC().Format(time.RFC3339))
	}
	return s
}

// groupBans are the bans of resources among rs.
func groupBans(bans []model.Ban, rs []model.Resource) []model.Ban {
	var out []model.Ban
	for _, b := range bans {
		if slices.ContainsFunc(rs, func(r model.Resource) bool { return r.ID == b.Resource }) {
			out = append(out, b)
		}
	}
	return out
}

// retryPeriod is the shortest RetryPeriodOnFailure of the resources.
func retryPeriod(resources []model.Resource) time.Duration {
	d := model.DefaultProperties().RetryPeriodOnFailure.D()
	for i, r := range resources {
		if p := r.Properties.RetryPeriodOnFailure.D(); i == 0 || p < d {
			d = p
		}
	}
	return d
}

// earliest is the earlier of two times, zero meaning "none".
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// sameRecord reports whether a hosted record matches the database's.
func sameRecord(a, b model.Resource) bool { return reflect.DeepEqual(a, b) }
