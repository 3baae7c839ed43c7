package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/resmon/resmon/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// GroupView is a group's ownership, status and pending requests read at one
// revision.
type GroupView struct {
	Revision  int64
	Owned     bool
	Ownership Ownership         // when Owned
	Status    model.GroupStatus // zero Group when never published
	Request   *model.GroupRequest
	Resource  []model.ResourceRequest
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
			v.Status = model.GroupStatus{}
		}
	}
	if kvs := resp.Responses[2].GetResponseRange().Kvs; len(kvs) == 1 {
		var r model.GroupRequest
		if err := json.Unmarshal(kvs[0].Value, &r); err != nil {
			s.log.Warn("unreadable group request ignored", "group", group, "error", err)
		} else {
			v.Request = &r
		}
	}
	for _, kv := range resp.Responses[3].GetResponseRange().Kvs {
		var r model.ResourceRequest
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
func (s *Store) Publish(ctx context.Context, fence model.Fence, g *model.GroupStatus, rs []model.ResourceStatus, done ...string) error {
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
func (s *Store) HandOff(ctx context.Context, o Ownership, g model.GroupStatus, rs []model.ResourceStatus, done ...string) error {
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

func handoffTo(h *model.Handoff) string {
	if h == nil || h.To == "" {
		return "(next preferred owner)"
	}
	return h.To
}

// RequestKey is the key of a pending group request (for Publish and HandOff).
func (s *Store) RequestKey(r model.GroupRequest) string { return s.keys.GroupRequest(r.Group) }

// ResourceRequestKey is the key of a pending resource request.
func (s *Store) ResourceRequestKey(r model.ResourceRequest) string {
	return s.keys.ResourceRequest(r.Group, r.Resource)
}

// ErrBadRequest reports a group or resource request that names an unknown
// action, group, resource or node.
var ErrBadRequest = errors.New("quorum: bad request")

// RequestGroup files a request for the owner of r.Group (replacing a pending
// one) and returns it with its id and time set. The group must exist.
func (s *Store) RequestGroup(ctx context.Context, r model.GroupRequest) (model.GroupRequest, error) {
	switch r.Action {
	case model.RequestOnline, model.RequestOffline, model.RequestMove:
	default:
		return r, fmt.Errorf("%w: action %q (want online, offline or move)", ErrBadRequest, r.Action)
	}
	if r.Node != "" && r.Action != model.RequestMove {
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
func (s *Store) RequestResource(ctx context.Context, r model.ResourceRequest) (model.ResourceRequest, error) {
	switch r.Action {
	case model.RequestOnline, model.RequestOffline, model.RequestFail:
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
func (s *Store) GroupStatuses(ctx context.Context) (map[string]model.GroupStatus, error) {
	list, err := listJSON[model.GroupStatus](ctx, s, s.keys.GroupStates())
	if err != nil {
		return nil, err
	}
	out := make(map[string]model.GroupStatus, len(list))
	for _, v := range list {
		out[v.Value.Group] = v.Value
	}
	return out, nil
}

// ResourceStatuses returns every published resource status by resource id.
func (s *Store) ResourceStatuses(ctx context.Context) (map[string]model.ResourceStatus, error) {
	list, err := listJSON[model.ResourceStatus](ctx, s, s.keys.ResourceStates())
	if err != nil {
		return nil, err
	}
	out := make(map[string]model.ResourceStatus, len(list))
	for _, v := range list {
		out[v.Value.ID] = v.Value
	}
	return out, nil
}

// GroupStatus returns a group's published status, or ErrNotFound.
func (s *Store) GroupStatus(ctx context.Context, group string) (model.GroupStatus, error) {
	v, err := getJSON[model.GroupStatus](ctx, s, s.keys.GroupState(group), "status of group "+group)
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
