package model

import "fmt"

// ResourceState is a resource's state, with the Windows numbers so tools
// written for them read ours.
type ResourceState int

// Resource states.
const (
	ResourceUnknown        ResourceState = -1
	ResourceInherited      ResourceState = 0
	ResourceInitializing   ResourceState = 1
	ResourceOnline         ResourceState = 2
	ResourceOffline        ResourceState = 3
	ResourceFailed         ResourceState = 4
	ResourcePending        ResourceState = 128
	ResourceOnlinePending  ResourceState = 129
	ResourceOfflinePending ResourceState = 130
)

func (s ResourceState) String() string {
	switch s {
	case ResourceUnknown:
		return "Unknown"
	case ResourceInherited:
		return "Inherited"
	case ResourceInitializing:
		return "Initializing"
	case ResourceOnline:
		return "Online"
	case ResourceOffline:
		return "Offline"
	case ResourceFailed:
		return "Failed"
	case ResourcePending:
		return "Pending"
	case ResourceOnlinePending:
		return "OnlinePending"
	case ResourceOfflinePending:
		return "OfflinePending"
	}
	return fmt.Sprintf("ResourceState(%d)", int(s))
}

// IsPending reports whether s is one of the pending states.
func (s ResourceState) IsPending() bool { return s >= ResourcePending }

// GroupState is a group's state, with the Windows numbers.
type GroupState int

// Group states.
const (
	GroupOnline        GroupState = 0
	GroupOffline       GroupState = 1
	GroupFailed        GroupState = 2
	GroupPartialOnline GroupState = 3
	GroupPending       GroupState = 4
)

func (s GroupState) String() string {
	switch s {
	case GroupOnline:
		return "Online"
	case GroupOffline:
		return "Offline"
	case GroupFailed:
		return "Failed"
	case GroupPartialOnline:
		return "PartialOnline"
	case GroupPending:
		return "Pending"
	}
	return fmt.Sprintf("GroupState(%d)", int(s))
}

// DeriveGroupState computes a group's state from its resources' states: any
// pending resource makes it Pending; all online, Online; all offline (or an
// empty group), Offline; a failed resource with none online, Failed; some
// online and the rest offline or failed, PartialOnline.
func DeriveGroupState(states []ResourceState) GroupState {
	var online, offline, failed int
	for _, s := range states {
		switch {
		case s.IsPending() || s == ResourceInitializing:
			return GroupPending
		case s == ResourceOnline:
			online++
		case s == ResourceFailed:
			failed++
		default:
			offline++
		}
	}
	switch {
	case online == len(states) && online > 0:
		return GroupOnline
	case online > 0:
		return GroupPartialOnline
	case failed > 0:
		return GroupFailed
	default:
		return GroupOffline
	}
}
