package quorum_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
)

func newStore(t *testing.T) *quorum.Store {
	t.Helper()
	_, cli := quorumtest.Start(t)
	s, err := quorum.NewStore(cli, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func seedDB(t *testing.T, s *quorum.Store) model.Resource {
	t.Helper()
	ctx := ctxT(t)
	if err := s.CreateType(ctx, model.ResourceType{Name: "app", Kind: model.KindPlugin, Path: "bin/app", Defaults: model.DefaultProperties()}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, model.DefaultGroup("data")); err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateResource(ctx, model.Resource{Name: "Network Name DATA", Type: "app", Group: "data", Properties: model.DefaultProperties()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDatabaseCRUD(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	r := seedDB(t, s)
	if len(r.ID) != 36 {
		t.Fatalf("resource id %q is not a GUID", r.ID)
	}
	got, err := s.ResourceByName(ctx, "network name data")
	if err != nil {
		t.Fatal(err)
	}
	if got.Value.ID != r.ID || got.Value.Name != "Network Name DATA" {
		t.Fatalf("by name: got %+v", got.Value)
	}
	// Names are unique case-insensitively.
	_, err = s.CreateResource(ctx, model.Resource{Name: "NETWORK NAME DATA", Type: "app", Group: "data"})
	if !errors.Is(err, quorum.ErrExists) {
		t.Fatalf("duplicate name: got %v, want ErrExists", err)
	}
	// References must exist.
	_, err = s.CreateResource(ctx, model.Resource{Name: "x", Type: "nope", Group: "data"})
	if !errors.Is(err, quorum.ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown type: got %v", err)
	}
	_, err = s.CreateResource(ctx, model.Resource{Name: "x", Type: "app", Group: "nope"})
	if !errors.Is(err, quorum.ErrNotFound) || !strings.Contains(err.Error(), `group "nope"`) {
		t.Fatalf("unknown group: got %v", err)
	}
	// Optimistic concurrency: an update from a stale read fails.
	upd := got.Value
	upd.Properties.RestartThreshold = 7
	if err := s.UpdateResource(ctx, upd, got.ModRevision); err != nil {
		t.Fatal(err)
	}
	upd.Properties.RestartThreshold = 9
	if err := s.UpdateResource(ctx, upd, got.ModRevision); !errors.Is(err, quorum.ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	// Rename moves the name index.
	cur, _ := s.Resource(ctx, r.ID)
	cur.Value.Name = "Renamed"
	if err := s.UpdateResource(ctx, cur.Value, cur.ModRevision); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResourceByName(ctx, "Network Name DATA"); !errors.Is(err, quorum.ErrNotFound) {
		t.Fatalf("old name still resolves: %v", err)
	}
	if _, err := s.CreateResource(ctx, model.Resource{Name: "Network Name DATA", Type: "app", Group: "data"}); err != nil {
		t.Fatalf("old name should be free: %v", err)
	}
	// Types and groups in use cannot be deleted.
	if err := s.DeleteType(ctx, "app"); err == nil {
		t.Fatal("deleting a used type succeeded")
	}
	if err := s.DeleteGroup(ctx, "data"); err == nil {
		t.Fatal("deleting a non-empty group succeeded")
	}
	g, _ := s.Group(ctx, "data")
	g.Value.PreferredOwners = []string{"n1", "n2"}
	if err := s.UpdateGroup(ctx, g.Value, g.ModRevision); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateGroup(ctx, g.Value, g.ModRevision); !errors.Is(err, quorum.ErrConflict) {
		t.Fatalf("stale group update: %v", err)
	}
}

func TestDeleteResourceDeletesItsCheckpointKeys(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	r := seedDB(t, s)
	cli := s.RawClient()
	k := s.Keys()
	if _, err := cli.Put(ctx, k.Checkpoint(r.ID, model.RegistryCheckpoint, 1), "{}"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, k.CheckpointData(r.ID, model.RegistryCheckpoint, 1)+"0000000000000001/00000000", "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteResource(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, k.ResourceCheckpoints(r.ID), clientv3WithPrefix()...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Fatalf("%d checkpoint keys survived the resource", resp.Count)
	}
	if _, err := s.ResourceByName(ctx, r.Name); !errors.Is(err, quorum.ErrNotFound) {
		t.Fatalf("name still resolves: %v", err)
	}
}

func TestWatchDB(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	ch := s.WatchDB(ctx)
	r := seedDB(t, s)
	want := []quorum.DBEvent{{Kind: "type", Name: "app"}, {Kind: "group", Name: "data"}, {Kind: "resource", Name: r.ID}}
	for _, w := range want {
		select {
		case ev := <-ch:
			if ev.Kind != w.Kind || ev.Name != w.Name || ev.Deleted {
				t.Fatalf("got %+v, want %+v", ev, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event for %+v", w)
		}
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch channel did not close after cancel")
		}
	}
}

func TestBootstrapCreatesThenReportsDifferences(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	spec := quorum.Spec{
		Types:  []model.ResourceType{{Name: "app", Kind: model.KindPlugin, Path: "bin/app", Defaults: model.DefaultProperties()}},
		Groups: []model.Group{model.DefaultGroup("data")},
		Resources: []model.Resource{
			{Name: "Disk P", Type: "app", Group: "data", Properties: model.DefaultProperties()},
			{Name: "Network Name DATA", Type: "app", Group: "data", Properties: model.DefaultProperties(),
				Dependencies: [][]string{{"Disk P"}}, RegistryCheckpoints: []string{`SOFTWARE\Microsoft\onyone`}},
		},
	}
	res, err := s.Bootstrap(ctx, "n1", spec)
	if err != nil || !res.Created {
		t.Fatalf("first bootstrap: %+v %v", res, err)
	}
	// Same spec again: nothing to report.
	res, err = s.Bootstrap(ctx, "n2", spec)
	if err != nil || res.Created || len(res.Differences) != 0 {
		t.Fatalf("second bootstrap: %+v %v", res, err)
	}
	// A changed spec is reported, not applied.
	spec.Resources[1].Properties.RestartThreshold = 5
	spec.Resources = append(spec.Resources, model.Resource{Name: "Extra", Type: "app", Group: "data"})
	res, err = s.Bootstrap(ctx, "n1", spec)
	if err != nil || res.Created {
		t.Fatalf("third bootstrap: %+v %v", res, err)
	}
	joined := strings.Join(res.Differences, "\n")
	for _, want := range []string{
		`resource "Network Name DATA": properties.restart_threshold: cluster.toml 5, database 3`,
		`resource "Extra": in cluster.toml, not in the cluster database`,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("differences lack %q:\n%s", want, joined)
		}
	}
	db, _ := s.ResourceByName(ctx, "Network Name DATA")
	if db.Value.Properties.RestartThreshold != 3 {
		t.Fatal("bootstrap overwrote an existing database")
	}
}

func TestBootstrapLargeSpecInBatches(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	spec := quorum.Spec{
		Types:  []model.ResourceType{{Name: "app", Kind: model.KindWASM, Path: "x.wasm"}},
		Groups: []model.Group{model.DefaultGroup("g")},
	}
	for i := range 150 {
		spec.Resources = append(spec.Resources, model.Resource{Name: "r" + string(rune('A'+i%26)) + strings.Repeat("x", i/26), Type: "app", Group: "g", Properties: model.DefaultProperties()})
	}
	if res, err := s.Bootstrap(ctx, "n1", spec); err != nil || !res.Created {
		t.Fatalf("%+v %v", res, err)
	}
	rs, err := s.Resources(ctx)
	if err != nil || len(rs) != 150 {
		t.Fatalf("got %d resources, %v", len(rs), err)
	}
}
