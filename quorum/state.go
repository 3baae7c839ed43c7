package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
)

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
	State string `json:"state"`      // "Online", "Failed"… (monitor.GroupState)
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
	// Request is the id of the last operator request acted on, so whoever
	// filed it can tell when it is done; Message says how it went.
	Request string    `json:"request,omitempty"`
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time"`
}

// ResourceStatus is a resource's published state, written by the owner of
// its group under the group's fencing token.
type ResourceStatus struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Group    string    `json:"group"`
	Node     string    `json:"node"`
	State    string    `json:"state"`      // "Online", "OnlinePending"… (monitor.ResourceState)
	Code     int       `json:"state_code"` // the Windows number of State
	Token    int64     `json:"token"`
	Restarts int       `json:"restarts"` // within RestartPeriod
	Error    string    `json:"error,omitempty"`
	Time     time.Time `json:"time"`
}

// Group request actions.
const (
	RequestOnline  = "online"
	RequestOffline = "offline"
	RequestMove    = "move"
)

// GroupRequest asks the owner of a group to act: bring it online, take it
// offline, or move it (to Node, or to the next node in preferred order).
// One request per group is pending at a time; a newer one replaces it. The
// owner deletes it when it has acted and records the outcome in the
// group's status.
type GroupRequest struct {
	ID     string    `json:"id"`
	Group  string    `json:"group"`
	Action string    `json:"action"`
	Node   string    `json:"node,omitempty"`
	Time   time.Time `json:"time"`
}

// Resource request actions.
const (
	// RequestFail simulates a failure of an online resource (to test
	// restart and failover policies).
	RequestFail = "fail"
)

// ResourceRequest asks the owner of a resource's group to act on it:
// RequestOnline, RequestOffline or RequestFail.
type ResourceRequest struct {
	ID       string    `json:"id"`
	Resource string    `json:"resource"` // id
	Group    string    `json:"group"`
	Action   string    `json:"action"`
	Time     time.Time `json:"time"`
}

// GroupView is a group's ownership, status and pending requests read at one
// revision.
type GroupView struct {
	Revision  int64
	Owned     bool
	Ownership Ownership   // when Owned
	Status    GroupStatus // zero Group when never published
	Request   *GroupRequest
	Resource  []ResourceRequest
}

// ViewGroup reads a group's ownership, status and requests in one Txn.
func (s *Store) ViewGroup(ctx context.Context, group string) (GroupView, error) {
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.keys.Owner(group)),
		clientv3.OpGet(s.keys.GroupState(group)),
		clientv3.OpGet(s.keys.GroupRequest(group)),
		clientv3.OpGet(s.keys.ResourceRequests(group), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return GroupView{}, fmt.Errorf("quorum: reading group %q: %w", group, err)
	}
	v := GroupView{Revision: resp.Header.Revision}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		v.Owned, v.Ownership = true, s.decodeOwner(kvs[0])
	}
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
		if err := json.Unmarshal(kvs[0].Value, &v.Status); err != nil {
			s.log.Warn("unreadable group status; treated as never published", "group", group, "error", err)
			v.Status = GroupStatus{}
		}
	}
	if kvs := resp.Responses[2].GetResponseRange().Kvs; len(kvs) == 1 {
		var r GroupRequest
		if err := json.Unmarshal(kvs[0].Value, &r); err != nil {
			s.log.Warn("unreadable group request ignored", "group", group, "error", err)
		} else {
			v.Request = &r
		}
	}
	for _, kv := range resp.Responses[3].GetResponseRange().Kvs {
		var r ResourceRequest
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			s.log.Warn("unreadable resource request ignored", "key", string(kv.Key), "error", err)
			continue
		}
		v.Resource = append(v.Resource, r)
	}
	return v, nil
}

// Publish writes a group's status and the given resource statuses under
// fence, and deletes the named requests (ids of requests the owner has acted
// on), all in one Txn. It fails with ErrFenced when the group has moved on.
func (s *Store) Publish(ctx context.Context, fence Fence, g *GroupStatus, rs []ResourceStatus, done ...string) error {
	ops := make([]clientv3.Op, 0, len(rs)+len(done)+1)
	if g != nil {
		ops = append(ops, clientv3.OpPut(s.keys.GroupState(fence.Group), mustJSON(g)))
	}
	for _, r := range rs {
		ops = append(ops, clientv3.OpPut(s.keys.ResourceState(r.ID), mustJSON(r)))
	}
	for _, key := range done {
		ops = append(ops, clientv3.OpDelete(key))
	}
	if len(ops) == 0 {
		return nil
	}
	return s.FencedTxn(ctx, fence, ops...)
}

// HandOff publishes the group's last status (with its Handoff) and releases
// the ownership o in one Txn, deleting the named request keys too: the next
// owner sees the status and the release together.
func (s *Store) HandOff(ctx context.Context, o Ownership, g GroupStatus, rs []ResourceStatus, done ...string) error {
	ops := []clientv3.Op{clientv3.OpPut(s.keys.GroupState(o.Group), mustJSON(g))}
	for _, r := range rs {
		ops = append(ops, clientv3.OpPut(s.keys.ResourceState(r.ID), mustJSON(r)))
	}
	for _, key := range done {
		ops = append(ops, clientv3.OpDelete(key))
	}
	ops = append(ops, clientv3.OpDelete(s.keys.Owner(o.Group)))
	if err := s.FencedTxn(ctx, o.Fence(), ops...); err != nil {
		return err
	}
	s.log.Info("group handed off", "group", o.Group, "node", o.Node, "token", o.Token, "to", handoffTo(g.Handoff))
	return nil
}

