package quorum

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/resmon/resmon/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Requests and replies are the one request/reply mechanism between
// operators and owners: a request is filed under control/<group>/<id> for
// whichever node owns the group; the owner carries it out and, in the same
// fenced Txn that publishes the outcome, deletes it (comparing its
// revision) and writes a typed reply under replies/<group>/<id>, which the
// requester reads and deletes (TrimReplies removes replies nobody read).

func decodeRequest(b []byte) (model.Request, error) {
	var r model.Request
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("quorum: decoding a request: %w", err)
	}
	return r, nil
}

// File files a request for the owner of r.Group and returns it with its id
// and time set. A resource request may leave Group empty: the resource's
// group is filled in. The group (and the resource) must exist.
func (s *Store) File(ctx context.Context, r model.Request) (model.Request, error) {
	cmps := []clientv3.Cmp{}
	if r.Resource != "" {
		res, err := s.Resource(ctx, r.Resource)
		if err != nil {
			return r, err
		}
		if r.Group == "" {
			r.Group = res.Value.Group
		}
		if r.Group != res.Value.Group {
			return r, fmt.Errorf("%w: resource %q is in group %q, not %q", model.ErrBadRequest, res.Value.Name, res.Value.Group, r.Group)
		}
		cmps = append(cmps, unchanged(s.keys.Resource(r.Resource), res.ModRevision))
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	if err := model.ValidName(r.Group); err != nil {
		return r, fmt.Errorf("%w: group: %v", model.ErrBadRequest, err)
	}
	r.ID, r.Time, r.Revision = uuid.NewString(), time.Now().UTC(), 0
	cmps = append(cmps, present(s.keys.Group(r.Group)))
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(s.keys.Request(r.Group, r.ID), mustJSON(r))).Commit()
	if err != nil {
		return r, fmt.Errorf("quorum: filing %s for group %q: %w", r.Action, r.Group, err)
	}
	if !resp.Succeeded {
		if r.Resource != "" {
			return r, fmt.Errorf("%w: group %q or resource %s changed while filing the request; retry", ErrConflict, r.Group, r.Resource)
		}
		return r, fmt.Errorf("%w: group %q", ErrNotFound, r.Group)
	}
	r.Revision = resp.Header.Revision
	return r, nil
}

// Withdraw deletes a pending request that has not been answered; it
// reports whether the request was still pending.
func (s *Store) Withdraw(ctx context.Context, r model.Request) (bool, error) {
	resp, err := s.cli.Delete(ctx, s.keys.Request(r.Group, r.ID))
	if err != nil {
		return false, fmt.Errorf("quorum: withdrawing request %s: %w", r.ID, err)
	}
	return resp.Deleted > 0, nil
}

// Pending reports whether a request is still waiting for its owner.
func (s *Store) Pending(ctx context.Context, r model.Request) (bool, error) {
	resp, err := s.cli.Get(ctx, s.keys.Request(r.Group, r.ID), clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("quorum: reading request %s: %w", r.ID, err)
	}
	return resp.Count > 0, nil
}

// AwaitReply blocks until the owner has answered r, then deletes the reply
// and returns it. It returns ctx's error when ctx ends first (the request
// may still be pending: see Pending and Withdraw).
func (s *Store) AwaitReply(ctx context.Context, r model.Request) (model.Reply, error) {
	key := s.keys.Reply(r.Group, r.ID)
	for {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return model.Reply{}, fmt.Errorf("quorum: reading the reply to request %s: %w", r.ID, err)
		}
		if len(resp.Kvs) == 1 {
			return s.takeReply(ctx, key, resp.Kvs[0].Value)
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for wr := range s.cli.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1)) {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					cancel()
					return s.takeReply(ctx, key, ev.Kv.Value)
				}
			}
		}
		cancel()
		if ctx.Err() != nil {
			return model.Reply{}, ctx.Err()
		}
		if !memberSleep(ctx, 50*time.Millisecond) {
			return model.Reply{}, ctx.Err()
		}
	}
}

func (s *Store) takeReply(ctx context.Context, key string, b []byte) (model.Reply, error) {
	var rep model.Reply
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fmt.Errorf("quorum: decoding the reply at %s: %w", key, err)
	}
	if _, err := s.cli.Delete(context.WithoutCancel(ctx), key); err != nil {
		s.log.Debug("deleting a reply that was read", "key", key, "error", err)
	}
	return rep, nil
}

// TrimReplies deletes replies older than maxAge that nobody read (their
// requester gave up or died); it returns how many it deleted.
func (s *Store) TrimReplies(ctx context.Context, maxAge time.Duration) (int, error) {
	resp, err := s.cli.Get(ctx, s.keys.AllReplies(), clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("quorum: listing replies: %w", err)
	}
	cut := time.Now().Add(-maxAge)
	n := 0
	for _, kv := range resp.Kvs {
		var rep model.Reply
		if json.Unmarshal(kv.Value, &rep) == nil && rep.Time.After(cut) {
			continue
		}
		d, err := s.cli.Txn(ctx).If(unchanged(string(kv.Key), kv.ModRevision)).Then(clientv3.OpDelete(string(kv.Key))).Commit()
		if err != nil {
			return n, fmt.Errorf("quorum: trimming replies: %w", err)
		}
		if d.Succeeded {
			n++
		}
	}
	return n, nil
}

// groupOfKey is the group segment of a key under prefix ("<group>/…").
func groupOfKey(key, prefix string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(key, prefix), "/")
	return name
}
