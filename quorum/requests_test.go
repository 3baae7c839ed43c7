package quorum_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
)

func TestFileValidates(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	r := seedDB(t, s)
	if err := s.CreateGroup(ctx, model.DefaultGroup("other")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		req  model.Request
		want error
	}{
		{"unknown action", model.Request{Group: "data", Action: "reboot"}, model.ErrBadRequest},
		{"fail without a resource", model.Request{Group: "data", Action: model.RequestFail}, model.ErrBadRequest},
		{"node without a move", model.Request{Group: "data", Action: model.RequestOnline, Node: "n2"}, model.ErrBadRequest},
		{"no such group", model.Request{Group: "nope", Action: model.RequestOnline}, quorum.ErrNotFound},
		{"no such resource", model.Request{Resource: "00000000-0000-0000-0000-000000000000", Action: model.RequestOnline}, quorum.ErrNotFound},
		{"a resource of another group", model.Request{Group: "other", Resource: r.ID, Action: model.RequestOnline}, model.ErrBadRequest},
	} {
		if _, err := s.File(ctx, c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	req, err := s.File(ctx, model.Request{Resource: r.ID, Action: model.RequestFail, Operator: "ann"})
	if err != nil || req.Group != "data" || req.ID == "" || req.Revision == 0 {
		t.Fatalf("resource request: %+v, %v", req, err)
	}
}

// TestRequestReplyFencedAndRevisionChecked: an owner's answer deletes the
// request and writes the reply in its fenced Txn; an answer to a request
// that changed since it was read leaves the request pending (a request is
// never deleted unread); a stale owner writes nothing.
func TestRequestReplyFencedAndRevisionChecked(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	seedDB(t, s)
	m, err := s.Join(ctx, quorum.MemberConfig{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave(context.Background())
	tenure, err := m.Acquire(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.File(ctx, model.Request{Group: "data", Action: model.RequestOffline})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.File(ctx, model.Request{Group: "data", Action: model.RequestOnline})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.GroupView(ctx, "data")
	if err != nil || len(v.Requests) != 2 || v.Requests[0].ID != first.ID || v.Requests[1].ID != second.ID {
		t.Fatalf("view: %+v, %v (want both requests, oldest first)", v.Requests, err)
	}
	answer := func(r model.Request) model.Answer {
		return model.Answer{Request: r, Reply: model.Reply{Request: r.ID, Group: "data", Action: r.Action, Code: model.ResultDone, Node: "n1", Token: tenure.Fence().Token, Time: time.Now()}}
	}
	// The second request is re-written after the owner read it.
	if _, err := s.RawClient().Put(ctx, s.Keys().Request("data", second.ID), `{"id":"`+second.ID+`","group":"data","action":"offline"}`); err != nil {
		t.Fatal(err)
	}
	st := model.GroupStatus{Group: "data", State: "Offline", Owner: "n1", Token: tenure.Fence().Token}
	if err := tenure.Publish(ctx, model.Publication{Group: &st, Answers: []model.Answer{answer(v.Requests[0]), answer(v.Requests[1])}}); err != nil {
		t.Fatal(err)
	}
	v, _ = s.GroupView(ctx, "data")
	if len(v.Requests) != 1 || v.Requests[0].ID != second.ID || v.Requests[0].Action != model.RequestOffline {
		t.Fatalf("pending after the answer: %+v (want the re-written request kept)", v.Requests)
	}
	if got, _ := s.GroupStatus(ctx, "data"); got.State != "Offline" {
		t.Fatalf("the status was not written with the answer: %+v", got)
	}
	rep, err := s.AwaitReply(ctx, first)
	if err != nil || rep.Code != model.ResultDone || rep.Node != "n1" {
		t.Fatalf("reply: %+v, %v", rep, err)
	}
	if pending, _ := s.Pending(ctx, first); pending {
		t.Fatal("the answered request is still pending")
	}
	// AwaitReply deleted the reply it read; a second wait times out.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s.AwaitReply(short, first); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second wait: %v", err)
	}

	// A stale tenure writes nothing.
	if err := tenure.HandOff(ctx, model.Publication{Group: &st}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tenure.Done():
	default:
		t.Fatal("the tenure is not done after its handoff")
	}
	v, _ = s.GroupView(ctx, "data")
	if err := tenure.Publish(ctx, model.Publication{Answers: []model.Answer{answer(v.Requests[0])}}); !errors.Is(err, model.ErrFenced) {
		t.Fatalf("stale publish: %v, want ErrFenced", err)
	}
	if pending, _ := s.Pending(ctx, second); !pending {
		t.Fatal("a stale owner deleted a request")
	}
	if ok, err := s.Withdraw(ctx, second); !ok || err != nil {
		t.Fatalf("withdraw: %v %v", ok, err)
	}
}

// TestWatchReportsChangesAndResumes: Store.Watch reports database, node
// and group changes, and closes only when its context ends.
func TestWatchReportsChangesAndResumes(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	ch := s.Watch(ctx)
	seen := map[model.ChangeKind]string{}
	expect := func(kind model.ChangeKind, name string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			if n, ok := seen[kind]; ok && n == name {
				return
			}
			select {
			case c, ok := <-ch:
				if !ok {
					t.Fatal("the watch closed early")
				}
				seen[c.Kind] = c.Name
			case <-deadline:
				t.Fatalf("no change %v %q; saw %v", kind, name, seen)
			}
		}
	}
	seedDB(t, s)
	expect(model.ChangeDatabase, "")
	m, err := s.Join(ctxT(t), quorum.MemberConfig{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave(context.Background())
	expect(model.ChangeNodes, "")
	if _, err := s.File(ctxT(t), model.Request{Group: "data", Action: model.RequestOnline}); err != nil {
		t.Fatal(err)
	}
	expect(model.ChangeGroup, "data")
	cancel()
	for range ch {
	}
}

// TestWatchSkipsTheCheckpointIndex: writes to the checkpoint index, which
// lives under the database prefix but is not part of the database, are not
// reported as database changes (the first save of each checkpoint writes
// one, and every node would read the whole database each time).
func TestWatchSkipsTheCheckpointIndex(t *testing.T) {
	_, cli := quorumtest.Start(t)
	s, err := quorum.NewStore(cli, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	ch := s.Watch(ctx)
	k := s.Keys()
	for _, key := range []string{k.CheckpointPath(model.RegistryCheckpoint, `SOFTWARE\x`), k.CheckpointNumber("r1", model.RegistryCheckpoint, 1), k.CheckpointSaved("r1", model.RegistryCheckpoint, 1)} {
		if _, err := cli.Put(ctx, key, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateGroup(ctx, model.DefaultGroup("data")); err != nil {
		t.Fatal(err)
	}
	// The group's change comes after the index writes: had any been
	// reported, a database change would come before it or right after.
	n := 0
	for quiet := time.After(10 * time.Second); ; {
		select {
		case c := <-ch:
			if c.Kind != model.ChangeDatabase {
				continue
			}
			if n++; n == 1 {
				quiet = time.After(300 * time.Millisecond)
			}
		case <-quiet:
			if n != 1 {
				t.Fatalf("%d database changes for one group written after three index keys, want 1", n)
			}
			return
		}
	}
}

// TestWatchNamesRecordsAndRecordsReadsThem: a database change names its
// record (a type or group by name, a resource by id; the name index beside
// a resource is not reported), and Records reads exactly the records named,
// leaving out those deleted. Anything else under the database's watch (the
// operations state) names no record: the watcher reads the whole database.
func TestWatchNamesRecordsAndRecordsReadsThem(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	ch := s.Watch(ctx)
	next := func() model.Change {
		t.Helper()
		for deadline := time.After(10 * time.Second); ; {
			select {
			case c := <-ch:
				if c.Kind == model.ChangeDatabase {
					return c
				}
			case <-deadline:
				t.Fatal("no database change")
			}
		}
	}
	r := seedDB(t, s)
	var refs []model.RecordRef
	for range 3 {
		refs = append(refs, next().Record)
	}
	want := []model.RecordRef{{Kind: model.RecordType, Name: "app"}, {Kind: model.RecordGroup, Name: "data"}, {Kind: model.RecordResource, Name: r.ID}}
	if !slices.Equal(refs, want) {
		t.Fatalf("changes named %+v, want %+v", refs, want)
	}
	recs, err := s.Records(ctx, append(refs, model.RecordRef{Kind: model.RecordGroup, Name: "nosuch"}))
	if err != nil {
		t.Fatal(err)
	}
	if recs.Types["app"].Path != "bin/app" || recs.Groups["data"].Name != "data" || recs.Resources[r.ID].Name != r.Name ||
		len(recs.Types)+len(recs.Groups)+len(recs.Resources) != 3 || recs.Revision == 0 {
		t.Fatalf("records %+v", recs)
	}

	if err := s.DeleteResource(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if c := next(); c.Record != want[2] {
		t.Fatalf("the deletion named %+v, want %+v", c.Record, want[2])
	}
	if recs, err := s.Records(ctx, want[2:]); err != nil || len(recs.Resources) != 0 {
		t.Fatalf("a deleted resource read: %+v, %v", recs, err)
	}
	if _, err := s.SetMaintenance(ctx, quorum.ScopeCluster, "", true, model.Mark{}); err != nil {
		t.Fatal(err)
	}
	if c := next(); c.Record != (model.RecordRef{}) {
		t.Fatalf("the operations state named a record: %+v", c.Record)
	}

	for _, bad := range [][]model.RecordRef{{{Kind: model.RecordNone, Name: "x"}}, {{Kind: model.RecordGroup, Name: ""}}, {{Kind: model.RecordGroup, Name: "a/b"}}} {
		if _, err := s.Records(ctx, bad); !errors.Is(err, quorum.ErrBadRecordRef) {
			t.Errorf("Records(%+v): %v, want ErrBadRecordRef", bad, err)
		}
	}
	if _, err := s.Records(ctx, make([]model.RecordRef, quorum.MaxRecords+1)); !errors.Is(err, quorum.ErrTooManyRecords) {
		t.Errorf("Records of %d: %v, want ErrTooManyRecords", quorum.MaxRecords+1, err)
	}
}

// TestWatchNamesWhoTookAGroupAndGroupViewsReadsThem: an ownership taken is
// reported with the node that took it (a release with nobody), and
// GroupViews reads several groups' views as GroupView reads each.
func TestWatchNamesWhoTookAGroupAndGroupViewsReadsThem(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	seedDB(t, s)
	if err := s.CreateGroup(ctx, model.DefaultGroup("other")); err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx)
	m, err := s.Join(ctx, quorum.MemberConfig{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave(context.Background())
	next := func(what string) model.Change {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case c := <-ch:
				if c.Kind == model.ChangeGroup && c.Name == "data" {
					return c
				}
			case <-deadline:
				t.Fatalf("no change of group data: %s", what)
			}
		}
	}
	tenure, err := m.Acquire(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	if c := next("taken"); c.TakenBy != "n1" {
		t.Fatalf("take reported as %+v, want TakenBy n1", c)
	}
	if err := tenure.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if c := next("released"); c.TakenBy != "" {
		t.Fatalf("release reported as %+v, want no TakenBy", c)
	}

	if _, err := m.Acquire(ctx, "data"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.File(ctx, model.Request{Group: "other", Action: model.RequestOnline}); err != nil {
		t.Fatal(err)
	}
	views, err := s.GroupViews(ctx, []string{"other", "data"})
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range []string{"other", "data"} {
		one, err := s.GroupView(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		views[i].Revision, one.Revision = 0, 0
		if !reflect.DeepEqual(views[i], one) {
			t.Errorf("GroupViews read %s as %+v, GroupView as %+v", g, views[i], one)
		}
	}
	if !views[1].Owned || views[1].Ownership.Node != "n1" || len(views[0].Requests) != 1 {
		t.Errorf("views: %+v", views)
	}
	if _, err := s.GroupViews(ctx, make([]string, quorum.MaxGroupViews+1)); !errors.Is(err, quorum.ErrTooManyGroups) {
		t.Errorf("%d groups at once: %v, want ErrTooManyGroups", quorum.MaxGroupViews+1, err)
	}
}
