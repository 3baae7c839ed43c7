package monitor

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
)

var _ OwnerLister = (*fakeCluster)(nil)

// startResync runs n1 with a short Resync against a cluster of three groups:
// "mine" (n1 takes it), "theirs" (owned by n2) and "free" (waiting for n3,
// so nobody owns it). n2 and n3 are up but run no monitor: nothing changes
// after n1 took "mine", and only resyncs wake the executors. cluster is
// what the monitor is given (c, or c without its Owners); resync its
// Config.Resync. It returns when every executor has read its group's view.
func startResync(t *testing.T, c *fakeCluster, cluster Cluster, resync time.Duration) *Monitor {
	t.Helper()
	group := func(name, pref string) model.Group {
		g := model.DefaultGroup(name)
		g.PreferredOwners = []string{pref}
		return g
	}
	c.setDB(model.Database{Groups: []model.Group{group("mine", "n1"), group("theirs", "n2"), group("free", "n3")}})
	c.setNodes("n1", "n2", "n3")
	c.mu.Lock()
	c.owners["theirs"] = model.Ownership{Group: "theirs", Node: "n2", Token: 1}
	c.mu.Unlock()

	m := runN1(t, c, cluster, resync)
	waitFake(t, "n1 owning mine and every group's view read", func() bool {
		views, _ := c.reads()
		c.mu.Lock()
		o := c.owners["mine"]
		c.mu.Unlock()
		return o.Node == "n1" && slices.Equal(m.Owned(), []string{"mine"}) && views["theirs"] > 0 && views["free"] > 0
	})
	return m
}

// TestResyncSkipsGroupsOwnedElsewhere: a resync reads the views of the
// groups this node owns and of those nobody owns, never of a group another
// node owns (it needs nothing until the watch reports its ownership
// changed): every node reading every group's view at each resync was
// nodes × groups reads at rest. When the owners cannot be read, or the
// Cluster cannot list them, every group is looked at as before.
func TestResyncSkipsGroupsOwnedElsewhere(t *testing.T) {
	t.Run("owners listed", func(t *testing.T) {
		c := newFakeCluster()
		startResync(t, c, c, 5*time.Millisecond)
		base, baseOwners := c.reads()
		waitFake(t, "three resyncs waking mine and free", func() bool {
			views, owners := c.reads()
			return owners >= baseOwners+3 && views["mine"] >= base["mine"]+2 && views["free"] >= base["free"]+2
		})
		if views, _ := c.reads(); views["theirs"] != base["theirs"] {
			t.Fatalf("resyncs read the view of a group owned by n2: %d reads, %d before them", views["theirs"], base["theirs"])
		}

		c.mu.Lock()
		c.ownersErr = errors.New("etcd unreachable")
		c.mu.Unlock()
		waitFake(t, "a resync whose owners read failed looking at theirs", func() bool {
			views, _ := c.reads()
			return views["theirs"] > base["theirs"]
		})
	})
	t.Run("without the capability", func(t *testing.T) {
		c := newFakeCluster()
		startResync(t, c, struct{ Cluster }{c}, 5*time.Millisecond)
		base, _ := c.reads()
		waitFake(t, "resyncs looking at every group", func() bool {
			views, _ := c.reads()
			return views["theirs"] >= base["theirs"]+2 && views["mine"] >= base["mine"]+2 && views["free"] >= base["free"]+2
		})
		if _, owners := c.reads(); owners != 0 {
			t.Fatalf("the owners were read %d times through a Cluster without Owners", owners)
		}
	})
}

// TestNodeChangeWakesOwnedAndUnownedGroups: a node joining or leaving
// wakes the executors of the groups this node owns and of those nobody
// owns, never of a group another node owns (its owner decides, and a dead
// owner's ownerships expire one by one, each announced): every node
// reading every group's view at each join made a planned move right after
// a join take seconds at 16 nodes. Without the owners, every group is
// looked at.
func TestNodeChangeWakesOwnedAndUnownedGroups(t *testing.T) {
	for _, listed := range []bool{true, false} {
		t.Run(fmt.Sprintf("owners listed=%v", listed), func(t *testing.T) {
			c := newFakeCluster()
			var cluster Cluster = c
			if !listed {
				cluster = struct{ Cluster }{c}
			}
			startResync(t, c, cluster, time.Hour) // no resync: only the node changes wake
			base, _ := c.reads()
			for i := range 3 {
				nodes := []string{"n1", "n2", "n3"}
				if i%2 == 0 {
					nodes = append(nodes, "n4")
				}
				c.setNodes(nodes...)
				waitFake(t, fmt.Sprintf("mine and free read after node change %d", i+1), func() bool {
					views, _ := c.reads()
					return views["mine"] > base["mine"]+i && views["free"] > base["free"]+i
				})
			}
			views, owners := c.reads()
			switch {
			case listed && views["theirs"] != base["theirs"]:
				t.Fatalf("three node changes read the view of a group n2 owns %d times", views["theirs"]-base["theirs"])
			case listed && owners == 0:
				t.Fatal("node changes woke mine and free without reading the owners")
			case !listed && views["theirs"] == base["theirs"]:
				// Without the owners every group is woken: theirs is read
				// too, if not yet then soon.
				waitFake(t, "theirs read without the owners", func() bool { v, _ := c.reads(); return v["theirs"] > base["theirs"] })
			}
		})
	}
}
