package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
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

func (c *mpCluster) resourceState() string {
	st, _, _ := c.store.ReadResourceStatus(context.Background(), c.resource().ID)
	return st.State
}

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
	failTwice := func() {
		for i := 0; i < 2; i++ {
			c.waitResource("Online")
			if rep := c.request(model.Request{Resource: id, Action: model.RequestFail}); rep.Code != model.ResultDone {
				t.Fatalf("fail: %+v", rep)
			}
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
