package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/resmon/resmon/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// GroupView reads a group's ownership, published status and pending
// requests (oldest first) in one Txn.
func (s *Store) GroupView(ctx context.Context, group string) (model.GroupView, error) {
	vs, err := s.GroupViews(ctx, []string{group})
	if err != nil {
		return model.GroupView{}, err
	}
	return vs[0], nil
}

// MaxGroupViews is the most groups GroupViews reads at once: three
// operations each, within etcd's default limit of 128 per Txn.
const MaxGroupViews = 40

// ErrTooManyGroups reports a GroupViews call for more than MaxGroupViews
// groups.
var ErrTooManyGroups = errors.New("quorum: too many groups for one read")

// GroupViews reads the views of groups, as GroupView does, in one Txn at
// one revision: a node that sees the groups of a dead owner released
// together reads them together.
func (s *Store) GroupViews(ctx context.Context, groups []string) ([]model.GroupView, error) {
	if len(groups) > MaxGroupViews {
		return nil, fmt.Errorf("%w: %d groups, at most %d", ErrTooManyGroups, len(groups), MaxGroupViews)
	}
	ops := make([]clientv3.Op, 0, 3*len(groups))
	for _, g := range groups {
		ops = append(ops,
			clientv3.OpGet(s.keys.Owner(g)),
			clientv3.OpGet(s.keys.GroupState(g)),
			clientv3.OpGet(s.keys.Requests(g), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)))
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		if len(groups) == 1 {
			return nil, fmt.Errorf("quorum: reading group %q: %w", groups[0], err)
		}
		return nil, fmt.Errorf("quorum: reading %d groups: %w", len(groups), err)
	}
	out := make([]model.GroupView, len(groups))
	for i, group := range groups {
		r := resp.Responses[3*i : 3*i+3]
		v := model.GroupView{Revision: resp.Header.Revision}
		if kvs := r[0].GetResponseRange().Kvs; len(kvs) == 1 {
			v.Owned, v.Ownership = true, s.decodeOwner(kvs[0])
		}
		if kvs := r[1].GetResponseRange().Kvs; len(kvs) == 1 {
			if err := json.Unmarshal(kvs[0].Value, &v.Status); err != nil {
				s.log.Warn("unreadable group status; treated as never published", "group", group, "error", err)
				v.Status = model.GroupStatus{}
			}
		}
		for _, kv := range r[2].GetResponseRange().Kvs {
			req, err := decodeRequest(kv.Value)
			if err != nil {
				// Answered as refused, so it does not block the queue and
				// whoever filed it learns why.
				s.log.Warn("unreadable request", "key", string(kv.Key), "error", err)
				req = model.Request{ID: groupOfKey(string(kv.Key), s.keys.Requests(group)), Group: group, Action: "unreadable"}
			}
			req.Revision = kv.ModRevision
			v.Requests = append(v.Requests, req)
		}
		out[i] = v
	}
	return out, nil
}

// publishOps are the operations of an owner's publication: statuses, and
// for each answer its reply and the deletion of its request (guarded by
// the request's revision through the compares returned).
func (s *Store) publishOps(group string, p model.Publication) ([]clientv3.Cmp, []clientv3.Op) {
	var cmps []clientv3.Cmp
	ops := make([]clientv3.Op, 0, len(p.Resources)+2*len(p.Answers)+1)
	if p.Group != nil {
		ops = append(ops, clientv3.OpPut(s.keys.GroupState(group), mustJSON(p.Group)))
	}
	for _, r := range p.Resources {
		ops = append(ops, clientv3.OpPut(s.keys.ResourceState(r.ID), mustJSON(r)))
	}
	for _, a := range p.Answers {
		key := s.keys.Request(group, a.Request.ID)
		cmps = append(cmps, unchanged(key, a.Request.Revision))
		ops = append(ops, clientv3.OpDelete(key), clientv3.OpPut(s.keys.Reply(group, a.Request.ID), mustJSON(a.Reply)))
	}
	return cmps, ops
}

// publish writes p under fence, and with release also deletes the owner
// key, all in one Txn. When a request was changed or withdrawn since it
// was read, the publication is written without that answer (the owner
// sees the request again at its next read) and the result is
// errRequestChanged; when the fence is stale nothing is written and the
// result is model.ErrFenced.
func (s *Store) publish(ctx context.Context, fence model.Fence, p model.Publication, release bool) error {
	dropped := false
	for attempt := 0; ; attempt++ {
		cmps, ops := s.publishOps(fence.Group, p)
		if release {
			ops = append(ops, clientv3.OpDelete(s.keys.Owner(fence.Group)))
		}
		if len(ops) == 0 {
			return nil
		}
		resp, err := s.cli.Txn(ctx).If(append([]clientv3.Cmp{s.fenceCmp(fence)}, cmps...)...).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("quorum: publishing for %s: %w", fence, err)
		}
		if resp.Succeeded {
			if dropped {
				return errRequestChanged
			}
			return nil
		}
		// Tell a stale fence from a changed request.
		own, err := s.cli.Get(ctx, s.keys.Owner(fence.Group))
		if err != nil {
			return fmt.Errorf("quorum: publishing for %s: %w", fence, err)
		}
		if len(own.Kvs) == 0 || own.Kvs[0].CreateRevision != fence.Token {
			return fmt.Errorf("%w: write refused for %s", model.ErrFenced, fence)
		}
		if attempt == 10 {
			return fmt.Errorf("quorum: publishing for %s: the requests being answered keep changing", fence)
		}
		kept := make([]model.Answer, 0, len(p.Answers))
		for _, a := range p.Answers {
			r, err := s.cli.Get(ctx, s.keys.Request(fence.Group, a.Request.ID))
			if err != nil {
				return fmt.Errorf("quorum: publishing for %s: %w", fence, err)
			}
			if len(r.Kvs) == 1 && r.Kvs[0].ModRevision == a.Request.Revision {
				kept = append(kept, a)
			}
		}
		dropped = dropped || len(kept) < len(p.Answers)
		p.Answers = kept
	}
}

