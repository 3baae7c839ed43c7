package monitor

import (
	"time"

	"github.com/resmon/resmon/model"
)

// Observer is told what the monitor does, for metrics. Calls come from many
// goroutines and must not block.
type Observer interface {
	// ResourceState reports a resource's published state on this node.
	ResourceState(group, resource string, s model.ResourceState)
	// GroupState reports a group's state while this node owns it; owned is
	// false when the node lets it go.
	GroupState(group string, s model.GroupState, owned bool)
	// EntryPoint reports one call of an entry point (Online, Offline,
	// Terminate, LooksAlive, IsAlive) of a resource of type typ, and how
	// it went.
	EntryPoint(typ, entry string, d time.Duration, err error)
	// Restart reports a resource restarted by its restart policy.
	Restart(group, resource string)
	// Failover reports a group that failed over to this node.
	Failover(group string)
}

type nopObserver struct{}

func (nopObserver) ResourceState(string, string, model.ResourceState) {}
func (nopObserver) GroupState(string, model.GroupState, bool)         {}
func (nopObserver) EntryPoint(string, string, time.Duration, error)   {}
func (nopObserver) Restart(string, string)                            {}
func (nopObserver) Failover(string)                                   {}
