package monitor

import (
	"strings"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

// Facts are everything a decision about one group on one node reads: the
// clock, the node set, the group's records, its shared view in the
// cluster, and this node's tenure if it owns the group. The executor
// gathers them; Decide only reads them.
type Facts struct {
	Now  time.Time
	Node string // this node
	// Started is when this node's monitor started; a group that never ran
	// waits StartupGrace after it for its first preferred owner.
	Started      time.Time
	StartupGrace time.Duration
	// Up are the nodes that are up and may take groups (not draining),
	// sorted; this node among them unless it is draining.
	Up       []string
	Draining bool // this node is stopping
	Fenced   bool // this node's session fenced itself
	// Paused: an operator paused this node; it owns no group and takes
	// none (Up leaves paused nodes out).
	Paused bool
	// Maintenance says why the group is in maintenance on this node
	// (cluster, group, or this node's maintenance); "" when it is not.
	// In maintenance the monitor takes no action for the group.
	Maintenance string
	// Group and Resources are the group's records in the cluster database
	// (Resources sorted by name).
	Group     model.Group
	Resources []model.Resource
	View      model.GroupView
	// Tenure is this node's ownership of the group; nil when it owns none.
	Tenure *TenureFacts
}

// TenureFacts are what this node knows of its own tenure.
type TenureFacts struct {
	Token     int64
	Desired   string // model.DesiredOnline or DesiredOffline
	Failovers []time.Time
	// Held: the failover threshold was reached; the group stays Failed
	// until HeldUntil.
	Held      bool
	HeldUntil time.Time
	// Release is a handoff decided but not written yet (etcd unreachable).
	Release *model.Handoff
	// Suspended: the tenure is in maintenance: health polling is stopped.
	Suspended bool
	// Bans keep resources of the group off nodes (see model.Ban).
	Bans []model.Ban
	// Resources are the resources hosted for the group, sorted by name.
	Resources []ResourceFacts
}

// ResourceFacts are one hosted resource's facts.
type ResourceFacts struct {
	Record model.Resource // as hosted
	Open   bool           // an instance is open
	State  model.ResourceState
	// RetryAt is when a Failed resource is tried again; zero: not
	// scheduled.
	RetryAt  time.Time
	AdminOff bool // taken offline by an operator: stays offline
	Restarts int  // failures within RestartPeriod, this one excluded
	// Failure is a failure reported and not yet handled; "" when none.
	Failure string
	// Hold says why the resource waits for an operator (its checkpoint data
	// must be recovered or accepted); "" when it does not.
	Hold string
	// FailureClass is the failure's class (sdk.ClassOf).
	FailureClass sdk.FailureClass
}

// resource finds a hosted resource by id.
func (t *TenureFacts) resource(id string) *ResourceFacts {
	for i := range t.Resources {
		if t.Resources[i].Record.ID == id {
			return &t.Resources[i]
		}
	}
	return nil
}

// banned returns the ban that keeps resource id off node (one for that
// node or for every node), or nil.
func (t *TenureFacts) banned(id, node string) *model.Ban {
	return findBan(t.Bans, id, node)
}

func findBan(bans []model.Ban, id, node string) *model.Ban {
	for i, b := range bans {
		if b.Resource == id && (b.Everywhere() || strings.EqualFold(b.Node, node)) {
			return &bans[i]
		}
	}
	return nil
}

// byName finds a hosted resource by name, case-insensitively.
func (t *TenureFacts) byName(name string) *ResourceFacts {
	for i := range t.Resources {
		if strings.EqualFold(t.Resources[i].Record.Name, name) {
			return &t.Resources[i]
		}
	}
	return nil
}

// knownNodes counts the nodes of the cluster for FailoverThresholdAuto:
// the nodes up now and every preferred owner.
func (f *Facts) knownNodes() int {
	seen := map[string]bool{strings.ToLower(f.Node): true}
	for _, n := range f.Up {
		seen[strings.ToLower(n)] = true
	}
	for _, n := range f.Group.PreferredOwners {
		seen[strings.ToLower(n)] = true
	}
	return len(seen)
}
