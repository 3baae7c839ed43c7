package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/resmon/resmon/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrExists reports a create of a record whose name is taken.
var ErrExists = errors.New("quorum: already exists")

// Versioned is a record with the ModRevision it was read at; pass that
// revision back to an Update to detect concurrent changes.
type Versioned[T any] struct {
	Value       T
	ModRevision int64
}

func getJSON[T any](ctx context.Context, s *Store, key, what string) (Versioned[T], error) {
	var v Versioned[T]
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return v, fmt.Errorf("quorum: reading %s: %w", what, err)
	}
	if len(resp.Kvs) == 0 {
		return v, fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &v.Value); err != nil {
		return v, fmt.Errorf("quorum: decoding %s at %s: %w", what, key, err)
	}
	v.ModRevision = resp.Kvs[0].ModRevision
	return v, nil
}

func listJSON[T any](ctx context.Context, s *Store, prefix string) ([]Versioned[T], error) {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("quorum: listing %s: %w", prefix, err)
	}
	out := make([]Versioned[T], 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("quorum: decoding %s: %w", kv.Key, err)
		}
		out = append(out, Versioned[T]{Value: v, ModRevision: kv.ModRevision})
	}
	return out, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Model types are plain data; failing here is a programming error.
		panic(fmt.Sprintf("quorum: encoding %T: %v", v, err))
	}
	return string(b)
}

// absent is the comparison "key does not exist".
func absent(key string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
}

// present is the comparison "key exists".
func present(key string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
}

func unchanged(key string, modRev int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(key), "=", modRev)
}

// ValidateType checks a resource type record.
func ValidateType(t model.ResourceType) error {
	if err := model.ValidName(t.Name); err != nil {
		return fmt.Errorf("resource type: %w", err)
	}
	if t.Kind != model.KindPlugin && t.Kind != model.KindWASM {
		return fmt.Errorf("resource type %q: kind %q is neither %q nor %q", t.Name, t.Kind, model.KindPlugin, model.KindWASM)
	}
	return nil
}

// ValidateGroup checks a group record.
func ValidateGroup(g model.Group) error {
	if err := model.ValidName(g.Name); err != nil {
		return fmt.Errorf("group: %w", err)
	}
	for _, o := range g.PreferredOwners {
		if err := model.ValidName(o); err != nil {
			return fmt.Errorf("group %q: preferred owner: %w", g.Name, err)
		}
	}
	if g.AutoFailbackType != model.FailbackPrevent && g.AutoFailbackType != model.FailbackAllow {
		return fmt.Errorf("group %q: auto_failback_type %q is neither %q nor %q", g.Name, g.AutoFailbackType, model.FailbackPrevent, model.FailbackAllow)
	}
	return nil
}

// ValidateResource checks a resource record on its own (references are
// checked by the store when it is written).
func ValidateResource(r model.Resource) error {
	if err := model.ValidName(r.Name); err != nil {
		return fmt.Errorf("resource: %w", err)
	}
	for _, o := range r.PossibleOwners {
		if err := model.ValidName(o); err != nil {
			return fmt.Errorf("resource %q: possible owner: %w", r.Name, err)
		}
	}
	for _, or := range r.Dependencies {
		for _, d := range or {
			if err := model.ValidName(d); err != nil {
				return fmt.Errorf("resource %q: dependency: %w", r.Name, err)
			}
		}
	}
	if r.ID != "" {
		if _, err := uuid.Parse(r.ID); err != nil {
			return fmt.Errorf("resource %q: id %q is not a GUID", r.Name, r.ID)
		}
	}
	if r.Properties.RestartAction < model.RestartNone || r.Properties.RestartAction > model.RestartThenFailover {
		return fmt.Errorf("resource %q: restart_action %d is not 0, 1 or 2", r.Name, r.Properties.RestartAction)
	}
	return nil
}

