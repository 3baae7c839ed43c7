package checkpoint_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/sdk"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const onyone = `SOFTWARE\Microsoft\onyone`

// Rule 1: whenever anything changes in a checkpointed tree while the
// resource is online, a copy of the tree is stored in etcd.
func TestRule1_ChangeWhileOnlineIsStoredInQuorum(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	n1.addCheckpoint(c.res, onyone)
	n1.online(c.res)

	n1.set(onyone, "Port", sdk.StringValue("", "7000"))
	eventually(t, "the new value in etcd", func() bool { return c.storedStr(c.res, 1, "", "Port") == "7000" })
	n1.set(onyone+`\Clients\Paris`, "Address", sdk.StringValue("", "10.0.0.7"))
	eventually(t, "a value deep below the key in etcd", func() bool { return c.storedStr(c.res, 1, `clients\PARIS`, "Address") == "10.0.0.7" })
	if err := n1.reg.DeleteValue(ctxT(t), onyone, "Port"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deletion in etcd", func() bool { return c.storedStr(c.res, 1, "", "Port") == "<missing>" })

	// A change outside the tree, even with a common name prefix, is not a change of the tree.
	before, _, _ := c.stored(c.res, model.RegistryCheckpoint, 1)
	n1.set(onyone+"2", "Other", sdk.StringValue("", "x"))
	if err := n1.mgr.Flush(ctxT(t), c.res); err != nil {
		t.Fatal(err)
	}
	after, m, _ := c.stored(c.res, model.RegistryCheckpoint, 1)
	if after.Seq != before.Seq {
		t.Errorf("a write outside the checkpoint was stored (seq %d → %d)", before.Seq, after.Seq)
	}
	if after.Node != "node1" || m.Node != "node1" || after.Resource != c.res.ID || after.Path != onyone {
		t.Errorf("document identity: node %q, resource %q, path %q", after.Node, after.Resource, after.Path)
	}
}

// Rule 2: a change made while the resource is offline is overwritten with
// the checkpointed data when it comes online (here on the same node).
func TestRule2_OfflineChangeIsOverwrittenOnOnline(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	n1.addCheckpoint(c.res, onyone)
	n1.online(c.res)
	n1.set(onyone, "Mode", sdk.StringValue("", "primary"))
	n1.offline(c.res)

	n1.set(onyone, "Mode", sdk.StringValue("", "changed while offline"))
	n1.set(onyone+`\Added`, "X", sdk.DWordValue("", 1))
	n1.online(c.res)
	if got := n1.str(onyone, "Mode"); got != "primary" {
		t.Errorf("Mode = %q after Online, want the checkpointed %q", got, "primary")
	}
	if _, err := n1.reg.SubKeys(ctxT(t), onyone+`\Added`); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("a key added while offline survived the restore: %v", err)
	}
}

// Rule 3: when the resource moves, the tree is restored into the new node's
// registry before the resource is brought online.
func TestRule3_MoveRestoresBeforeOnline(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1"), c.node("node2")
	n1.addCheckpoint(c.res, onyone)
	n1.online(c.res)
	n1.set(onyone, "Port", sdk.DWordValue("", 7000))
	n1.set(onyone+`\Clients`, "Count", sdk.QWordValue("", 2))
	n1.offline(c.res)
	want, _, err := n1.reg.Snapshot(ctxT(t), onyone)
	if err != nil {
		t.Fatal(err)
	}
	n2.set(`software\microsoft\ONYONE\Local`, "Junk", sdk.StringValue("", "node2 only"))

	f := n2.acquire(c.res.Group).Fence()
	if err := n2.mgr.StartOnline(ctxT(t), c.res, f); !errors.Is(err, checkpoint.ErrNotRestored) {
		t.Fatalf("StartOnline before Restore = %v, want ErrNotRestored", err)
	}
	if err := n2.mgr.Restore(ctxT(t), c.res, f); err != nil {
		t.Fatal(err)
	}
	// Restored now, before StartOnline (where the monitor calls Online).
	got, _, err := n2.reg.Snapshot(ctxT(t), onyone)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("node2 after Restore:\n got %+v, %v\nwant %+v", got, err, want)
	}
	if err := n2.mgr.StartOnline(ctxT(t), c.res, f); err != nil {
		t.Fatal(err)
	}
	// A stale fence cannot start (another tenure's Restore does not count).
	if err := n2.mgr.StartOnline(ctxT(t), c.res, model.Fence{Group: f.Group, Token: f.Token - 1}); err != nil && !errors.Is(err, checkpoint.ErrNotRestored) {
		t.Errorf("StartOnline with another fence = %v", err)
	}
}

