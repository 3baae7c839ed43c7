package monitor

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
)

// databaseChangeCase is one change of a cluster's database, and the
// groups whose executors it should wake.
type databaseChangeCase struct {
	name          string
	before, after *clusterView
	every         bool
	groups        []string
}

func databaseChangeCases() []databaseChangeCase {
	group := func(name string, prio int) model.Group {
		g := model.DefaultGroup(name)
		g.Priority = prio
		return g
	}
	res := func(group, name string, props ...string) model.Resource {
		r := model.Resource{ID: group + "/" + name, Name: name, Type: "T", Group: group, Private: map[string]any{}}
		for _, p := range props {
			r.Private[p] = true
		}
		return r
	}
	view := func(groups []model.Group, resources []model.Resource, mut ...func(*clusterView)) *clusterView {
		v := &clusterView{types: map[string]model.ResourceType{"T": {Name: "T", Kind: model.KindWASM}},
			groups: map[string]model.Group{}, resources: map[string][]model.Resource{}}
		for _, g := range groups {
			v.groups[g.Name] = g
		}
		for _, r := range resources {
			v.resources[r.Group] = append(v.resources[r.Group], r)
		}
		for _, f := range mut {
			f(v)
		}
		return v
	}
	base := view([]model.Group{group("a", 0), group("b", 0), group("c", 0)},
		[]model.Resource{res("a", "r1"), res("b", "r1"), res("b", "r2")})
	cases := []struct {
		name   string
		after  *clusterView
		every  bool
		groups []string
	}{
		{"nothing changed", view([]model.Group{group("a", 0), group("b", 0), group("c", 0)},
			[]model.Resource{res("a", "r1"), res("b", "r1"), res("b", "r2")}), false, nil},
		{"a group's record", view([]model.Group{group("a", 0), group("b", 7), group("c", 0)},
			[]model.Resource{res("a", "r1"), res("b", "r1"), res("b", "r2")}), false, []string{"b"}},
		{"a resource's private properties", view([]model.Group{group("a", 0), group("b", 0), group("c", 0)},
			[]model.Resource{res("a", "r1", "x"), res("b", "r1"), res("b", "r2")}), false, []string{"a"}},
		{"a resource added to a group that had none", view([]model.Group{group("a", 0), group("b", 0), group("c", 0)},
			[]model.Resource{res("a", "r1"), res("b", "r1"), res("b", "r2"), res("c", "r1")}), false, []string{"c"}},
		{"a resource deleted", view([]model.Group{group("a", 0), group("b", 0), group("c", 0)},
			[]model.Resource{res("a", "r1"), res("b", "r2")}), false, []string{"b"}},
		{"a resource moved between groups", view([]model.Group{group("a", 0), group("b", 0), group("c", 0)},
			[]model.Resource{res("a", "r1"), res("b", "r1"), res("c", "r2")}), false, []string{"b", "c"}},
		{"a new group: its executor starts afresh", view([]model.Group{group("a", 0), group("b", 0), group("c", 0), group("d", 0)},
			[]model.Resource{res("a", "r1"), res("b", "r1"), res("b", "r2"), res("d", "r1")}), false, nil},
		{"a group deleted: its executor stops", view([]model.Group{group("a", 0), group("b", 0)},
			[]model.Resource{res("a", "r1"), res("b", "r1"), res("b", "r2")}), false, nil},
		{"a resource type", view([]model.Group{group("a", 0), group("b", 0), group("c", 0)},
			[]model.Resource{res("a", "r1"), res("b", "r1"), res("b", "r2")}, func(v *clusterView) {
				v.types["T"] = model.ResourceType{Name: "T", Kind: model.KindPlugin}
			}), true, nil},
		{"a node paused", view([]model.Group{group("a", 0), group("b", 0), group("c", 0)},
			[]model.Resource{res("a", "r1"), res("b", "r1"), res("b", "r2")}, func(v *clusterView) {
				v.ops.Paused = map[string]model.NodePause{"n1": {}}
			}), true, nil},
	}
	var out []databaseChangeCase
	for _, c := range cases {
		out = append(out, databaseChangeCase{name: c.name, before: base, after: c.after, every: c.every, groups: c.groups})
	}
	return out
}

// TestDatabaseChanges: a database change names the groups whose record or
// resources changed; a change to the resource types or to the operations
// state (maintenance, pauses) may change every group's facts.
func TestDatabaseChanges(t *testing.T) {
	for _, tt := range databaseChangeCases() {
		t.Run(tt.name, func(t *testing.T) {
			every, groups := databaseChanges(tt.before, tt.after)
			if every != tt.every || !slices.Equal(groups, tt.groups) {
				t.Fatalf("databaseChanges = %v, %q; want %v, %q", every, groups, tt.every, tt.groups)
			}
		})
	}
}

// TestApplyRecords: applying the records that changed between two
// databases gives the view a read of the whole second database gives, and
// wakes the groups databaseChanges names.
func TestApplyRecords(t *testing.T) {
	for _, tt := range databaseChangeCases() {
		if !reflect.DeepEqual(tt.after.ops, tt.before.ops) {
			continue // not a record: the operations state is read whole
		}
		t.Run(tt.name, func(t *testing.T) {
			refs, recs := recordsBetween(tt.before, tt.after)
			got, every, groups := applyRecords(tt.before, refs, recs)
			if !reflect.DeepEqual(got.types, tt.after.types) || !reflect.DeepEqual(got.groups, tt.after.groups) || !reflect.DeepEqual(got.resources, tt.after.resources) {
				t.Fatalf("applying %v:\n got %+v\nwant %+v", refs, got, tt.after)
			}
			if every != tt.every || !slices.Equal(groups, tt.groups) {
				t.Fatalf("applyRecords wakes %v, %q; want %v, %q", every, groups, tt.every, tt.groups)
			}
		})
	}
}

