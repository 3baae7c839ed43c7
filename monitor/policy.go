package monitor

import (
	"slices"
	"strings"
	"time"
)

// Window counts events in a sliding period: RestartThreshold within
// RestartPeriod, FailoverThreshold within FailoverPeriod.
type Window struct {
	Period time.Duration
	times  []time.Time
}

// Add records an event at now and returns how many fall within the period
// ending at now, this one included.
func (w *Window) Add(now time.Time) int {
	w.prune(now)
	w.times = append(w.times, now)
	return len(w.times)
}

// Count returns how many events fall within the period ending at now.
func (w *Window) Count(now time.Time) int {
	w.prune(now)
	return len(w.times)
}

// Reset forgets every event.
func (w *Window) Reset() { w.times = w.times[:0] }

func (w *Window) prune(now time.Time) {
	cut := now.Add(-w.Period)
	i := 0
	for i < len(w.times) && !w.times[i].After(cut) {
		i++
	}
	w.times = w.times[i:]
}

// RestartDecision is what to do with a resource that just failed.
type RestartDecision int

// Restart decisions.
const (
	// StayFailed leaves the resource Failed (RestartAction 0, or 1 past the
	// threshold); it is retried after RetryPeriodOnFailure.
	StayFailed RestartDecision = iota
	// Restart brings it online again on this node after RestartDelay.
	Restart
	// FailoverGroup moves the whole group to another node (RestartAction 2
	// past the threshold).
	FailoverGroup
)

func (d RestartDecision) String() string {
	return [...]string{"stay failed", "restart", "fail over the group"}[d]
}

// DecideRestart applies RestartAction to the n-th failure within
// RestartPeriod (n counts this one): restarts go on while n ≤ threshold.
func DecideRestart(action, threshold, n int) RestartDecision {
	switch {
	case action == 0:
		return StayFailed
	case n <= threshold:
		return Restart
	case action == 2:
		return FailoverGroup
	default:
		return StayFailed
	}
}

// NextOwner picks the node a group moves to: the first node after current in
// preferred order that is up and a possible owner, wrapping around; then any
// other up node that is a possible owner (sorted by name). current itself is
// chosen only when no other node qualifies and allowCurrent is set. Empty
// possible means every node. It returns "" when no node qualifies.
func NextOwner(preferred []string, current string, up []string, possible []string, allowCurrent bool) string {
	isUp := func(n string) bool {
		return slices.ContainsFunc(up, func(u string) bool { return strings.EqualFold(u, n) })
	}
	canOwn := func(n string) bool {
		return len(possible) == 0 || slices.ContainsFunc(possible, func(p string) bool { return strings.EqualFold(p, n) })
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