// CreateType stores a new resource type; ErrExists if the name is taken.
func (s *Store) CreateType(ctx context.Context, t model.ResourceType) error {
	if err := ValidateType(t); err != nil {
		return err
	}
	key := s.keys.Type(t.Name)
	resp, err := s.cli.Txn(ctx).If(absent(key)).Then(clientv3.OpPut(key, mustJSON(t))).Commit()
	if err != nil {
		return fmt.Errorf("quorum: creating resource type %q: %w", t.Name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: resource type %q", ErrExists, t.Name)
	}
	return nil
}

// Type reads a resource type.
func (s *Store) Type(ctx context.Context, name string) (Versioned[model.ResourceType], error) {
	return getJSON[model.ResourceType](ctx, s, s.keys.Type(name), fmt.Sprintf("resource type %q", name))
}

// Types lists the resource types by name.
func (s *Store) Types(ctx context.Context) ([]Versioned[model.ResourceType], error) {
	return listJSON[model.ResourceType](ctx, s, s.keys.Types())
}

// UpdateType replaces a resource type read at modRev; ErrConflict if it changed since.
func (s *Store) UpdateType(ctx context.Context, t model.ResourceType, modRev int64) error {
	if err := ValidateType(t); err != nil {
		return err
	}
	return s.update(ctx, s.keys.Type(t.Name), mustJSON(t), modRev, fmt.Sprintf("resource type %q", t.Name))
}

// DeleteType removes a resource type that no resource uses.
func (s *Store) DeleteType(ctx context.Context, name string) error {
	rs, err := s.Resources(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if strings.EqualFold(r.Value.Type, name) {
			return fmt.Errorf("quorum: resource type %q is used by resource %q", name, r.Value.Name)
		}
	}
	return s.deleteKey(ctx, s.keys.Type(name), fmt.Sprintf("resource type %q", name))
}

// CreateGroup stores a new group; ErrExists if the name is taken.
func (s *Store) CreateGroup(ctx context.Context, g model.Group) error {
	if err := ValidateGroup(g); err != nil {
		return err
	}
	key := s.keys.Group(g.Name)
	resp, err := s.cli.Txn(ctx).If(absent(key)).Then(clientv3.OpPut(key, mustJSON(g))).Commit()
	if err != nil {
		return fmt.Errorf("quorum: creating group %q: %w", g.Name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: group %q", ErrExists, g.Name)
	}
	return nil
}

// Group reads a group.
func (s *Store) Group(ctx context.Context, name string) (Versioned[model.Group], error) {
	return getJSON[model.Group](ctx, s, s.keys.Group(name), fmt.Sprintf("group %q", name))
}

// Groups lists the groups by name.
func (s *Store) Groups(ctx context.Context) ([]Versioned[model.Group], error) {
	return listJSON[model.Group](ctx, s, s.keys.Groups())
}

// UpdateGroup replaces a group read at modRev; ErrConflict if it changed since.
func (s *Store) UpdateGroup(ctx context.Context, g model.Group, modRev int64) error {
	if err := ValidateGroup(g); err != nil {
		return err
	}
	return s.update(ctx, s.keys.Group(g.Name), mustJSON(g), modRev, fmt.Sprintf("group %q", g.Name))
}

// DeleteGroup removes an empty group.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	rs, err := s.Resources(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Value.Group == name {
			return fmt.Errorf("quorum: group %q still holds resource %q", name, r.Value.Name)
		}
	}
	return s.deleteKey(ctx, s.keys.Group(name), fmt.Sprintf("group %q", name))
}