// errRequestChanged reports a publication written without the answers to
// requests that changed after they were read.
var errRequestChanged = errors.New("quorum: a request changed while it was being answered; it stays pending")

// Publish writes a publication (statuses, answers) under fence in one Txn.
// It fails with model.ErrFenced when the group has moved on. An answer to
// a request that was re-filed since it was read is left out: the request
// stays pending, so a request is never deleted unread.
func (s *Store) Publish(ctx context.Context, fence model.Fence, p model.Publication) error {
	err := s.publish(ctx, fence, p, false)
	if errors.Is(err, errRequestChanged) {
		return nil
	}
	return err
}

// HandOff publishes the group's last status (with its Handoff) and
// releases the ownership in one Txn: the next owner sees the status and
// the release together.
func (s *Store) HandOff(ctx context.Context, o model.Ownership, p model.Publication) error {
	err := s.publish(ctx, o.Fence(), p, true)
	if errors.Is(err, errRequestChanged) {
		err = nil
	}
	if err != nil {
		return err
	}
	to := "(next preferred owner)"
	if p.Group != nil && p.Group.Handoff != nil && p.Group.Handoff.To != "" {
		to = p.Group.Handoff.To
	}
	s.log.Info("group handed off", "group", o.Group, "token", o.Token, "to", to)
	return nil
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

// ReadGroupStatus reads a group's published status (zero when none was
// published, or it is unreadable: the owner rewrites it) and the revision
// it was read at, to follow it from with WatchGroupStatus.
func (s *Store) ReadGroupStatus(ctx context.Context, group string) (model.GroupStatus, int64, error) {
	return readAt[model.GroupStatus](ctx, s, s.keys.GroupState(group))
}

// ReadResourceStatus is ReadGroupStatus for a resource (by id).
func (s *Store) ReadResourceStatus(ctx context.Context, id string) (model.ResourceStatus, int64, error) {
	return readAt[model.ResourceStatus](ctx, s, s.keys.ResourceState(id))
}

// WatchGroupStatus reports every status the group's owners publish after
// revision after. After an interruption it reads the status again and
// reports it, so the last value is always etcd's. The channel closes when
// ctx ends.
func (s *Store) WatchGroupStatus(ctx context.Context, group string, after int64) <-chan model.GroupStatus {
	return watchValue[model.GroupStatus](ctx, s, s.keys.GroupState(group), after)
}

// WatchResourceStatus is WatchGroupStatus for a resource (by id).
func (s *Store) WatchResourceStatus(ctx context.Context, id string, after int64) <-chan model.ResourceStatus {
	return watchValue[model.ResourceStatus](ctx, s, s.keys.ResourceState(id), after)
}

func readAt[T any](ctx context.Context, s *Store, key string) (T, int64, error) {
	var v T
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return v, 0, fmt.Errorf("quorum: reading %s: %w", key, err)
	}
	if len(resp.Kvs) == 1 {
		_ = json.Unmarshal(resp.Kvs[0].Value, &v)
	}
	return v, resp.Header.Revision, nil
}

// watchValue follows one JSON key from revision after+1 on; deletions and
// unreadable values are skipped.
func watchValue[T any](ctx context.Context, s *Store, key string, after int64) <-chan T {
	out := make(chan T, 4)
	send := func(b []byte) bool {
		var v T
		if json.Unmarshal(b, &v) != nil {
			return true
		}
		select {
		case out <- v:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			for wr := range s.cli.Watch(wctx, key, clientv3.WithRev(after+1)) {
				if wr.Err() != nil {
					break
				}
				for _, ev := range wr.Events {
					after = ev.Kv.ModRevision
					if ev.Type == clientv3.EventTypePut && !send(ev.Kv.Value) {
						cancel()
						return
					}
				}
			}
			cancel()
			if !memberSleep(ctx, 50*time.Millisecond) {
				return
			}
			// Interrupted: report what the key holds now and go on from there.
			resp, err := s.cli.Get(ctx, key)
			if err != nil {
				continue
			}
			after = resp.Header.Revision
			if len(resp.Kvs) == 1 && !send(resp.Kvs[0].Value) {
				return
			}
		}
	}()
	return out
}
