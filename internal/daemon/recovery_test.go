package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Failures an operator can hit are recoverable without restarting
// clusterd: each test runs real clusterd and plugin processes and fails
// without the fix it is named after.

// request files req and waits for the owner's typed reply.
func (c *mpCluster) request(req model.Request) model.Reply {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := c.store.File(ctx, req)
	if err != nil {
		c.t.Fatal(err)
	}
	rep, err := c.store.AwaitReply(ctx, req)
	if err != nil {
		c.t.Fatalf("no reply to %s: %v", req.Action, err)
	}
	return rep
}

func (c *mpCluster) resource() model.Resource {
	c.t.Helper()
	r, err := c.store.ResourceByName(context.Background(), "app")
	if err != nil {
		c.t.Fatal(err)
	}
	return r.Value
}

func (c *mpCluster) resourceStatus() model.ResourceStatus {
	st, _, _ := c.store.ReadResourceStatus(context.Background(), c.resource().ID)
	return st
}

func (c *mpCluster) resourceState() string { return c.resourceStatus().State }

func (c *mpCluster) waitResource(state string) {
	c.t.Helper()
	waitFor(c.t, "resource app "+state, 30*time.Second, func() bool { return c.resourceState() == state })
}

// editPrivate changes the resource's private properties in the database,
// as `cluster resource app set -private` does.
func (c *mpCluster) editPrivate(edit func(map[string]any)) {
	c.t.Helper()
	ctx := context.Background()
	r, err := c.store.ResourceByName(ctx, "app")
	if err != nil {
		c.t.Fatal(err)
	}
	rec := r.Value
	edit(rec.Private)
	if err := c.store.UpdateResource(ctx, rec, r.ModRevision); err != nil {
		c.t.Fatal(err)
	}
}

// TestFailedResourceIsBroughtBackByAnOperator: with RestartAction 1 and
// RestartThreshold 1 a resource that fails twice stays Failed; an
// operator's resource online brings it back at once, and so do group
// offline then online. (The online request once cancelled the scheduled
// retry instead, and group offline waited for a Failed resource to go
// Offline forever.)
func TestFailedResourceIsBroughtBackByAnOperator(t *testing.T) {
	c := newMPCluster(t, "", "", "restart_action = 1\nrestart_threshold = 1")
	c.start("node1")
	c.waitStatus("online on node1", onlineOn("node1"))
	id := c.resource().ID
	// The reply to a fail request comes before the failure is handled and
	// published, so each step waits for the restart count to say the
	// failure was counted: a status still Online from before it is no
	// sign that the restart is over.
	failTwice := func() {
		for i := 0; i < 2; i++ {
			waitFor(t, fmt.Sprintf("resource app Online with %d restarts", i), 30*time.Second, func() bool {
				st := c.resourceStatus()
				return st.State == "Online" && st.Restarts == i
			})
			if rep := c.request(model.Request{Resource: id, Action: model.RequestFail}); rep.Code != model.ResultDone {
				t.Fatalf("fail: %+v", rep)
			}
			waitFor(t, fmt.Sprintf("failure %d counted", i+1), 30*time.Second, func() bool { return c.resourceStatus().Restarts == i+1 })
		}
		c.waitResource("Failed")
	}
	failTwice()
	if rep := c.request(model.Request{Resource: id, Action: model.RequestOnline}); rep.Code != model.ResultDone {
		t.Fatalf("resource online: %+v", rep)
	}
	c.waitResource("Online")

	failTwice()
	if rep := c.request(model.Request{Group: "app", Action: model.RequestOffline}); rep.Code != model.ResultDone {
		t.Fatalf("group offline: %+v", rep)
	}
	c.waitStatus("offline", func(s model.GroupStatus) bool { return s.State == "Offline" })
	if got := c.resourceState(); got != "Offline" {
		t.Fatalf("resource after its group went offline: %s", got)
	}
	if rep := c.request(model.Request{Group: "app", Action: model.RequestOnline}); rep.Code != model.ResultDone {
		t.Fatalf("group online: %+v", rep)
	}
	c.waitStatus("online again", onlineOn("node1"))
}

// TestOpenFailureClearsWhenPropertiesAreFixed: a resource whose Open fails
// on its bad private properties comes online as soon as an operator fixes
// them, without a clusterd restart or the hour of RetryPeriodOnFailure.
func TestOpenFailureClearsWhenPropertiesAreFixed(t *testing.T) {
	c := newMPCluster(t, "", `FailIn = "Open"`, "")
	c.start("node1")
	c.waitResource("Failed")
	c.editPrivate(func(p map[string]any) { delete(p, "FailIn") })
	c.waitStatus("online after the fix", onlineOn("node1"))
}

