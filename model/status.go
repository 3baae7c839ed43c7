package model

import "time"

// Desired states of a group.
const (
	DesiredOnline  = "online"
	DesiredOffline = "offline"
)

// Handoff reasons: why an owner let a group go.
const (
	HandoffMove     = "move"     // an operator moved the group
	HandoffFailover = "failover" // a resource failed past its restart threshold
	HandoffDrain    = "drain"    // the owner's clusterd is shutting down
	HandoffFailback = "failback" // a higher preferred owner came back
	HandoffPause    = "pause"    // an operator paused the owner
)

// Handoff is what an owner leaves in the group's status when it releases the
// group on purpose: the node that should take it next, and why. A group
// released without a handoff (the owner's lease expired) is a crash failover.
type Handoff struct {
	From   string    `json:"from"`
	To     string    `json:"to,omitempty"` // empty: the next node in preferred order
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// GroupStatus is a group's published state, written only by its owner under
// its fencing token. It outlives ownership, so the next owner learns where
// the group was, whether it should be online, and how often it failed over.
type GroupStatus struct {
	Group string `json:"group"`
	State string `json:"state"`      // "Online", "Failed"… (GroupState)
	Code  int    `json:"state_code"` // the Windows number of State
	Owner string `json:"owner"`
	Token int64  `json:"token"`
	// Desired is DesiredOnline or DesiredOffline: what the group should be
	// wherever it runs, kept across failovers and cluster restarts
	// (PersistentState).
	Desired string `json:"desired"`
	// Failovers are the times of the failovers within the group's
	// FailoverPeriod (FailoverThreshold counts them).
	Failovers []time.Time `json:"failovers,omitempty"`
	Handoff   *Handoff    `json:"handoff,omitempty"`
	// Bans keep resources of the group off nodes where they failed in a
	// way retrying cannot fix; they outlive ownership like Failovers.
	Bans []Ban `json:"bans,omitempty"`
	// Message says why the group is as it is when that is not plain
	// (held Failed past its failover threshold, handed off, retrying).
	Message string `json:"message,omitempty"`
	// HeldUntil is when a group held Failed past its failover threshold is
	// tried again (zero: not held).
	HeldUntil time.Time `json:"held_until,omitzero"`
	// Maintenance says why the group is in maintenance on its owner ("":
	// it is not): the monitor takes no action for it.
	Maintenance string    `json:"maintenance,omitempty"`
	Time        time.Time `json:"time"`
}

// ResourceStatus is a resource's published state, written by the owner of
// its group under the group's fencing token.
type ResourceStatus struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Group    string `json:"group"`
	Node     string `json:"node"`
	State    string `json:"state"`      // "Online", "OnlinePending"… (ResourceState)
	Code     int    `json:"state_code"` // the Windows number of State
	Token    int64  `json:"token"`
	Restarts int    `json:"restarts"` // within RestartPeriod
	Error    string `json:"error,omitempty"`
	// RetryAt is when a Failed resource is tried again (zero: not
	// scheduled).
	RetryAt time.Time `json:"retry_at,omitzero"`
	Time    time.Time `json:"time"`
}

// Ban keeps a resource off a node after a failure of class
// sdk.ClassBanNode (Node is that node), or off every node after one of
// class sdk.ClassFailEverywhere (Node is empty), until an operator brings
// the resource (or its group) online again.
type Ban struct {
	Resource string    `json:"resource"` // id
	Name     string    `json:"name"`
	Node     string    `json:"node,omitempty"` // empty: every node
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
}

// Everywhere reports whether the ban holds on every node.
func (b Ban) Everywhere() bool { return b.Node == "" }
