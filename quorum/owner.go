package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/resmon/resmon/model"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ownerRecord is the JSON value of an owner key.
type ownerRecord struct {
	Node  string    `json:"node"`
	Time  time.Time `json:"time"`
	Lease string    `json:"lease"` // hex, as etcdctl shows it
}

// Acquire makes m's node the owner of group if nobody owns it: the owner key
// is created only if absent and bound to m's lease, so it disappears when the
// node leaves or its lease expires. The returned token is the key's
// CreateRevision. If m already owns the group, its current ownership is
// returned. If another node owns it the error is an *OwnedError naming it.
func (s *Store) Acquire(ctx context.Context, m *Member, group string) (model.Ownership, error) {
	if err := model.ValidName(group); err != nil {
		return model.Ownership{}, fmt.Errorf("quorum: group name: %v", err)
	}
	if m == nil {
		return model.Ownership{}, fmt.Errorf("quorum: acquire group %q: no member", group)
	}
	if err := m.live(); err != nil {
		return model.Ownership{}, fmt.Errorf("quorum: acquire group %q: %w", group, err)
	}
	key := s.keys.Owner(group)
	val, err := json.Marshal(ownerRecord{Node: m.node, Time: time.Now().UTC().Truncate(time.Millisecond), Lease: formatLease(m.lease)})
	if err != nil {
		return model.Ownership{}, err
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(m.lease))).
		Else(clientv3.OpGet(key)).
		Commit()
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return model.Ownership{}, fmt.Errorf("quorum: acquire group %q: %w: lease %s of node %q is gone", group, ErrLeaseLost, formatLease(m.lease), m.node)
	}
	if err != nil {
		return model.Ownership{}, fmt.Errorf("quorum: acquire group %q: %w", group, err)
	}
	if resp.Succeeded {
		o := model.Ownership{Group: group, Node: m.node, Token: resp.Header.Revision}
		s.log.Info("group acquired", "group", group, "token", o.Token)
		return o, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 { // cannot happen: the compare and the read are one revision
		return model.Ownership{}, fmt.Errorf("quorum: acquire group %q: owner key vanished inside a Txn", group)
	}
	cur := s.decodeOwner(kvs[0])
	if clientv3.LeaseID(kvs[0].Lease) == m.lease {
		return cur, nil
	}
	return model.Ownership{}, &model.OwnedError{Group: group, Node: cur.Node, Token: cur.Token}
}

func (s *Store) decodeOwner(kv *mvccpb.KeyValue) model.Ownership {
	var r ownerRecord
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		s.log.Warn("unreadable owner record", "key", string(kv.Key), "error", err)
	}
	return model.Ownership{Group: string(kv.Key[len(s.keys.Owners()):]), Node: r.Node, Token: kv.CreateRevision}
}

// Release gives up o: the owner key is deleted only if it is still o's
// tenure (CreateRevision == token); otherwise the result is ErrFenced and
// nothing changes.
func (s *Store) Release(ctx context.Context, o model.Ownership) error {
	resp, err := s.cli.Txn(ctx).
		If(s.fenceCmp(o.Fence())).
		Then(clientv3.OpDelete(s.keys.Owner(o.Group))).
		Commit()
	if err != nil {
		return fmt.Errorf("quorum: release %s: %w", o, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: release %s", model.ErrFenced, o.Fence())
	}
	s.log.Info("group released", "group", o.Group, "token", o.Token)
	return nil
}

// Owner returns the current ownership of group, or ErrNotFound if nobody owns it.
func (s *Store) Owner(ctx context.Context, group string) (model.Ownership, error) {
	resp, err := s.cli.Get(ctx, s.keys.Owner(group))
	if err != nil {
		return model.Ownership{}, fmt.Errorf("quorum: owner of group %q: %w", group, err)
	}
	if len(resp.Kvs) == 0 {
		return model.Ownership{}, fmt.Errorf("%w: group %q has no owner", ErrNotFound, group)
	}
	return s.decodeOwner(resp.Kvs[0]), nil
}

// Owners returns the current ownership of every owned group, by group name.
func (s *Store) Owners(ctx context.Context) (map[string]model.Ownership, error) {
	resp, err := s.cli.Get(ctx, s.keys.Owners(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("quorum: listing owners: %w", err)
	}
	out := make(map[string]model.Ownership, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		o := s.decodeOwner(kv)
		out[o.Group] = o
	}
	return out, nil
}

// OwnerEvent reports a group's ownership: Owned with the new tenure, or not
// owned (released, or the owner's lease expired).
type OwnerEvent struct {
	Group     string
	Owned     bool
	Ownership model.Ownership // set when Owned
}

// WatchOwner first reports the group's current ownership, then every change.
// After a watch interruption it re-reads the owner and reports it if it
// changed, so the last event always matches etcd. The channel closes when ctx ends.
func (s *Store) WatchOwner(ctx context.Context, group string) <-chan OwnerEvent {
	ch := make(chan OwnerEvent, 4)
	key := s.keys.Owner(group)
	go func() {
		defer close(ch)
		var last *OwnerEvent
		send := func(ev OwnerEvent) bool {
			if last != nil && *last == ev {
				return true
			}
			select {
			case ch <- ev:
				last = &ev
				return true
			case <-ctx.Done():
				return false
			}
		}
		for ctx.Err() == nil {
			resp, err := s.cli.Get(ctx, key)
			if err != nil {
				s.log.Warn("reading owner for watch", "group", group, "error", err)
				if !memberSleep(ctx, time.Second) {
					return
				}
				continue
			}
			ev := OwnerEvent{Group: group}
			if len(resp.Kvs) == 1 {
				ev.Owned, ev.Ownership = true, s.decodeOwner(resp.Kvs[0])
			}
			if !send(ev) {
				return
			}
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			for wr := range s.cli.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1)) {
				if wr.Err() != nil {
					s.log.Warn("owner watch interrupted; re-reading", "group", group, "error", wr.Err())
					break
				}
				for _, e := range wr.Events {
					ev := OwnerEvent{Group: group}
					if e.Type == clientv3.EventTypePut {
						ev.Owned, ev.Ownership = true, s.decodeOwner(e.Kv)
					}
					if !send(ev) {
						cancel()
						return
					}
				}
			}
			cancel()
			if !memberSleep(ctx, 50*time.Millisecond) {
				return
			}
		}
	}()
	return ch
}

// FencedTxn applies ops in one Txn that succeeds only while f is the group's
// current ownership; otherwise nothing is applied and the result is
// ErrFenced. It is the pattern of every owner-only write.
func (s *Store) FencedTxn(ctx context.Context, f model.Fence, ops ...clientv3.Op) error {
	resp, err := s.cli.Txn(ctx).If(s.fenceCmp(f)).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("quorum: fenced write for %s: %w", f, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: write refused for %s", model.ErrFenced, f)
	}
	return nil
}
