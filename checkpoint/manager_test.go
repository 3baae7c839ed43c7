package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestBurstIsCoalescedInOrderAndLastStateStored writes a burst into a
// checkpointed key and watches every write of the CPT in etcd: fewer writes
// than changes, sequence numbers strictly increasing, and the final state
// stored.
func TestBurstIsCoalescedInOrderAndLastStateStored(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	n1.addCheckpoint(c.res, onyone)
	n1.online(c.res)

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	key := c.admin.Keys().CheckpointData(c.res.ID, model.RegistryCheckpoint, 1) + "0000000000000000/00000000"
	watch := c.raw.Watch(ctx, key)
	const writes = 2000
	for i := 1; i <= writes; i++ {
		n1.set(onyone, fmt.Sprintf("v%02d", i%50), sdk.DWordValue("", uint32(i)))
	}
	var seqs []uint64
	var last checkpoint.Document
	for resp := range watch {
		for _, ev := range resp.Events {
			d, err := checkpoint.Decode(ev.Kv.Value, nil)
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, d.Seq)
			last = d
		}
		if v, ok := last.Tree.Value("", fmt.Sprintf("v%02d", writes%50)); ok && v.Num == writes {
			break
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("stores out of order: seq %d after %d", seqs[i], seqs[i-1])
		}
	}
	if len(seqs) >= writes {
		t.Errorf("%d etcd writes for %d registry writes: not coalesced", len(seqs), writes)
	}
	for i := writes - 49; i <= writes; i++ {
		if v, _ := last.Tree.Value("", fmt.Sprintf("v%02d", i%50)); v.Num != uint64(i) {
			t.Errorf("final CPT has v%02d = %d, want %d", i%50, v.Num, i)
		}
	}
	t.Logf("%d registry writes, %d etcd writes", writes, len(seqs))
}

// TestFormerOwnerCannotOverwrite: once the group has moved, the former
// owner's saver is fenced off and the new owner's data stays.
func TestFormerOwnerCannotOverwrite(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1"), c.node("node2")
	n1.addCheckpoint(c.res, onyone)
	n1.online(c.res)
	n1.set(onyone, "Owner", sdk.StringValue("", "node1"))
	if err := n1.mgr.Flush(ctxT(t), c.res); err != nil {
		t.Fatal(err)
	}
	// node1 loses the group without going offline (e.g. its lease expired).
	n1.release(c.res.Group)
	n2.online(c.res)
	n2.set(onyone, "Owner", sdk.StringValue("", "node2"))
	if err := n2.mgr.Flush(ctxT(t), c.res); err != nil {
		t.Fatal(err)
	}
	n1.set(onyone, "Owner", sdk.StringValue("", "node1, stale"))
	err := n1.mgr.Flush(ctxT(t), c.res)
	if !errors.Is(err, sdk.ErrFenced) || !errors.Is(err, model.ErrFenced) {
		t.Fatalf("stale owner's save: %v", err)
	}
	if err := n1.mgr.Offline(ctxT(t), c.res); !errors.Is(err, sdk.ErrFenced) {
		t.Errorf("stale owner's Offline: %v", err)
	}
	if got := c.storedStr(c.res, 1, "", "Owner"); got != "node2" {
		t.Errorf("stored %q, want node2's data", got)
	}
	if ev := events(t, c.admin, "checkpoint.save-failed"); len(ev) != 1 || ev[0].Node != "node1" {
		t.Errorf("save-failed events: %+v", ev)
	}
}

// TestOperatorAddsCheckpointWhileOnline: a checkpoint added to the database
// by an operator (not through the resource) while the resource is online is
// picked up by Serve: stored at once and watched.
func TestOperatorAddsCheckpointWhileOnline(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	n1.online(c.res)
	n1.set(onyone, "Before", sdk.StringValue("", "x"))
	if _, err := c.admin.AddCheckpoint(ctxT(t), c.res.ID, model.RegistryCheckpoint, onyone); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new checkpoint stored from the local state", func() bool { return c.storedStr(c.res, 1, "", "Before") == "x" })
	n1.set(onyone, "After", sdk.StringValue("", "y"))
	eventually(t, "a later change stored", func() bool { return c.storedStr(c.res, 1, "", "After") == "y" })
	// And removed by the operator: no more saves, data gone.
	if _, err := c.admin.RemoveCheckpoint(ctxT(t), c.res.ID, model.RegistryCheckpoint, onyone); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the saver to stop", func() bool {
		n1.set(onyone, "After", sdk.StringValue("", "z"))
		if err := n1.mgr.Flush(ctxT(t), c.res); err != nil {
			t.Fatal(err)
		}
		resp, _ := c.raw.Get(ctxT(t), c.admin.Keys().ResourceCheckpoints(c.res.ID), clientv3.WithPrefix(), clientv3.WithCountOnly())
		return resp.Count == 0
	})
}