// CreateResource stores a new resource, assigning a GUID when r.ID is empty.
// The name must be unique (case-insensitively) and the type and group must exist.
func (s *Store) CreateResource(ctx context.Context, r model.Resource) (model.Resource, error) {
	if r.ID == "" {
		r.ID = uuid.NewString()
	}
	if err := ValidateResource(r); err != nil {
		return r, err
	}
	key, nameKey := s.keys.Resource(r.ID), s.keys.ResourceName(r.Name)
	typeKey, groupKey := s.keys.Type(r.Type), s.keys.Group(r.Group)
	resp, err := s.cli.Txn(ctx).
		If(absent(key), absent(nameKey), present(typeKey), present(groupKey)).
		Then(clientv3.OpPut(key, mustJSON(r)), clientv3.OpPut(nameKey, r.ID)).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly()), clientv3.OpGet(nameKey, clientv3.WithCountOnly()),
			clientv3.OpGet(typeKey, clientv3.WithCountOnly()), clientv3.OpGet(groupKey, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return r, fmt.Errorf("quorum: creating resource %q: %w", r.Name, err)
	}
	if !resp.Succeeded {
		c := func(i int) int64 { return resp.Responses[i].GetResponseRange().Count }
		switch {
		case c(0) > 0:
			return r, fmt.Errorf("%w: resource id %s", ErrExists, r.ID)
		case c(1) > 0:
			return r, fmt.Errorf("%w: resource %q", ErrExists, r.Name)
		case c(2) == 0:
			return r, fmt.Errorf("%w: resource %q: resource type %q", ErrNotFound, r.Name, r.Type)
		default:
			return r, fmt.Errorf("%w: resource %q: group %q", ErrNotFound, r.Name, r.Group)
		}
	}
	return r, nil
}

// Resource reads a resource by id.
func (s *Store) Resource(ctx context.Context, id string) (Versioned[model.Resource], error) {
	return getJSON[model.Resource](ctx, s, s.keys.Resource(id), fmt.Sprintf("resource %s", id))
}

