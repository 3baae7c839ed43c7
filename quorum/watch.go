package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/resmon/resmon/model"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch reports changes to the cluster database, the node set, and each
// group's ownership and requests. It follows the one contract of every
// watch in this package: the channel closes only when ctx ends; after an
// interruption (etcd unreachable, a compaction) the watch resumes and first
// sends a model.ChangeResync, because changes may have been missed. A
// Change carries no data: the watcher reads what it needs.
func (s *Store) Watch(ctx context.Context) <-chan model.Change {
	out := make(chan model.Change, 64)
	type source struct {
		prefix string
		change func(key string) model.Change
		skip   func(key string) bool // keys not reported (nil: none)
		// taken names the node that took an ownership, for
		// model.Change.TakenBy (nil: not an ownership).
		taken func(ev *clientv3.Event) string
	}
	sources := []source{
		// A database change names its record, for a watcher to read only
		// it (Records). The checkpoint index lives under the database
		// prefix but is not part of what Database reads: the first save of
		// every checkpoint writes to it, and a thousand resources coming
		// online for the first time would wake every node a thousand times.
		{prefix: s.keys.DB(), change: s.databaseChange, skip: s.keys.notInDatabase},
		// The end of a restore makes the database readable again.
		{prefix: s.keys.Meta("restore"), change: func(string) model.Change { return model.Change{Kind: model.ChangeDatabase} }},
		{prefix: s.keys.Ops(), change: func(string) model.Change { return model.Change{Kind: model.ChangeDatabase} }},
		{prefix: s.keys.Nodes(), change: func(string) model.Change { return model.Change{Kind: model.ChangeNodes} }},
		{prefix: s.keys.Owners(), change: func(k string) model.Change {
			return model.Change{Kind: model.ChangeGroup, Name: groupOfKey(k, s.keys.Owners())}
		}, taken: s.takenBy},
		{prefix: s.keys.AllRequests(), change: func(k string) model.Change {
			return model.Change{Kind: model.ChangeGroup, Name: groupOfKey(k, s.keys.AllRequests())}
		}},
	}
	rev := s.currentRevision(ctx)
	done := make(chan struct{}, len(sources))
	for _, src := range sources {
		go func() {
			defer func() { done <- struct{}{} }()
			s.watchPrefix(ctx, src.prefix, rev, func(ev *clientv3.Event) bool {
				if src.skip != nil && src.skip(string(ev.Kv.Key)) {
					return true
				}
				c := src.change(string(ev.Kv.Key))
				if src.taken != nil {
					c.TakenBy = src.taken(ev)
				}
				select {
				case out <- c:
					return true
				case <-ctx.Done():
					return false
				}
			}, func() bool {
				select {
				case out <- model.Change{Kind: model.ChangeResync}:
					return true
				case <-ctx.Done():
					return false
				}
			})
		}()
	}
	go func() {
		for range sources {
			<-done
		}
		close(out)
	}()
	return out
}

// currentRevision is etcd's revision now, read before a watch starts so
// that it misses nothing after; 0 when etcd cannot be read (the watch then
// begins with a resync).
func (s *Store) currentRevision(ctx context.Context) int64 {
	resp, err := s.cli.Get(ctx, s.keys.Prefix()+"meta/", clientv3.WithCountOnly())
	if err != nil {
		return 0
	}
	return resp.Header.Revision
}

// watchPrefix watches prefix from revision rev+1 on, calling event for
// every change and, after an interruption (or when rev is 0: where to start
// is unknown), resync before it resumes from the current revision. It
// returns when ctx ends or a callback returns false.
func (s *Store) watchPrefix(ctx context.Context, prefix string, rev int64, event func(*clientv3.Event) bool, resync func() bool) {
	for ctx.Err() == nil {
		if rev == 0 {
			resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				if !memberSleep(ctx, time.Second) {
					return
				}
				continue
			}
			rev = resp.Header.Revision
			if !resync() {
				return
			}
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for wr := range s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
			if wr.Err() != nil {
				s.log.Debug("watch interrupted; resuming", "prefix", prefix, "error", wr.Err())
				break
			}
			for _, ev := range wr.Events {
				rev = ev.Kv.ModRevision
				if !event(ev) {
					cancel()
					return
				}
			}
		}
		cancel()
		if !memberSleep(ctx, 50*time.Millisecond) {
			return
		}
		rev = 0 // anything may have changed: read again from now
	}
}

