package monitor

import (
	"slices"
	"strings"
	"time"

	"github.com/resmon/resmon/model"
)

// NextOwner picks the node a group moves to: the first node after current in
// preferred order that is up and a possible owner, wrapping around; then any
// other up node that is a possible owner (sorted by name). current itself is
// chosen only when no other node qualifies and allowCurrent is set. canOwn
// says whether a node may own every resource of the group (nil: every node
// may). It returns "" when no node qualifies.
func NextOwner(preferred []string, current string, up []string, canOwn func(string) bool, allowCurrent bool) string {
	isUp := func(n string) bool {
		return slices.ContainsFunc(up, func(u string) bool { return strings.EqualFold(u, n) })
	}
	if canOwn == nil {
		canOwn = func(string) bool { return true }
	}
	ok := func(n string) bool { return !strings.EqualFold(n, current) && isUp(n) && canOwn(n) }
	start := 0
	for i, p := range preferred {
		if strings.EqualFold(p, current) {
			start = i + 1
			break
		}
	}
	for i := range preferred {
		if n := preferred[(start+i)%len(preferred)]; ok(n) {
			return n
		}
	}
	rest := slices.Clone(up)
	slices.Sort(rest)
	for _, n := range rest {
		if ok(n) {
			return n
		}
	}
	if allowCurrent && current != "" && isUp(current) && canOwn(current) {
		return current
	}
	return ""
}

// FailbackTarget reports the preferred owner a group should fail back to
// when AutoFailbackType is allow: the highest-ranked preferred owner that is
// up and ranks above the current owner, if now is inside the failback window
// (start and end are hours 0-23; -1 means any time; start > end wraps
// midnight; start == end is that one hour). It returns "" when the group should stay.
func FailbackTarget(preferred []string, current string, up []string, start, end int, now time.Time) string {
	if !inWindow(start, end, now.Hour()) {
		return ""
	}
	for _, p := range preferred {
		if strings.EqualFold(p, current) {
			return ""
		}
		if slices.ContainsFunc(up, func(u string) bool { return strings.EqualFold(u, p) }) {
			return p
		}
	}
	return ""
}

func inWindow(start, end, hour int) bool {
	switch {
	case start < 0 || end < 0:
		return true
	case start == end:
		return hour == start
	case start < end:
		return hour >= start && hour < end
	default:
		return hour >= start || hour < end
	}
}

// PossibleOwners is the intersection of the resources' PossibleOwners. all
// is true when no resource restricts its owners (every node may own the
// group); otherwise the list may be empty: no node can own every resource.
func PossibleOwners(resources []model.Resource) (owners []string, all bool) {
	all = true
	for _, r := range resources {
		if len(r.PossibleOwners) == 0 {
			continue
		}
		if all {
			owners, all = slices.Clone(r.PossibleOwners), false
			continue
		}
		owners = slices.DeleteFunc(owners, func(n string) bool { return !containsFold(r.PossibleOwners, n) })
	}
	return owners, all
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// placement answers where a group may run, from one set of facts.
type placement struct {
	preferred []string
	up        []string
	possible  []string
	all       bool     // every node may own the group
	banned    []string // nodes banned from a resource of the group
}

func newPlacement(f *Facts) placement {
	p := placement{preferred: f.Group.PreferredOwners, up: f.Up}
	p.possible, p.all = PossibleOwners(f.Resources)
	bans := f.View.Status.Bans
	if f.Tenure != nil {
		bans = f.Tenure.Bans
	}
	for _, b := range groupBans(bans, f.Resources) {
		if !b.Everywhere() {
			p.banned = append(p.banned, b.Node)
		}
	}
	return p
}

func (p placement) isUp(n string) bool   { return containsFold(p.up, n) }
func (p placement) canOwn(n string) bool { return p.all || containsFold(p.possible, n) }

// allowed: n may own every resource and is banned from none.
func (p placement) allowed(n string) bool { return p.canOwn(n) && !containsFold(p.banned, n) }

// next is NextOwner after node from these facts, among allowed nodes.
func (p placement) next(node string, allowCurrent bool) string {
	return NextOwner(p.preferred, node, p.up, p.allowed, allowCurrent)
}

// target is the node that should take an unowned group: the node its last
// owner handed it to, if that node is up and allowed; else the next
// preferred owner after the last owner, the last owner itself included
// when nobody else qualifies. When every node up is banned from a
// resource of the group, one of them takes it all the same: the banned
// resource stays Failed there, and the group has an owner to carry out
// the operator's requests, such as the one that lifts the ban.
func (p placement) target(st model.GroupStatus) string {
	if h := st.Handoff; h != nil && h.To != "" && p.isUp(h.To) && p.allowed(h.To) {
		return h.To
	}
	if n := p.next(st.Owner, true); n != "" {
		return n
	}
	return NextOwner(p.preferred, st.Owner, p.up, p.canOwn, true)
}