// recordsBetween names the records that differ between two views and
// reads them from after, as a watch and a RecordReader would.
func recordsBetween(before, after *clusterView) ([]model.RecordRef, model.Records) {
	var refs []model.RecordRef
	recs := model.Records{Types: map[string]model.ResourceType{}, Groups: map[string]model.Group{}, Resources: map[string]model.Resource{}}
	for _, name := range slices.Sorted(maps.Keys(mergeKeys(before.types, after.types))) {
		if !reflect.DeepEqual(before.types[name], after.types[name]) {
			refs = append(refs, model.RecordRef{Kind: model.RecordType, Name: name})
			if t, ok := after.types[name]; ok {
				recs.Types[name] = t
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(mergeKeys(before.groups, after.groups))) {
		if !reflect.DeepEqual(before.groups[name], after.groups[name]) {
			refs = append(refs, model.RecordRef{Kind: model.RecordGroup, Name: name})
			if g, ok := after.groups[name]; ok {
				recs.Groups[name] = g
			}
		}
	}
	byID := func(v *clusterView) map[string]model.Resource {
		m := map[string]model.Resource{}
		for _, rs := range v.resources {
			for _, r := range rs {
				m[r.ID] = r
			}
		}
		return m
	}
	b, a := byID(before), byID(after)
	for _, id := range slices.Sorted(maps.Keys(mergeKeys(b, a))) {
		if !reflect.DeepEqual(b[id], a[id]) {
			refs = append(refs, model.RecordRef{Kind: model.RecordResource, Name: id})
			if r, ok := a[id]; ok {
				recs.Resources[id] = r
			}
		}
	}
	return refs, recs
}

func mergeKeys[V any](a, b map[string]V) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// TestDatabaseChangeWakesOnlyItsGroups: creating groups, or changing one,
// makes no other group's executor read its view. Waking every executor at
// each change made creating G groups on N nodes cost N × G² view reads
// (the size curve's 32 nodes never finished creating their groups). A
// change that names its record is read alone, not with the whole database.
func TestDatabaseChangeWakesOnlyItsGroups(t *testing.T) {
	for _, named := range []bool{false, true} {
		t.Run(fmt.Sprintf("record named=%v", named), func(t *testing.T) {
			c := newFakeCluster()
			var cluster Cluster = c
			if !named {
				// No RecordReader (an OwnerLister still, so that resyncs
				// leave "theirs" alone): every change reads the database.
				cluster = struct {
					Cluster
					OwnerLister
				}{c, c}
			}
			// The resyncs of startResync wake "mine" and "free", never
			// "theirs", which n2 owns: only a database change can make n1
			// read its view.
			startResync(t, c, cluster, 5*time.Millisecond)
			group := func(name, pref string, prio int) model.Group {
				g := model.DefaultGroup(name)
				g.PreferredOwners = []string{pref}
				g.Priority = prio
				return g
			}
			groups := []model.Group{group("mine", "n1", 0), group("theirs", "n2", 0), group("free", "n3", 0)}
			base, _ := c.reads()
			whole, _ := c.dbReadCounts()
			put := func(g model.Group) {
				if named {
					c.putGroup(g)
					return
				}
				i := slices.IndexFunc(groups, func(o model.Group) bool { return o.Name == g.Name })
				if i < 0 {
					groups = append(groups, g)
				} else {
					groups[i] = g
				}
				c.setDB(model.Database{Groups: slices.Clone(groups)})
			}
			for i := range 5 {
				name := fmt.Sprintf("new%d", i)
				put(group(name, "n3", 0))
				waitFake(t, name+"'s view read", func() bool { views, _ := c.reads(); return views[name] > 0 })
			}
			put(group("theirs", "n2", 5))
			waitFake(t, "theirs read after its record changed", func() bool { views, _ := c.reads(); return views["theirs"] > base["theirs"] })
			if views, _ := c.reads(); views["theirs"] != base["theirs"]+1 {
				t.Fatalf("theirs was read %d times for five groups created and one change of its record", views["theirs"]-base["theirs"])
			}
			w, r := c.dbReadCounts()
			switch {
			case named && (w != whole || r == 0):
				t.Fatalf("six named records: the whole database read %d times, records %d times; want 0 and more", w-whole, r)
			case !named && (w == whole || r != 0):
				t.Fatalf("six changes without a RecordReader: the whole database read %d times, records %d times; want more and 0", w-whole, r)
			}
		})
	}
}

// TestFailedRecordReadIsReadAgainAtResync: when the record a change names
// cannot be read, the change is not lost: the next resync reads the whole
// database.
func TestFailedRecordReadIsReadAgainAtResync(t *testing.T) {
	c := newFakeCluster()
	m := startResync(t, c, c, 5*time.Millisecond)
	c.mu.Lock()
	c.recordsErr = errors.New("etcd unreachable")
	c.mu.Unlock()
	g := model.DefaultGroup("theirs")
	g.PreferredOwners, g.Priority = []string{"n2"}, 7
	whole, _ := c.dbReadCounts()
	c.putGroup(g)
	waitFake(t, "the failed record read", func() bool { _, r := c.dbReadCounts(); return r > 0 })
	waitFake(t, "the change read whole at a resync", func() bool { return m.view.Load().groups["theirs"].Priority == 7 })
	if w, _ := c.dbReadCounts(); w == whole {
		t.Fatal("the view changed without a whole read")
	}
}