// ResourceByName reads a resource by its (case-insensitive) name.
func (s *Store) ResourceByName(ctx context.Context, name string) (Versioned[model.Resource], error) {
	resp, err := s.cli.Get(ctx, s.keys.ResourceName(name))
	if err != nil {
		return Versioned[model.Resource]{}, fmt.Errorf("quorum: reading resource %q: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return Versioned[model.Resource]{}, fmt.Errorf("%w: resource %q", ErrNotFound, name)
	}
	return s.Resource(ctx, string(resp.Kvs[0].Value))
}

// Resources lists every resource (ordered by id).
func (s *Store) Resources(ctx context.Context) ([]Versioned[model.Resource], error) {
	return listJSON[model.Resource](ctx, s, s.keys.Resources())
}

// UpdateResource replaces a resource read at modRev; ErrConflict if it changed
// since. A rename moves its entry in the unique name index in the same Txn.
func (s *Store) UpdateResource(ctx context.Context, r model.Resource, modRev int64) error {
	if err := ValidateResource(r); err != nil {
		return err
	}
	old, err := s.Resource(ctx, r.ID)
	if err != nil {
		return err
	}
	if old.ModRevision != modRev {
		return fmt.Errorf("%w: resource %q", ErrConflict, r.Name)
	}
	key := s.keys.Resource(r.ID)
	cmps := []clientv3.Cmp{unchanged(key, modRev), present(s.keys.Type(r.Type)), present(s.keys.Group(r.Group))}
	ops := []clientv3.Op{clientv3.OpPut(key, mustJSON(r))}
	if oldName, newName := s.keys.ResourceName(old.Value.Name), s.keys.ResourceName(r.Name); oldName != newName {
		cmps = append(cmps, absent(newName))
		ops = append(ops, clientv3.OpDelete(oldName), clientv3.OpPut(newName, r.ID))
	} else if old.Value.Name != r.Name {
		ops = append(ops, clientv3.OpPut(newName, r.ID)) // case-only rename
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("quorum: updating resource %q: %w", r.Name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: resource %q (changed concurrently, its name is taken, or its type or group is gone)", ErrConflict, r.Name)
	}
	return nil
}

// DeleteResource removes a resource, its name, its published state, all of
// its checkpoint data and its checkpoint index entries in one Txn (a deleted
// resource's checkpoints go with it; the node-local registry is left alone).
func (s *Store) DeleteResource(ctx context.Context, id string) error {
	old, err := s.Resource(ctx, id)
	if err != nil {
		return err
	}
	key := s.keys.Resource(id)
	cp := s.keys.ResourceCheckpoints(id)
	ops := []clientv3.Op{
		clientv3.OpDelete(key),
		clientv3.OpDelete(s.keys.ResourceName(old.Value.Name)),
		clientv3.OpDelete(s.keys.ResourceState(id)),
		clientv3.OpDelete(cp, clientv3.WithPrefix()),
	}
	ops = append(ops, s.checkpointIndexDeletes(old.Value)...) // cpindex.go
	resp, err := s.cli.Txn(ctx).If(unchanged(key, old.ModRevision)).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("quorum: deleting resource %q: %w", old.Value.Name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: resource %q", ErrConflict, old.Value.Name)
	}
	return nil
}

func (s *Store) update(ctx context.Context, key, val string, modRev int64, what string) error {
	resp, err := s.cli.Txn(ctx).If(unchanged(key, modRev)).Then(clientv3.OpPut(key, val)).Else(clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
	if err != nil {
		return fmt.Errorf("quorum: updating %s: %w", what, err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, what)
		}
		return fmt.Errorf("%w: %s", ErrConflict, what)
	}
	return nil
}

func (s *Store) deleteKey(ctx context.Context, key, what string) error {
	resp, err := s.cli.Delete(ctx, key)
	if err != nil {
		return fmt.Errorf("quorum: deleting %s: %w", what, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return nil
}

// DBEvent is one change to the cluster database.
type DBEvent struct {
	Kind     string // "type", "group", "resource", or "restore" (the restore marker)
	Name     string // type or group name, or resource id
	Deleted  bool
	Revision int64
	// Resync: the watch was interrupted and changes may have been missed;
	// the other fields are empty. Re-read what you keep.
	Resync bool
}

// WatchDB reports changes to types, groups and resources after the current
// revision. It follows the package's watch contract (see Store.Watch): the
// channel closes only when ctx ends, and after an interruption a Resync
// event comes before the watch resumes.
func (s *Store) WatchDB(ctx context.Context) <-chan DBEvent {
	out := make(chan DBEvent, 16)
	kinds := map[model.RecordKind]string{model.RecordType: "type", model.RecordGroup: "group", model.RecordResource: "resource"}
	send := func(ev DBEvent) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	rev := s.currentRevision(ctx)
	done := make(chan struct{}, 2)
	for _, w := range []struct {
		prefix string
		event  func(key string) (kind, name string, ok bool)
	}{
		{s.keys.DB(), func(k string) (string, string, bool) {
			ref := s.keys.recordOf(k)
			return kinds[ref.Kind], ref.Name, ref.Kind != model.RecordNone
		}},
		{s.keys.Meta("restore"), func(string) (string, string, bool) { return "restore", "", true }},
	} {
		go func() {
			defer func() { done <- struct{}{} }()
			s.watchPrefix(ctx, w.prefix, rev, func(ev *clientv3.Event) bool {
				kind, name, ok := w.event(string(ev.Kv.Key))
				if !ok {
					return true
				}
				return send(DBEvent{Kind: kind, Name: name, Deleted: ev.Type == clientv3.EventTypeDelete, Revision: ev.Kv.ModRevision})
			}, func() bool { return send(DBEvent{Resync: true}) })
		}()
	}
	go func() {
		<-done
		<-done
		close(out)
	}()
	return out
}

// PutTypeSchema publishes what a type says of its private properties (the
// node that loaded it writes it; the CLI checks values against it).
func (s *Store) PutTypeSchema(ctx context.Context, sc model.TypeSchema) error {
	if err := model.ValidName(sc.Type); err != nil {
		return fmt.Errorf("quorum: type schema: %w", err)
	}
	if _, err := s.cli.Put(ctx, s.keys.Schema(sc.Type), mustJSON(sc)); err != nil {
		return fmt.Errorf("quorum: publishing the properties of type %q: %w", sc.Type, err)
	}
	return nil
}

// TypeSchema reads what was published about a type's private properties;
// ErrNotFound when no node has published it (the type does not describe
// its properties, or no node has loaded it yet).
func (s *Store) TypeSchema(ctx context.Context, typ string) (model.TypeSchema, error) {
	v, err := getJSON[model.TypeSchema](ctx, s, s.keys.Schema(typ), fmt.Sprintf("property description of type %q", typ))
	return v.Value, err
}