// Rule 4: deleting the resource deletes its checkpoints; the local registry
// (and keystore) keep their data.
func TestRule4_DeleteResourceDeletesCheckpointsNotRegistry(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	container := `1\Microsoft Enhanced Cryptographic Provider v1.0\DataKeys`
	if err := n1.ks.Put(ctxT(t), container, []byte("-----BEGIN KEY-----")); err != nil {
		t.Fatal(err)
	}
	n1.addCheckpoint(c.res, onyone)
	if err := n1.control(c.res, sdk.AddCryptoCheckpoint, container); err != nil {
		t.Fatal(err)
	}
	n1.online(c.res)
	n1.set(onyone, "Port", sdk.DWordValue("", 7000))
	if err := n1.mgr.Flush(ctxT(t), c.res); err != nil {
		t.Fatal(err)
	}
	count := func(prefix string) int64 {
		resp, err := c.raw.Get(ctxT(t), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	if n := count(c.admin.Keys().ResourceCheckpoints(c.res.ID)); n < 4 {
		t.Fatalf("only %d checkpoint keys before the delete", n)
	}
	if err := n1.mgr.DeleteResource(ctxT(t), c.res); err != nil {
		t.Fatal(err)
	}
	n1.set(onyone, "Port", sdk.DWordValue("", 7001)) // nothing watches it any more
	for _, prefix := range []string{
		c.admin.Keys().ResourceCheckpoints(c.res.ID),
		c.admin.Keys().CheckpointNumbers(c.res.ID),
		c.admin.Keys().CheckpointPaths(model.RegistryCheckpoint),
		c.admin.Keys().CheckpointPaths(model.CryptoCheckpoint),
	} {
		if n := count(prefix); n != 0 {
			t.Errorf("%d keys left under %s", n, prefix)
		}
	}
	if v, err := n1.reg.GetValue(ctxT(t), onyone, "Port"); err != nil || v.Num != 7001 {
		t.Errorf("local registry lost its data: %+v, %v", v, err)
	}
	if b, err := n1.ks.Get(ctxT(t), container); err != nil || string(b) != "-----BEGIN KEY-----" {
		t.Errorf("local keystore lost its data: %q, %v", b, err)
	}
}

// Rule 5: checkpoints are part of backups; a restore can make them stale,
// which StaleCheckpoints shows (and Restore logs as an event) until they are
// recovered or saved again.
func TestRule5_BackupRestoreMarksCheckpointsStale(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	n1.addCheckpoint(c.res, onyone)
	n1.addCheckpoint(c.res, onyone+"2")
	n1.online(c.res)
	n1.set(onyone, "Version", sdk.StringValue("", "v1"))
	n1.set(onyone+"2", "Version", sdk.StringValue("", "v1"))
	if err := n1.mgr.Flush(ctxT(t), c.res); err != nil {
		t.Fatal(err)
	}
	backup := t.TempDir() + "/backup"
	if _, err := c.admin.Backup(ctxT(t), backup); err != nil {
		t.Fatal(err)
	}
	n1.set(onyone, "Version", sdk.StringValue("", "v2"))
	n1.set(onyone+"2", "Version", sdk.StringValue("", "v2"))
	n1.offline(c.res) // etcd holds v2 now
	n1.acquire(c.res.Group)

	if _, err := c.admin.Restore(ctxT(t), backup, true); err != nil {
		t.Fatal(err)
	}
	stale, err := checkpoint.StaleCheckpoints(ctxT(t), c.admin)
	if err != nil || len(stale) != 2 || stale[0].Resource != "Network Name DATA" || stale[0].Path != onyone || stale[0].FileName() != "00000001.CPT" {
		t.Fatalf("stale after the restore: %+v, %v", stale, err)
	}
	if got := c.storedStr(c.res, 1, "", "Version"); got != "v1" {
		t.Fatalf("restored checkpoint holds %q, want the backup's v1", got)
	}

	// Recovery from the owner's registry clears checkpoint 1... (one resource: both)
	results, err := checkpoint.Recover(ctxT(t), c.admin, "network name data", "test")
	if err != nil || len(results) != 1 || results[0].Err() != nil || results[0].Node != "node1" {
		t.Fatalf("recover: %+v, %v", results, err)
	}
	if got := c.storedStr(c.res, 1, "", "Version"); got != "v2" {
		t.Errorf("recovered checkpoint holds %q, want the registry's v2", got)
	}
	if stale, _ := checkpoint.StaleCheckpoints(ctxT(t), c.admin); len(stale) != 0 {
		t.Errorf("still stale after recovery: %+v", stale)
	}

	// Without recovery the resource does not come online on the restored
	// copy: Restore holds it, naming both ways out, and the registry keeps
	// its newer data. Accepting makes the backup's copy current.
	if _, err := c.admin.Restore(ctxT(t), backup, true); err != nil {
		t.Fatal(err)
	}
	n1.release(c.res.Group)
	f := n1.acquire(c.res.Group).Fence()
	err = n1.mgr.Restore(ctxT(t), c.res, f)
	if !errors.Is(err, model.ErrCheckpointHold) || !errors.Is(err, checkpoint.ErrStale) || !contains(err.Error(), RecoverHint(), checkpoint.AcceptCommand("Network Name DATA")) {
		t.Fatalf("restore of a restored copy: %v", err)
	}
	if got := n1.str(onyone, "Version"); got != "v2" {
		t.Errorf("the held restore changed the registry: %q", got)
	}
	if ev := events(t, c.admin, "checkpoint.stale"); len(ev) == 0 || !contains(ev[0].Message, "00000001.CPT", RecoverHint()) {
		t.Errorf("stale events: %+v", ev)
	}
	done, err := n1.mgr.Accept(ctxT(t), c.res, f)
	if err != nil || len(done) != 2 {
		t.Fatalf("accept: %v, %v", done, err)
	}
	if stale, _ := checkpoint.StaleCheckpoints(ctxT(t), c.admin); len(stale) != 0 {
		t.Errorf("still stale after accept: %+v", stale)
	}
	if err := n1.mgr.Restore(ctxT(t), c.res, f); err != nil {
		t.Fatalf("restore after accept: %v", err)
	}
	if got := n1.str(onyone, "Version"); got != "v1" {
		t.Errorf("online after accepting the restored copy: %q, want the backup's v1", got)
	}
}

// TestLostCheckpointHoldsTheResource: checkpoint data that was saved and is
// now missing (deleted by hand) holds the resource instead of being replaced
// by whatever the next node's registry holds; accepting stores the registry.
func TestLostCheckpointHoldsTheResource(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1"), c.node("node2")
	n1.addCheckpoint(c.res, onyone)
	n1.online(c.res)
	n1.set(onyone, "Version", sdk.StringValue("", "v1"))
	n1.offline(c.res)
	if _, err := c.raw.Delete(ctxT(t), c.admin.Keys().ResourceCheckpoints(c.res.ID), clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	f := n2.acquire(c.res.Group).Fence()
	err := n2.mgr.Restore(ctxT(t), c.res, f)
	if !errors.Is(err, model.ErrCheckpointHold) || !errors.Is(err, checkpoint.ErrLost) {
		t.Fatalf("restore of lost data: %v", err)
	}
	if ev := events(t, c.admin, "checkpoint.lost"); len(ev) == 0 {
		t.Error("no checkpoint.lost event")
	}
	if _, err := n2.mgr.Accept(ctxT(t), c.res, f); err != nil {
		t.Fatal(err)
	}
	if err := n2.mgr.Restore(ctxT(t), c.res, f); err != nil {
		t.Fatalf("restore after accepting the loss: %v", err)
	}
}

// RecoverHint is the recovery command for the seed resource.
func RecoverHint() string { return checkpoint.RecoverCommand("Network Name DATA") }

// Rule 6: crypto key containers are checkpointed too, sealed under the
// cluster key; a node without the key refuses them with a clear error.
func TestRule6_CryptoContainerIsCheckpointedEncrypted(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1"), c.node("node2")
	container := `1\Microsoft Enhanced Cryptographic Provider v1.0\DataKeys`
	pem := []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n")
	if err := n1.ks.Put(ctxT(t), container, pem); err != nil {
		t.Fatal(err)
	}
	if err := n1.control(c.res, sdk.AddCryptoCheckpoint, container+"\x00"); err != nil {
		t.Fatal(err)
	}
	n1.online(c.res)
	rotated := append([]byte("rotated "), pem...)
	if err := n1.ks.Put(ctxT(t), strings.ToLower(container), rotated); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rotated key in the CPR", func() bool {
		d, _, err := c.stored(c.res, model.CryptoCheckpoint, 1)
		return err == nil && bytes.Equal(d.Material, rotated)
	})
	raw, _, err := c.admin.GetCheckpoint(ctxT(t), c.res.ID, model.CryptoCheckpoint, 1)
	if err != nil || bytes.Contains(raw, []byte("PRIVATE KEY")) || bytes.Contains(raw, []byte("MC4CAQAw")) || !bytes.Contains(raw, []byte(`"kind":"CPR"`)) {
		t.Fatalf("the CPR shows its plaintext or is missing: %s, %v", raw, err)
	}
	n1.offline(c.res)
	n2.online(c.res)
	if got, err := n2.ks.Get(ctxT(t), container); err != nil || !bytes.Equal(got, rotated) {
		t.Errorf("node2 keystore: %q, %v", got, err)
	}
	n2.offline(c.res)

	// Without the key: refused, with the reason.
	n3 := c.node("node3", noCryptoKey)
	f := n3.acquire(c.res.Group).Fence()
	err = n3.mgr.Restore(ctxT(t), c.res, f)
	if !errors.Is(err, checkpoint.ErrNoCryptoKey) || !strings.Contains(err.Error(), "crypto_key_file") || !strings.Contains(err.Error(), "Network Name DATA") {
		t.Errorf("restore without the key: %v", err)
	}
	if err := n3.control(c.res, sdk.AddCryptoCheckpoint, `1\Prov\Other`); !errors.Is(err, checkpoint.ErrNoCryptoKey) {
		t.Errorf("add without the key: %v", err)
	}
	n3.release(c.res.Group)
	// With another key: refused, naming both key ids.
	other := bytes.Repeat([]byte{7}, checkpoint.CryptoKeyLen)
	n4 := c.node("node4", withKey(other))
	err = n4.mgr.Restore(ctxT(t), c.res, n4.acquire(c.res.Group).Fence())
	if !errors.Is(err, checkpoint.ErrWrongCryptoKey) || !strings.Contains(err.Error(), checkpoint.KeyID(other)) {
		t.Errorf("restore with another key: %v", err)
	}
}

// Rule 7: two resources checkpointing overlapping keys would overwrite each
// other on failover: the second is refused, naming the first.
func TestRule7_OverlappingCheckpointsAreRefused(t *testing.T) {
	c := newCluster(t)
	other := c.resource("Onyone Instance 2", "onyone-2")
	n0, n1 := c.node("node0"), c.node("node1")
	n0.addCheckpoint(c.res, onyone)
	n0.online(c.res)
	n1.online(other)
	tests := []struct {
		name, path string
		ok         bool
	}{
		{"same key, other case", `software\microsoft\ONYONE`, false},
		{"a parent", `SOFTWARE\Microsoft`, false},
		{"a child", onyone + `\Data`, false},
		{"with an HKLM prefix", `HKEY_LOCAL_MACHINE\` + onyone, false},
		{"a sibling sharing a prefix", onyone + "2", true},
		{"the per-node name the seed suggests", onyone + `-node1`, true},
	}
	for _, tc := range tests {
		err := n1.control(other, sdk.AddRegistryCheckpoint, tc.path)
		if tc.ok {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, checkpoint.ErrOverlap) || !errors.Is(err, sdk.ErrInvalidParameter) || !errors.Is(err, quorum.ErrCheckpointOverlap) ||
			!strings.Contains(err.Error(), `"Network Name DATA"`) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// The refused paths were never watched nor stored.
	n1.set(onyone, "Written by", sdk.StringValue("", "instance 2"))
	if err := n1.mgr.Flush(ctxT(t), other); err != nil {
		t.Fatal(err)
	}
	es, _ := c.admin.CheckpointEntries(ctxT(t), other.ID)
	if len(es) != 2 {
		t.Errorf("instance 2 has %+v", es)
	}
	if got := c.storedStr(c.res, 1, "", "Written by"); got != "<missing>" {
		t.Errorf("instance 2 wrote into instance 1's checkpoint: %q", got)
	}
}

// hostForTest is what the plugins package gives a resource: Control goes to
// the manager.
type hostForTest struct {
	mgr *checkpoint.Manager
	ref model.Ref
}

func (h hostForTest) Control(ctx context.Context, code sdk.ControlCode, in, out []byte) (int, error) {
	return h.mgr.Control(ctx, h.ref, code, in, out)
}

// resourceForTest issues checkpoint control codes from inside its entry points.
type resourceForTest struct {
	host hostForTest
	got  []string
}

func (r *resourceForTest) Online(ctx context.Context) error {
	for _, p := range []string{onyone, onyone + "2"} {
		if _, err := r.host.Control(ctx, sdk.AddRegistryCheckpoint, []byte(p), nil); err != nil && !errors.Is(err, sdk.ErrAlreadyExists) {
			return err
		}
	}
	_, err := r.host.Control(ctx, sdk.GetRegistryCheckpoints, nil, make([]byte, 4))
	var more *sdk.MoreDataError
	if !errors.As(err, &more) {
		return fmt.Errorf("GET with a small buffer: %v", err)
	}
	out := make([]byte, more.Needed)
	n, err := r.host.Control(ctx, sdk.GetRegistryCheckpoints, nil, out)
	if err != nil {
		return err
	}
	r.got = strings.Split(strings.TrimRight(string(out[:n]), "\x00"), "\x00")
	return nil
}

func (r *resourceForTest) Offline(ctx context.Context) error {
	_, err := r.host.Control(ctx, sdk.DeleteRegistryCheckpoint, []byte(onyone+"2"), nil)
	return err
}

// Rule 8: the checkpoint control codes are answered by the host, so a
// resource can issue them from inside its entry points without deadlock;
// their errors have the Windows meanings.
func TestRule8_ControlCodesAreAnsweredByTheHost(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	ref := model.Ref{ID: c.res.ID, Name: c.res.Name}
	res := &resourceForTest{host: hostForTest{n1.mgr, ref}}

	// The monitor's order: Restore, StartOnline, the resource's Online
	// (which calls back into the host), the resource's Offline, Offline.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f := n1.acquire(c.res.Group).Fence()
	if err := n1.mgr.Restore(ctx, c.res, f); err != nil {
		t.Fatal(err)
	}
	if err := n1.mgr.StartOnline(ctx, c.res, f); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ { // the same calls from several goroutines at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &resourceForTest{host: res.host}
			if err := r.Online(ctx); err != nil {
				t.Errorf("concurrent Online: %v", err)
			}
		}()
	}
	if err := res.Online(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if want := []string{onyone, onyone + "2"}; !reflect.DeepEqual(res.got, want) {
		t.Errorf("GET returned %q, want %q", res.got, want)
	}
	// Added while online: stored at once.
	if _, _, err := c.stored(c.res, model.RegistryCheckpoint, 2); err != nil {
		t.Errorf("checkpoint added while online has no data: %v", err)
	}
	if err := res.Offline(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n1.mgr.Offline(ctx, c.res); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.stored(c.res, model.RegistryCheckpoint, 2); !errors.Is(err, quorum.ErrNotFound) {
		t.Errorf("deleted checkpoint still has data: %v", err)
	}

	// The error semantics, as a table.
	call := func(code sdk.ControlCode, in string, out []byte) (int, error) {
		return n1.mgr.Control(ctx, ref, code, []byte(in), out)
	}
	buf := make([]byte, 100)
	n, err := call(sdk.GetRegistryCheckpoints, "", buf)
	if err != nil || string(buf[:n]) != onyone+"\x00\x00" {
		t.Errorf("GET = %q, %v", buf[:n], err)
	}
	_, errSmall := call(sdk.GetRegistryCheckpoints, "", make([]byte, len(onyone)+1))
	n, errCrypto := call(sdk.GetCryptoCheckpoints, "", make([]byte, 1))
	var more *sdk.MoreDataError
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"add existing", second(call(sdk.AddRegistryCheckpoint, `software\MICROSOFT\onyone`, nil)), sdk.ErrAlreadyExists},
		{"delete missing", second(call(sdk.DeleteRegistryCheckpoint, `SOFTWARE\Nothing`, nil)), sdk.ErrNotFound},
		{"delete missing crypto", second(call(sdk.DeleteCryptoCheckpoint, `1\P\C`, nil)), sdk.ErrNotFound},
		{"GET too small", errSmall, sdk.ErrMoreData},
		{"empty crypto GET fits one byte", errCrypto, nil},
		{"unknown code", second(call(0x00000001, "", nil)), sdk.ErrInvalidFunction},
		{"bad path", second(call(sdk.AddRegistryCheckpoint, `A\\B`, nil)), sdk.ErrInvalidParameter},
		{"root", second(call(sdk.AddRegistryCheckpoint, `HKLM`, nil)), sdk.ErrInvalidParameter},
		{"bad container", second(call(sdk.AddCryptoCheckpoint, `only\two`, nil)), sdk.ErrInvalidParameter},
	}
	for _, tc := range tests {
		if tc.want == nil && tc.err != nil || tc.want != nil && !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if !errors.As(errSmall, &more) || more.Needed != len(onyone)+2 {
		t.Errorf("MoreDataError: %#v", errSmall)
	}
	if n != 1 {
		t.Errorf("empty GET wrote %d bytes, want 1 (the terminating NUL)", n)
	}
	if _, err := n1.mgr.Control(ctx, model.Ref{ID: "00000000-0000-0000-0000-000000000000", Name: "gone"}, sdk.GetRegistryCheckpoints, nil, nil); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("GET for a missing resource: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// Rule 9: Offline stores a last copy while the node still owns the group.
func TestRule9_OfflineSavesFinalCopy(t *testing.T) {
	c := newCluster(t)
	// A save interval far longer than the test: only the first change of a
	// burst is saved by the watcher; the rest waits for Offline.
	n1 := c.node("node1", saveInterval(time.Hour))
	n1.addCheckpoint(c.res, onyone)
	f := n1.online(c.res)
	n1.set(onyone, "Step", sdk.StringValue("", "first"))
	eventually(t, "the first change", func() bool { return c.storedStr(c.res, 1, "", "Step") == "first" })
	n1.set(onyone, "Step", sdk.StringValue("", "last"))
	if got := c.storedStr(c.res, 1, "", "Step"); got != "first" {
		t.Fatalf("stored %q before Offline; the test needs the watcher to be waiting", got)
	}
	if err := n1.mgr.Offline(ctxT(t), c.res); err != nil {
		t.Fatal(err)
	}
	d, m, err := c.stored(c.res, model.RegistryCheckpoint, 1)
	if err != nil || d.Tree == nil {
		t.Fatal(err)
	}
	if v, _ := d.Tree.Value("", "Step"); v.Str != "last" || m.Token != f.Token || m.Group != f.Group {
		t.Errorf("after Offline: Step %q, written with token %d (fence %d)", v.Str, m.Token, f.Token)
	}
	n1.release(c.res.Group)
	n1.set(onyone, "Step", sdk.StringValue("", "after offline"))
	if got := c.storedStr(c.res, 1, "", "Step"); got != "last" {
		t.Errorf("a change after Offline was stored: %q", got)
	}
}

// Rule 10: the CPT/CPR data is re-created, for one resource or all, from the
// registry of the node that owns each resource — online, offline or failed —
// after it was lost, deleted or corrupted. Corruption is detected, never
// restored, and the error names the recovery command.
func TestRule10_RecoveryFromOwnerRegistry(t *testing.T) {
	damages := []struct {
		name    string
		damage  func(c *cluster, n *node)
		corrupt bool // Restore must refuse it
	}{
		{"deleted by someone", func(c *cluster, n *node) {
			c.raw.Delete(ctxT(c.t), c.admin.Keys().ResourceCheckpoints(c.res.ID), clientv3.WithPrefix())
		}, false},
		{"lost with the whole quorum data", func(c *cluster, n *node) {
			c.raw.Delete(ctxT(c.t), c.admin.Keys().Checkpoints(), clientv3.WithPrefix())
		}, false},
		{"corrupt chunk", func(c *cluster, n *node) {
			key := c.admin.Keys().CheckpointData(c.res.ID, model.RegistryCheckpoint, 1) + "0000000000000000/00000000"
			resp, _ := c.raw.Get(ctxT(c.t), key)
			b := append([]byte(nil), resp.Kvs[0].Value...)
			b[len(b)/2] ^= 1
			c.raw.Put(ctxT(c.t), key, string(b))
		}, true},
		{"corrupt document with a valid manifest", func(c *cluster, n *node) {
			raw, _, _ := c.admin.GetCheckpoint(ctxT(c.t), c.res.ID, model.RegistryCheckpoint, 1)
			bad := bytes.Replace(raw, []byte(`"data":"v2"`), []byte(`"data":"v9"`), 1)
			if bytes.Equal(bad, raw) {
				c.t.Fatal("nothing to tamper with")
			}
			if _, err := c.admin.PutCheckpoint(ctxT(c.t), n.own[c.res.Group].Fence(), c.res.ID, model.RegistryCheckpoint, 1, "intruder", bad); err != nil {
				c.t.Fatal(err)
			}
		}, true},
	}
	for _, tc := range damages {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			n1, n2 := c.node("node1"), c.node("node2")
			n1.addCheckpoint(c.res, onyone)
			n1.online(c.res)
			n1.set(onyone, "Version", sdk.StringValue("", "v2"))
			n1.offline(c.res)
			n1.acquire(c.res.Group) // offline, still owned by node1

			tc.damage(c, n1)
			if tc.corrupt {
				err := n1.mgr.Restore(ctxT(t), c.res, n1.own[c.res.Group].Fence())
				if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), RecoverHint()) || !strings.Contains(err.Error(), "00000001.CPT") {
					t.Fatalf("restore of corrupt data: %v", err)
				}
				if ev := events(t, c.admin, "checkpoint.corrupt"); len(ev) != 1 || ev[0].Subject != "Network Name DATA" || ev[0].Fields["recover"] != RecoverHint() {
					t.Errorf("corrupt events: %+v", ev)
				}
				n1.set(onyone, "Version", sdk.StringValue("", "v3")) // the registry was not touched, and moves on
			}
			results, err := checkpoint.Recover(ctxT(t), c.admin, "Network Name DATA", "test")
			if err != nil || len(results) != 1 || results[0].Err() != nil || results[0].Node != "node1" ||
				!reflect.DeepEqual(results[0].Checkpoints, []string{`00000001.CPT ` + onyone}) {
				t.Fatalf("recover: %+v, %v", results, err)
			}
			want := n1.str(onyone, "Version")
			n1.release(c.res.Group)
			n2.online(c.res)
			if got := n2.str(onyone, "Version"); got != want {
				t.Errorf("node2 restored %q, want the owner's %q", got, want)
			}
			if ev := events(t, c.admin, "checkpoint.recovered"); len(ev) != 1 {
				t.Errorf("recovered events: %+v", ev)
			}
		})
	}

	t.Run("all resources, online and offline, from their owners", func(t *testing.T) {
		c := newCluster(t)
		second := c.resource("Onyone Reports", "reports")
		c.resource("No Checkpoints", "reports")
		n1, n2 := c.node("node1"), c.node("node2")
		n1.addCheckpoint(c.res, onyone)
		n2.addCheckpoint(second, `SOFTWARE\Reports`)
		n1.online(c.res)
		n2.online(second) // stays online during the recovery
		n1.set(onyone, "Owner", sdk.StringValue("", "node1"))
		n2.set(`SOFTWARE\Reports`, "Owner", sdk.StringValue("", "node2"))
		n1.offline(c.res)
		n1.acquire(c.res.Group)
		c.raw.Delete(ctxT(t), c.admin.Keys().Checkpoints(), clientv3.WithPrefix())

		results, err := checkpoint.Recover(ctxT(t), c.admin, "", "test")
		if err != nil || len(results) != 3 {
			t.Fatalf("recover all: %+v, %v", results, err)
		}
		for _, r := range results {
			if r.Err() != nil {
				t.Errorf("%s: %v", r.Resource, r.Err())
			}
		}
		if results[0].Resource != "Network Name DATA" || results[0].Node != "node1" || results[2].Resource != "Onyone Reports" || results[2].Node != "node2" {
			t.Errorf("results: %+v", results)
		}
		if got := c.storedStr(c.res, 1, "", "Owner"); got != "node1" {
			t.Errorf("Network Name DATA recovered %q", got)
		}
		if got := c.storedStr(second, 1, "", "Owner"); got != "node2" {
			t.Errorf("Onyone Reports recovered %q", got)
		}
		// An owner that is gone: a per-resource error, the others still done.
		n2.release(second.Group)
		results, err = checkpoint.Recover(ctxT(t), c.admin, "onyone reports", "test")
		if err != nil || len(results) != 1 || results[0].Err() == nil || !strings.Contains(results[0].Error, "has no owner") {
			t.Errorf("recover without an owner: %+v, %v", results, err)
		}
	})
}

// TestCorruptCheckpointNeverReachesTheRegistry checks that a corrupt
// checkpoint among good ones stops the whole restore before any subtree is
// written.
func TestCorruptCheckpointNeverReachesTheRegistry(t *testing.T) {
	c := newCluster(t)
	n1, n2 := c.node("node1"), c.node("node2")
	n1.addCheckpoint(c.res, onyone)
	n1.addCheckpoint(c.res, onyone+"2")
	n1.online(c.res)
	n1.set(onyone, "V", sdk.StringValue("", "good"))
	n1.set(onyone+"2", "V", sdk.StringValue("", "good"))
	n1.offline(c.res)
	key := c.admin.Keys().CheckpointData(c.res.ID, model.RegistryCheckpoint, 2) + "0000000000000000/00000000"
	c.raw.Put(ctxT(t), key, "garbage")

	n2.set(onyone, "V", sdk.StringValue("", "node2's own"))
	err := n2.mgr.Restore(ctxT(t), c.res, n2.acquire(c.res.Group).Fence())
	if !errors.Is(err, checkpoint.ErrCorrupt) || !errors.Is(err, quorum.ErrCorruptCheckpoint) || !strings.Contains(err.Error(), "00000002.CPT") {
		t.Fatalf("restore: %v", err)
	}
	if got := n2.str(onyone, "V"); got != "node2's own" {
		t.Errorf("the good checkpoint was applied although the restore failed: %q", got)
	}
	if err := n2.mgr.StartOnline(ctxT(t), c.res, n2.own[c.res.Group].Fence()); !errors.Is(err, checkpoint.ErrNotRestored) {
		t.Errorf("StartOnline after a failed restore: %v", err)
	}
}

// TestRestoreSuspendsFlushes: while a backup restore rewrites the database,
// a resource online here gets no confirmation that its changes are stored
// (the restore may overwrite them); when the restore completes, its
// registry is stored afresh over the restored copy and flushes confirm
// again. (A flush once confirmed a save that the restore then overwrote.)
func TestRestoreSuspendsFlushes(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	n1.addCheckpoint(c.res, onyone)
	n1.online(c.res)
	n1.set(onyone, "Version", sdk.StringValue("", "v1"))
	if err := n1.control(c.res, sdk.FlushCheckpoints, ""); err != nil {
		t.Fatal(err)
	}
	backup := t.TempDir() + "/backup"
	if _, err := c.admin.Backup(ctxT(t), backup); err != nil {
		t.Fatal(err)
	}
	marker := c.admin.Keys().Meta("restore")
	if _, err := c.raw.Put(ctxT(t), marker, `{"status":"in-progress","from":"test"}`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "flushes refused while the restore runs", func() bool {
		return errors.Is(n1.control(c.res, sdk.FlushCheckpoints, ""), checkpoint.ErrSuspended)
	})
	n1.set(onyone, "Version", sdk.StringValue("", "v2"))
	if _, err := c.admin.Restore(ctxT(t), backup, true); err != nil { // ends with the marker complete
		t.Fatal(err)
	}
	eventually(t, "the registry stored over the restored copy", func() bool {
		stale, _ := checkpoint.StaleCheckpoints(ctxT(t), c.admin)
		return len(stale) == 0 && c.storedStr(c.res, 1, "", "Version") == "v2"
	})
	if err := n1.control(c.res, sdk.FlushCheckpoints, ""); err != nil {
		t.Fatalf("flush after the restore: %v", err)
	}
}