// TestRestoreRefusesOverlapFromClusterToml: checkpoints written into the
// database from cluster.toml are numbered at Restore, and overlapping ones
// refused there with the other resource named.
func TestRestoreRefusesOverlapFromClusterToml(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	ctx := ctxT(t)
	if err := c.admin.CreateGroup(ctx, model.DefaultGroup("g2")); err != nil {
		t.Fatal(err)
	}
	other, err := c.admin.CreateResource(ctx, model.Resource{Name: "Seeded", Type: "Network Name", Group: "g2", Properties: model.DefaultProperties(),
		RegistryCheckpoints: []string{onyone + `\Inner`}})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := c.admin.Resource(ctx, c.res.ID)
	rec.Value.RegistryCheckpoints = []string{onyone}
	if err := c.admin.UpdateResource(ctx, rec.Value, rec.ModRevision); err != nil {
		t.Fatal(err)
	}
	n1.online(rec.Value)
	err = n1.mgr.Restore(ctx, other, n1.acquire("g2").Fence())
	if !errors.Is(err, checkpoint.ErrOverlap) || !strings.Contains(err.Error(), `"Network Name DATA"`) {
		t.Errorf("restore of an overlapping seeded checkpoint: %v", err)
	}
}

// TestFlushCheckpointsConfirmsStoredUnderTheFence: FLUSH_CHECKPOINTS, issued
// by a resource, returns nil only once what it wrote is in etcd under its
// tenure's token, so the stored copy can be read back at once; after the
// group has moved, or once the resource is offline here, it is refused with
// sdk.ErrFenced rather than confirming a write that no restore will see.
func TestFlushCheckpointsConfirmsStoredUnderTheFence(t *testing.T) {
	c := newCluster(t)
	// A long save interval: only the flush can have stored the later writes.
	n1, n2 := c.node("node1", saveInterval(time.Hour)), c.node("node2")
	n1.addCheckpoint(c.res, onyone)
	n1.online(c.res)
	for i := range 5 {
		want := fmt.Sprint(i)
		n1.set(onyone, "Count", sdk.StringValue("", want))
		if err := n1.control(c.res, sdk.FlushCheckpoints, ""); err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
		if got := c.storedStr(c.res, 1, "", "Count"); got != want {
			t.Fatalf("after flush %d: stored %q, want %q", i, got, want)
		}
	}
	if err := n1.control(c.res, sdk.FlushCheckpoints, "unexpected input is ignored"); err != nil {
		t.Errorf("flush with nothing new: %v", err)
	}

	// The group moves without node1 going offline (its lease expired).
	n1.release(c.res.Group)
	n2.online(c.res)
	n1.set(onyone, "Count", sdk.StringValue("", "stale"))
	if err := n1.control(c.res, sdk.FlushCheckpoints, ""); !errors.Is(err, sdk.ErrFenced) {
		t.Fatalf("stale owner's flush: %v, want sdk.ErrFenced", err)
	}
	if got := c.storedStr(c.res, 1, "", "Count"); got != "4" {
		t.Errorf("stored %q after the stale flush, want 4", got)
	}
	n1.mgr.Offline(ctxT(t), c.res) // fenced: its error is TestFormerOwnerCannotOverwrite's

	// Offline here: not stored from this node any more.
	if err := n1.control(c.res, sdk.FlushCheckpoints, ""); !errors.Is(err, sdk.ErrFenced) || !strings.Contains(err.Error(), "not online") {
		t.Errorf("flush of a resource offline here: %v, want sdk.ErrFenced naming why", err)
	}
	if err := n2.control(c.res, sdk.FlushCheckpoints, ""); err != nil {
		t.Errorf("the new owner's flush: %v", err)
	}
	if _, err := n2.mgr.Control(ctxT(t), model.Ref{Name: "no id"}, sdk.FlushCheckpoints, nil, nil); !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Errorf("flush without a resource id: %v", err)
	}
}