// ErrRestoring reports a database read while a backup restore is writing
// it: what it holds is partial, and nobody should act on it.
var ErrRestoring = errors.New("quorum: a backup restore is in progress")

// Database reads the cluster database (types, groups, resources) at one
// revision. While a restore is writing it the result is ErrRestoring.
func (s *Store) Database(ctx context.Context) (model.Database, error) {
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.keys.Types(), clientv3.WithPrefix()),
		clientv3.OpGet(s.keys.Groups(), clientv3.WithPrefix()),
		clientv3.OpGet(s.keys.Resources(), clientv3.WithPrefix()),
		clientv3.OpGet(s.keys.Meta("restore")),
		clientv3.OpGet(s.keys.Ops(), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return model.Database{}, fmt.Errorf("quorum: reading the cluster database: %w", err)
	}
	if err := restoring(resp.Responses[3].GetResponseRange().Kvs); err != nil {
		return model.Database{}, err
	}
	db := model.Database{Revision: resp.Header.Revision}
	for i, r := range resp.Responses[:3] {
		for _, kv := range r.GetResponseRange().Kvs {
			var err error
			switch i {
			case 0:
				var t model.ResourceType
				if err = json.Unmarshal(kv.Value, &t); err == nil {
					db.Types = append(db.Types, t)
				}
			case 1:
				var g model.Group
				if err = json.Unmarshal(kv.Value, &g); err == nil {
					db.Groups = append(db.Groups, g)
				}
			case 2:
				var res model.Resource
				if err = json.Unmarshal(kv.Value, &res); err == nil {
					db.Resources = append(db.Resources, res)
				}
			}
			if err != nil {
				return model.Database{}, fmt.Errorf("quorum: decoding %s: %w", kv.Key, err)
			}
		}
	}
	if db.Ops, err = s.decodeOps(resp.Responses[4].GetResponseRange().Kvs); err != nil {
		return model.Database{}, err
	}
	return db, nil
}

// restoring is ErrRestoring, with where from and since when, if the
// restore marker read (kvs) says a restore is writing the database.
func restoring(kvs []*mvccpb.KeyValue) error {
	if len(kvs) != 1 {
		return nil
	}
	var m RestoreMarker
	if json.Unmarshal(kvs[0].Value, &m) == nil && m.Status == RestoreInProgress {
		return fmt.Errorf("%w (from %s, started %s)", ErrRestoring, m.From, m.Time.Format(time.RFC3339))
	}
	return nil
}

// takenBy is the node an ownership event gave the group to, "" for a
// release or an expiry.
func (s *Store) takenBy(ev *clientv3.Event) string {
	if ev.Type != clientv3.EventTypePut {
		return ""
	}
	return s.decodeOwner(ev.Kv).Node
}

// databaseChange is the Change of a write to key, under the database
// prefix.
func (s *Store) databaseChange(key string) model.Change {
	return model.Change{Kind: model.ChangeDatabase, Record: s.keys.recordOf(key)}
}

// notInDatabase says key, under the database prefix, is not part of what
// Database reads: the checkpoint index, and the name index that changes
// with its resource record in one transaction.
func (k Keys) notInDatabase(key string) bool {
	return k.isCheckpointIndex(key) || strings.HasPrefix(key, k.ResourceNames())
}

// recordOf names the database record stored at key; the zero RecordRef
// for a key that is no one record.
func (k Keys) recordOf(key string) model.RecordRef {
	for _, p := range []struct {
		prefix string
		kind   model.RecordKind
	}{{k.Types(), model.RecordType}, {k.Groups(), model.RecordGroup}, {k.Resources(), model.RecordResource}} {
		if name, ok := strings.CutPrefix(key, p.prefix); ok && name != "" && !strings.Contains(name, "/") {
			return model.RecordRef{Kind: p.kind, Name: name}
		}
	}
	return model.RecordRef{}
}