// TestPrivatePropertiesApplyAtNextOnline: private properties changed while
// a resource is online apply at its next Online on the same node: it is
// opened again with them. (They once applied only after a move.)
func TestPrivatePropertiesApplyAtNextOnline(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.start("node1")
	c.waitStatus("online on node1", onlineOn("node1"))
	id := c.resource().ID
	second := filepath.Join(c.dir, "second-witness")
	c.editPrivate(func(p map[string]any) { p["WitnessFile"] = second })
	if rep := c.request(model.Request{Resource: id, Action: model.RequestOffline}); rep.Code != model.ResultDone {
		t.Fatalf("offline: %+v", rep)
	}
	c.waitResource("Offline")
	if rep := c.request(model.Request{Resource: id, Action: model.RequestOnline}); rep.Code != model.ResultDone {
		t.Fatalf("online: %+v", rep)
	}
	c.waitResource("Online")
	waitFor(t, "an Online witnessed in the new WitnessFile", 30*time.Second, func() bool {
		b, _ := os.ReadFile(second)
		return strings.HasPrefix(string(b), "online ")
	})
}

// TestDeletingAnOnlinePendingResourceTerminatesIt: a resource deleted while
// its Online hangs is terminated at once, not when PendingTimeout runs out.
func TestDeletingAnOnlinePendingResourceTerminatesIt(t *testing.T) {
	c := newMPCluster(t, "", `HangIn = "Online"`, "")
	// Long enough that only the deletion can end the Online within the test.
	c.spec = strings.Replace(c.spec, `pending_timeout = "3s"`, `pending_timeout = "10m"`, 1)
	c.start("node1")
	waitFor(t, "the group acquired by node1", 30*time.Second, func() bool { return c.status().Owner == "node1" })
	// The hanging Online is under way once the type has been opened.
	waitFor(t, "the resource opened", 30*time.Second, func() bool {
		return strings.Contains(c.nodes["node1"].logs.String(), "opened")
	})
	if err := c.store.DeleteResource(context.Background(), c.resource().ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Terminate of the deleted resource", 30*time.Second, func() bool {
		for _, l := range c.witnessLines() {
			if l.entry == "terminate" {
				return true
			}
		}
		return false
	})
	waitFor(t, "the group published without it", 30*time.Second, func() bool { return c.status().State == "Offline" })
}

// held waits until the group waits for an operator about its checkpoint,
// on node, with the resource Failed, and checks that it stays there (no
// restarts, no failover) for a while.
func (c *mpCluster) held(node string, problem string) model.GroupStatus {
	c.t.Helper()
	st := c.waitStatus("waiting for an operator on "+node, func(s model.GroupStatus) bool {
		return s.Owner == node && strings.HasPrefix(s.Message, "waiting for an operator") && strings.Contains(s.Message, problem)
	})
	for _, want := range []string{"cluster checkpoint recover", "cluster checkpoint accept"} {
		if !strings.Contains(st.Message, want) {
			c.t.Fatalf("the group's message does not name %q: %s", want, st.Message)
		}
	}
	if got := c.resourceState(); got != "Failed" {
		c.t.Fatalf("held resource is %s, want Failed", got)
	}
	// A negative check needs a window: a restart or failover would come
	// within the resource's RestartDelay (50ms) and the lease TTL (1s).
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if now := c.status(); now.Owner != node || now.Token != st.Token {
			c.t.Fatalf("a held group moved: %+v", now)
		}
	}
	return st
}

// TestCorruptCheckpointHoldsTheGroupWithoutBurningFailovers: corruption is
// the cluster's problem, not the node's: the group that finds it waits for
// an operator (naming recover and accept) instead of restarting the
// resource and failing over from node to node; recover on the owner brings
// it online. (It once moved node to node until the failover threshold.)
func TestCorruptCheckpointHoldsTheGroupWithoutBurningFailovers(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.start("node1")
	c.start("node2")
	c.waitStatus("online on node1", onlineOn("node1"))
	c.waitCount(1)
	id := c.resource().ID
	if _, err := c.raw.Put(context.Background(), c.store.Keys().Checkpoint(id, model.RegistryCheckpoint, 1), "garbage"); err != nil {
		t.Fatal(err)
	}
	c.kill("node1")
	st := c.held("node2", "corrupt")
	if len(st.Failovers) != 1 {
		t.Errorf("failovers %v, want the crash only", st.Failovers)
	}
	rep := c.request(model.Request{Resource: id, Action: model.RequestRecover})
	if rep.Code != model.ResultDone || len(rep.Recovered) != 1 || rep.Recovered[0].Error != "" {
		t.Fatalf("recover: %+v", rep)
	}
	c.waitStatus("online on node2 after the recovery", onlineOn("node2"))
}

