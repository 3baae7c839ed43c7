package quorum

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event is one entry of the cluster's event log: who did what, when.
type Event struct {
	Time    time.Time         `json:"time"`
	Node    string            `json:"node"`
	Kind    string            `json:"kind"`    // e.g. "node.join", "group.failover", "checkpoint.corrupt"
	Subject string            `json:"subject"` // the group, resource or node concerned
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
	// Operator is who asked for the change, for changes an operator made
	// (the cluster CLI): the common name of the client certificate etcd
	// admitted, an etcd user name, or with plaintext etcd "unix:LOGIN" as
	// the CLI's user reports it. Empty for what nodes do on their own.
	Operator string `json:"operator,omitempty"`
}

// Retention bounds the event log; zero fields mean no bound of that kind.
type Retention struct {
	MaxEntries int
	MaxAge     time.Duration
}

// DefaultRetention keeps a week or 10,000 entries, whichever is less.
var DefaultRetention = Retention{MaxEntries: 10000, MaxAge: 7 * 24 * time.Hour}

var eventSeq atomic.Uint64

// eventKey orders events by time: events/<unix nanos, 19 digits>-<node>-<seq>.
func (s *Store) eventKey(e Event) string {
	return fmt.Sprintf("%s%019d-%s-%d", s.keys.Events(), e.Time.UnixNano(), e.Node, eventSeq.Add(1))
}

// AppendEvent writes e to the event log, stamping the time when it is zero.
func (s *Store) AppendEvent(ctx context.Context, e Event) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if _, err := s.cli.Put(ctx, s.eventKey(e), mustJSON(e)); err != nil {
		return fmt.Errorf("quorum: appending event %s: %w", e.Kind, err)
	}
	return nil
}

// Events returns up to limit events at or after since, oldest first
// (limit ≤ 0: all of them).
func (s *Store) Events(ctx context.Context, since time.Time, limit int) ([]Event, error) {
	start := s.keys.Events()
	if !since.IsZero() {
		start = fmt.Sprintf("%s%019d", s.keys.Events(), since.UnixNano())
	}
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(s.keys.Events())),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.cli.Get(ctx, start, opts...)
	if err != nil {
		return nil, fmt.Errorf("quorum: reading events: %w", err)
	}
	out := make([]Event, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var e Event
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return nil, fmt.Errorf("quorum: decoding event %s: %w", kv.Key, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// WatchEvents delivers events appended after the call. The channel closes
// when ctx ends or the watch fails.
func (s *Store) WatchEvents(ctx context.Context) <-chan Event {
	out := make(chan Event, 64)
	wc := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.keys.Events(), clientv3.WithPrefix(), clientv3.WithFilterDelete())
	go func() {
		defer close(out)
		for resp := range wc {
			if resp.Err() != nil {
				return
			}
			for _, ev := range resp.Events {
				var e Event
				if json.Unmarshal(ev.Kv.Value, &e) != nil {
					continue
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// TrimEvents enforces r: entries older than MaxAge go with one range delete
// (keys sort by time), then the oldest beyond MaxEntries. It returns how many
// entries it removed.
func (s *Store) TrimEvents(ctx context.Context, r Retention) (int64, error) {
	var removed int64
	prefix := s.keys.Events()
	if r.MaxAge > 0 {
		cut := fmt.Sprintf("%s%019d", prefix, time.Now().Add(-r.MaxAge).UnixNano())
		resp, err := s.cli.Delete(ctx, prefix, clientv3.WithRange(cut))
		if err != nil {
			return removed, fmt.Errorf("quorum: trimming events by age: %w", err)
		}
		removed += resp.Deleted
	}
	if r.MaxEntries > 0 {
		cnt, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return removed, fmt.Errorf("quorum: counting events: %w", err)
		}
		if excess := cnt.Count - int64(r.MaxEntries); excess > 0 {
			// The key of the first entry to keep bounds the range delete.
			keep, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
				clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(excess+1))
			if err != nil {
				return removed, fmt.Errorf("quorum: trimming events: %w", err)
			}
			if n := len(keep.Kvs); n > 0 {
				end := string(keep.Kvs[n-1].Key)
				if int64(n) <= excess { // fewer than asked: they all go
					end = clientv3.GetPrefixRangeEnd(prefix)
				}
				resp, err := s.cli.Delete(ctx, prefix, clientv3.WithRange(end))
				if err != nil {
					return removed, fmt.Errorf("quorum: trimming events: %w", err)
				}
				removed += resp.Deleted
			}
		}
	}
	return removed, nil
}

// RecentEvents returns the last n events, oldest first.
func (s *Store) RecentEvents(ctx context.Context, n int) ([]Event, error) {
	if n <= 0 {
		return nil, nil
	}
	resp, err := s.cli.Get(ctx, s.keys.Events(), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(n)))
	if err != nil {
		return nil, fmt.Errorf("quorum: reading events: %w", err)
	}
	out := make([]Event, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		if err := json.Unmarshal(kv.Value, &out[len(out)-1-i]); err != nil {
			return nil, fmt.Errorf("quorum: decoding event %s: %w", kv.Key, err)
		}
	}
	return out, nil
}