func handoffTo(h *Handoff) string {
	if h == nil || h.To == "" {
		return "(next preferred owner)"
	}
	return h.To
}

// RequestKey is the key of a pending group request (for Publish and HandOff).
func (s *Store) RequestKey(r GroupRequest) string { return s.keys.GroupRequest(r.Group) }

// ResourceRequestKey is the key of a pending resource request.
func (s *Store) ResourceRequestKey(r ResourceRequest) string {
	return s.keys.ResourceRequest(r.Group, r.Resource)
}

// ErrBadRequest reports a group or resource request that names an unknown
// action, group, resource or node.
var ErrBadRequest = errors.New("quorum: bad request")

// RequestGroup files a request for the owner of r.Group (replacing a pending
// one) and returns it with its id and time set. The group must exist.
func (s *Store) RequestGroup(ctx context.Context, r GroupRequest) (GroupRequest, error) {
	switch r.Action {
	case RequestOnline, RequestOffline, RequestMove:
	default:
		return r, fmt.Errorf("%w: action %q (want online, offline or move)", ErrBadRequest, r.Action)
	}
	if r.Node != "" && r.Action != RequestMove {
		return r, fmt.Errorf("%w: a target node only goes with move", ErrBadRequest)
	}
	r.ID, r.Time = uuid.NewString(), time.Now().UTC()
	resp, err := s.cli.Txn(ctx).
		If(present(s.keys.Group(r.Group))).
		Then(clientv3.OpPut(s.keys.GroupRequest(r.Group), mustJSON(r))).
		Commit()
	if err != nil {
		return r, fmt.Errorf("quorum: request %s of group %q: %w", r.Action, r.Group, err)
	}
	if !resp.Succeeded {
		return r, fmt.Errorf("%w: group %q", ErrNotFound, r.Group)
	}
	return r, nil
}

// RequestResource files a request for the owner of a resource's group. The
// resource must exist; its group is filled in.
func (s *Store) RequestResource(ctx context.Context, r ResourceRequest) (ResourceRequest, error) {
	switch r.Action {
	case RequestOnline, RequestOffline, RequestFail:
	default:
		return r, fmt.Errorf("%w: action %q (want online, offline or fail)", ErrBadRequest, r.Action)
	}
	res, err := s.Resource(ctx, r.Resource)
	if err != nil {
		return r, err
	}
	r.Group, r.ID, r.Time = res.Value.Group, uuid.NewString(), time.Now().UTC()
	resp, err := s.cli.Txn(ctx).
		If(unchanged(s.keys.Resource(r.Resource), res.ModRevision)).
		Then(clientv3.OpPut(s.keys.ResourceRequest(r.Group, r.Resource), mustJSON(r))).
		Commit()
	if err != nil {
		return r, fmt.Errorf("quorum: request %s of resource %q: %w", r.Action, res.Value.Name, err)
	}
	if !resp.Succeeded {
		return r, fmt.Errorf("%w: resource %q changed while filing the request; retry", ErrConflict, res.Value.Name)
	}
	return r, nil
}

// GroupStatuses returns every published group status by group name.
func (s *Store) GroupStatuses(ctx context.Context) (map[string]GroupStatus, error) {
	list, err := listJSON[GroupStatus](ctx, s, s.keys.GroupStates())
	if err != nil {
		return nil, err
	}
	out := make(map[string]GroupStatus, len(list))
	for _, v := range list {
		out[v.Value.Group] = v.Value
	}
	return out, nil
}

// ResourceStatuses returns every published resource status by resource id.
func (s *Store) ResourceStatuses(ctx context.Context) (map[string]ResourceStatus, error) {
	list, err := listJSON[ResourceStatus](ctx, s, s.keys.ResourceStates())
	if err != nil {
		return nil, err
	}
	out := make(map[string]ResourceStatus, len(list))
	for _, v := range list {
		out[v.Value.ID] = v.Value
	}
	return out, nil
}

// GroupStatus returns a group's published status, or ErrNotFound.
func (s *Store) GroupStatus(ctx context.Context, group string) (GroupStatus, error) {
	v, err := getJSON[GroupStatus](ctx, s, s.keys.GroupState(group), "status of group "+group)
	return v.Value, err
}

// WatchGroups reports the names of groups whose ownership or requests
// changed. After a watch interruption it reports "" (anything may
// have changed). The channel closes when ctx ends.
func (s *Store) WatchGroups(ctx context.Context) <-chan string {
	out := make(chan string, 64)
	prefixes := []string{s.keys.Owners(), s.keys.GroupRequests(), s.keys.AllResourceRequests()}
	done := make(chan struct{})
	for _, p := range prefixes {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
				for wr := range s.cli.Watch(wctx, p, clientv3.WithPrefix()) {
					if wr.Err() != nil {
						break
					}
					for _, ev := range wr.Events {
						name, _, _ := strings.Cut(string(ev.Kv.Key[len(p):]), "/")
						select {
						case out <- name:
						case <-ctx.Done():
						}
					}
				}
				cancel()
				select {
				case out <- "":
				case <-ctx.Done():
				}
				memberSleep(ctx, 50*time.Millisecond)
			}
		}()
	}
	go func() {
		for range prefixes {
			<-done
		}
		close(out)
	}()
	return out
}