// TestLostCheckpointHoldsTheGroup: checkpoint data that was saved and then
// deleted by hand is a loss: the next owner holds the group rather than
// bring the resource online on its own, possibly older, registry; accept
// takes that registry as it is.
func TestLostCheckpointHoldsTheGroup(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.start("node1")
	c.start("node2")
	c.waitStatus("online on node1", onlineOn("node1"))
	c.waitCount(1)
	id := c.resource().ID
	if _, err := c.raw.Delete(context.Background(), c.store.Keys().ResourceCheckpoints(id), clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	c.kill("node1")
	c.held("node2", "saved and is now missing")
	if len(c.events("checkpoint.lost")) == 0 {
		t.Error("no checkpoint.lost event")
	}
	rep := c.request(model.Request{Resource: id, Action: model.RequestAccept})
	if rep.Code != model.ResultDone || !strings.Contains(rep.Message, "lost data replaced") {
		t.Fatalf("accept: %+v", rep)
	}
	c.waitStatus("online on node2 after the accept", onlineOn("node2"))
}

// TestRestoredCheckpointWaitsForAnOperator: after a backup restore, a
// checkpoint the restore put back is not applied over the registry until an
// operator accepts (or recovers) it. (The next move once restored the stale
// copy over the node's newer registry.)
func TestRestoredCheckpointWaitsForAnOperator(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.start("node1")
	c.waitStatus("online on node1", onlineOn("node1"))
	c.waitCount(1)
	backup := filepath.Join(t.TempDir(), "backup")
	ctx := context.Background()
	if _, err := c.store.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	if rep := c.request(model.Request{Group: "app", Action: model.RequestOffline}); rep.Code != model.ResultDone {
		t.Fatalf("offline: %+v", rep)
	}
	c.waitStatus("offline", func(s model.GroupStatus) bool { return s.State == "Offline" })
	if _, err := c.store.Restore(ctx, backup, true); err != nil {
		t.Fatal(err)
	}
	if rep := c.request(model.Request{Group: "app", Action: model.RequestOnline}); rep.Code != model.ResultDone {
		t.Fatalf("online: %+v", rep)
	}
	c.held("node1", "backup restore")
	rep := c.request(model.Request{Group: "app", Action: model.RequestAccept})
	if rep.Code != model.ResultDone || !strings.Contains(rep.Message, "restored copy is now current") {
		t.Fatalf("accept: %+v", rep)
	}
	c.waitStatus("online after the accept", onlineOn("node1"))
}

// TestOwnRestartIsNotAFailover: a node that dies and comes back takes its
// group again without counting a failover, so a one-node cluster restarted
// twice by kill -9 brings its group back each time. (Each restart once
// counted as a failover "from node1 to node1", and the second held the
// group Failed for RetryPeriodOnFailure.)
func TestOwnRestartIsNotAFailover(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.start("node1")
	first := c.waitStatus("online on node1", onlineOn("node1"))
	for i := 0; i < 2; i++ {
		c.kill("node1")
		c.start("node1")
		st := c.waitStatus("online on node1 again", func(s model.GroupStatus) bool {
			return s.State == "Online" && s.Owner == "node1" && s.Token > first.Token
		})
		if len(st.Failovers) != 0 {
			t.Fatalf("restart %d counted as a failover: %+v", i+1, st)
		}
		first = st
	}
	if evs := c.events("group.failover"); len(evs) != 0 {
		t.Fatalf("failover events: %v", evs)
	}
}

// waitExit waits for node's clusterd to exit and returns how long it took.
func (c *mpCluster) waitExit(name string, within time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	select {
	case <-c.nodes[name].exited:
	case <-time.After(within):
		c.t.Fatalf("%s did not exit within %s", name, within)
	}
	return time.Since(start)
}

// TestStopWithoutQuorumIsBounded: a node whose etcd is gone stops on
// SIGTERM within its lease rather than waiting out the drain timeout:
// nothing can be handed on, and its self-fence terminates what it runs.
func TestStopWithoutQuorumIsBounded(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.start("node1")
	c.waitStatus("online on node1", onlineOn("node1"))
	c.member.Stop()
	c.signal("node1", syscall.SIGTERM)
	took := c.waitExit("node1", time.Minute) // the drain timeout is 5 minutes
	t.Logf("stopped %s after SIGTERM without quorum", took.Round(time.Millisecond))
	if !c.witnessedAny("terminate") && !c.witnessedAny("offline") {
		t.Fatalf("the resource was neither taken offline nor terminated: %v", c.witnessLines())
	}
}

// TestSecondSignalStopsAtOnce: a second SIGTERM during a drain that waits
// for a hanging Offline terminates the resource and exits.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	c := newMPCluster(t, "", `HangIn = "Offline"`, "")
	c.spec = strings.Replace(c.spec, `pending_timeout = "3s"`, `pending_timeout = "10m"`, 1)
	c.start("node1")
	c.waitStatus("online on node1", onlineOn("node1"))
	c.signal("node1", syscall.SIGTERM)
	waitFor(t, "the drain's Offline under way", 30*time.Second, func() bool {
		return c.resourceState() == "OfflinePending"
	})
	c.signal("node1", syscall.SIGTERM)
	took := c.waitExit("node1", time.Minute)
	t.Logf("stopped %s after the second signal", took.Round(time.Millisecond))
	if !c.witnessedAny("terminate") {
		t.Fatalf("the hanging resource was not terminated: %v", c.witnessLines())
	}
}

func (c *mpCluster) witnessedAny(entry string) bool {
	for _, l := range c.witnessLines() {
		if l.entry == entry {
			return true
		}
	}
	return false
}
