package monitor

import (
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
	// FailoverBanned bans this node from the resource and moves the group
	// to another node (sdk.ClassBanNode with RestartAction 2).
	FailoverBanned
	// StayFailedBanned bans this node from the resource and leaves it
	// Failed here, not retried (sdk.ClassBanNode when the RestartAction
	// does not move the group, or no other node may take it).
	StayFailedBanned
	// FailedEverywhere bans every node from the resource: it stays Failed
	// here and wherever the group goes, and the group stays
	// (sdk.ClassFailEverywhere).
	FailedEverywhere
)

func (d RestartDecision) String() string {
	return [...]string{"stay failed", "restart", "fail over the group",
		"ban this node and fail over the group", "ban this node and stay failed", "fail on every node"}[d]
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