// recordKey is where ref's record is stored.
func (k Keys) recordKey(ref model.RecordRef) (string, error) {
	if ref.Name == "" || strings.Contains(ref.Name, "/") {
		return "", fmt.Errorf("record name %q: %w", ref.Name, ErrBadRecordRef)
	}
	switch ref.Kind {
	case model.RecordType:
		return k.Type(ref.Name), nil
	case model.RecordGroup:
		return k.Group(ref.Name), nil
	case model.RecordResource:
		return k.Resource(ref.Name), nil
	}
	return "", fmt.Errorf("record kind %d of %q: %w", ref.Kind, ref.Name, ErrBadRecordRef)
}

// Errors of Records.
var (
	// ErrBadRecordRef: a RecordRef names no record (no kind, or a name
	// that cannot be a key's last part).
	ErrBadRecordRef = errors.New("quorum: not a database record")
	// ErrTooManyRecords: more than MaxRecords records asked for at once.
	ErrTooManyRecords = errors.New("quorum: too many records in one read")
)

// MaxRecords is how many records one Records call reads at most (etcd
// refuses transactions of more than 128 operations by default).
const MaxRecords = 100

// Records reads the named records of the cluster database at one revision;
// a record that does not exist is left out of the result. While a restore
// is writing the database the result is ErrRestoring. It is how a watcher
// told of a few changed records (Change.Record) reads only them.
func (s *Store) Records(ctx context.Context, refs []model.RecordRef) (model.Records, error) {
	if len(refs) > MaxRecords {
		return model.Records{}, fmt.Errorf("reading %d records, at most %d at once: %w", len(refs), MaxRecords, ErrTooManyRecords)
	}
	ops := []clientv3.Op{clientv3.OpGet(s.keys.Meta("restore"))}
	for _, ref := range refs {
		key, err := s.keys.recordKey(ref)
		if err != nil {
			return model.Records{}, err
		}
		ops = append(ops, clientv3.OpGet(key))
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return model.Records{}, fmt.Errorf("quorum: reading %d database records: %w", len(refs), err)
	}
	if err := restoring(resp.Responses[0].GetResponseRange().Kvs); err != nil {
		return model.Records{}, err
	}
	recs := model.Records{Revision: resp.Header.Revision, Types: map[string]model.ResourceType{},
		Groups: map[string]model.Group{}, Resources: map[string]model.Resource{}}
	for i, ref := range refs {
		kvs := resp.Responses[i+1].GetResponseRange().Kvs
		if len(kvs) == 0 {
			continue
		}
		var err error
		switch ref.Kind {
		case model.RecordType:
			var t model.ResourceType
			if err = json.Unmarshal(kvs[0].Value, &t); err == nil {
				recs.Types[ref.Name] = t
			}
		case model.RecordGroup:
			var g model.Group
			if err = json.Unmarshal(kvs[0].Value, &g); err == nil {
				recs.Groups[ref.Name] = g
			}
		case model.RecordResource:
			var r model.Resource
			if err = json.Unmarshal(kvs[0].Value, &r); err == nil {
				recs.Resources[ref.Name] = r
			}
		}
		if err != nil {
			return model.Records{}, fmt.Errorf("quorum: decoding %s: %w", kvs[0].Key, err)
		}
	}
	return recs, nil
}

// WatchAll notifies of any change under the cluster's prefix except
// checkpoint data (which changes with every registry write): the nodes,
// the database, ownership, states, requests, events, the operations state.
// Notifications carry nothing and coalesce; after an interruption one is
// sent too. The channel closes when ctx ends.
func (s *Store) WatchAll(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	notify := func() bool {
		select {
		case out <- struct{}{}:
		default:
		}
		return ctx.Err() == nil
	}
	rev := s.currentRevision(ctx)
	go func() {
		defer close(out)
		s.watchPrefix(ctx, s.keys.Prefix(), rev, func(ev *clientv3.Event) bool {
			if strings.HasPrefix(string(ev.Kv.Key), s.keys.Checkpoints()) {
				return ctx.Err() == nil
			}
			return notify()
		}, notify)
	}()
	return out
}
