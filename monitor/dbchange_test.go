package monitor

import (
	"fmt"
	"slices"
	"testing"

	"github.com/resmon/resmon/model"
)

// TestDatabaseChanges: a database change names the groups whose record or
// resources changed; a change to the resource types or to the operations
// state (maintenance, pauses) may change every group's facts.
func TestDatabaseChanges(t *testing.T) {
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
	tests := []struct {
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			every, groups := databaseChanges(base, tt.after)
			if every != tt.every || !slices.Equal(groups, tt.groups) {
				t.Fatalf("databaseChanges = %v, %q; want %v, %q", every, groups, tt.every, tt.groups)
			}
		})
	}
}

// TestDatabaseChangeWakesOnlyItsGroups: creating groups, or changing one,
// makes no other group's executor read its view. Waking every executor at
// each change made creating G groups on N nodes cost N × G² view reads
// (the size curve's 32 nodes never finished creating their groups).
func TestDatabaseChangeWakesOnlyItsGroups(t *testing.T) {
	c := newFakeCluster()
	// The resyncs of startResync wake "mine" and "free", never "theirs",
	// which n2 owns: only a database change can make n1 read its view.
	startResync(t, c, c)
	group := func(name, pref string, prio int) model.Group {
		g := model.DefaultGroup(name)
		g.PreferredOwners = []string{pref}
		g.Priority = prio
		return g
	}
	groups := []model.Group{group("mine", "n1", 0), group("theirs", "n2", 0), group("free", "n3", 0)}
	base, _ := c.reads()
	for i := range 5 {
		name := fmt.Sprintf("new%d", i)
		groups = append(groups, group(name, "n3", 0))
		c.setDB(model.Database{Groups: slices.Clone(groups)})
		waitFake(t, name+"'s view read", func() bool { views, _ := c.reads(); return views[name] > 0 })
	}
	groups[1].Priority = 5
	c.setDB(model.Database{Groups: groups})
	waitFake(t, "theirs read after its record changed", func() bool { views, _ := c.reads(); return views["theirs"] > base["theirs"] })
	if views, _ := c.reads(); views["theirs"] != base["theirs"]+1 {
		t.Fatalf("theirs was read %d times for five groups created and one change of its record", views["theirs"]-base["theirs"])
	}
}
