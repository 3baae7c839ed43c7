package quorum_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func seedSecond(t *testing.T, s *quorum.Store, name string, registry ...string) model.Resource {
	t.Helper()
	r, err := s.CreateResource(ctxT(t), model.Resource{Name: name, Type: "app", Group: "data", Properties: model.DefaultProperties(), RegistryCheckpoints: registry})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheckpointIndexAddRemove(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	r := seedDB(t, s)
	for i, p := range []string{`SOFTWARE\Microsoft\onyone`, `SOFTWARE\Microsoft\onyone2`} {
		e, err := s.AddCheckpoint(ctx, r.ID, model.RegistryCheckpoint, p)
		if err != nil {
			t.Fatal(err)
		}
		if want := (quorum.CheckpointEntry{Kind: model.RegistryCheckpoint, Number: uint32(i + 1), Path: p}); e != want {
			t.Errorf("entry %+v, want %+v", e, want)
		}
	}
	if _, err := s.AddCheckpoint(ctx, r.ID, model.RegistryCheckpoint, `software\MICROSOFT\Onyone`); !errors.Is(err, quorum.ErrExists) {
		t.Errorf("adding it again (other case) = %v, want ErrExists", err)
	}
	c, err := s.AddCheckpoint(ctx, r.ID, model.CryptoCheckpoint, `1\Microsoft Enhanced Cryptographic Provider v1.0\DataKeys`)
	if err != nil || c.Number != 1 {
		t.Fatalf("crypto checkpoint: %+v, %v", c, err)
	}
	rec, _ := s.Resource(ctx, r.ID)
	if want := []string{`SOFTWARE\Microsoft\onyone`, `SOFTWARE\Microsoft\onyone2`}; !reflect.DeepEqual(rec.Value.RegistryCheckpoints, want) {
		t.Errorf("record lists %q", rec.Value.RegistryCheckpoints)
	}
	got, err := s.CheckpointEntries(ctx, r.ID)
	if err != nil || len(got) != 3 || got[0].Number != 1 || got[1].Number != 2 || got[2].Kind != model.CryptoCheckpoint {
		t.Fatalf("entries %+v, %v", got, err)
	}
	num, _ := s.RawClient().Get(ctx, s.Keys().CheckpointNumber(r.ID, model.RegistryCheckpoint, 2))
	if len(num.Kvs) != 1 || string(num.Kvs[0].Value) != `SOFTWARE\Microsoft\onyone2` {
		t.Errorf("number key: %v", num.Kvs)
	}

	// Removing one deletes its data too, and frees its number.
	key := s.Keys().Checkpoint(r.ID, model.RegistryCheckpoint, 1)
	if _, err := s.RawClient().Put(ctx, key, "manifest"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RawClient().Put(ctx, s.Keys().CheckpointData(r.ID, model.RegistryCheckpoint, 1)+"0000000000000000/00000000", "x"); err != nil {
		t.Fatal(err)
	}
	e, err := s.RemoveCheckpoint(ctx, r.ID, model.RegistryCheckpoint, `SOFTWARE\MICROSOFT\ONYONE`)
	if err != nil || e.Number != 1 {
		t.Fatalf("remove: %+v, %v", e, err)
	}
	left, _ := s.RawClient().Get(ctx, s.Keys().ResourceCheckpoints(r.ID), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if left.Count != 0 {
		t.Errorf("%d checkpoint data keys left after remove", left.Count)
	}
	if _, err := s.RemoveCheckpoint(ctx, r.ID, model.RegistryCheckpoint, `SOFTWARE\Microsoft\onyone`); !errors.Is(err, quorum.ErrNotFound) {
		t.Errorf("removing it again = %v, want ErrNotFound", err)
	}
	e, err = s.AddCheckpoint(ctx, r.ID, model.RegistryCheckpoint, `SOFTWARE\Other`)
	if err != nil || e.Number != 1 {
		t.Errorf("re-add takes the free number 1: %+v, %v", e, err)
	}
	for _, bad := range []string{``, `\SOFTWARE`, `A\\B`, strings.Repeat(`a\`, quorum.MaxCheckpointPathDepth) + "a"} {
		if _, err := s.AddCheckpoint(ctx, r.ID, model.RegistryCheckpoint, bad); err == nil {
			t.Errorf("AddCheckpoint(%.30q) succeeded", bad)
		}
	}
}

func TestCheckpointIndexOverlap(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	a := seedDB(t, s)
	b := seedSecond(t, s, "Other App")
	if _, err := s.AddCheckpoint(ctx, a.ID, model.RegistryCheckpoint, `SOFTWARE\Microsoft\onyone`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path     string
		kind     model.CheckpointKind
		id       string
		relation string // "" means accepted
	}{
		{`software\microsoft\ONYONE`, model.RegistryCheckpoint, b.ID, "is the same key as"},
		{`SOFTWARE\Microsoft`, model.RegistryCheckpoint, b.ID, "contains"},
		{`SOFTWARE`, model.RegistryCheckpoint, b.ID, "contains"},
		{`SOFTWARE\Microsoft\onyone\Clients`, model.RegistryCheckpoint, b.ID, "is inside"},
		{`SOFTWARE\Microsoft\onyone\Clients`, model.RegistryCheckpoint, a.ID, "is inside"}, // the same resource
		{`SOFTWARE\Microsoft\onyone2`, model.RegistryCheckpoint, b.ID, ""},                 // a sibling with a common prefix
		{`SOFTWARE\Microsoft\onyone`, model.CryptoCheckpoint, b.ID, ""},                    // another kind
	}
	for _, tc := range tests {
		_, err := s.AddCheckpoint(ctx, tc.id, tc.kind, tc.path)
		if tc.relation == "" {
			if err != nil {
				t.Errorf("%s %q: %v", tc.kind, tc.path, err)
			}
			continue
		}
		var oe *quorum.CheckpointOverlapError
		if !errors.As(err, &oe) || !errors.Is(err, quorum.ErrCheckpointOverlap) {
			t.Errorf("%s %q: error %v, want a CheckpointOverlapError", tc.kind, tc.path, err)
			continue
		}
		if oe.Relation != tc.relation || oe.ResourceName != "Network Name DATA" || oe.Self != (tc.id == a.ID) ||
			!strings.Contains(err.Error(), `"Network Name DATA"`) {
			t.Errorf("%s %q: %+v\n%v", tc.kind, tc.path, oe, err)
		}
	}
	// Nothing of the refused adds reached the record.
	rec, _ := s.Resource(ctx, b.ID)
	if want := []string{`SOFTWARE\Microsoft\onyone2`}; !reflect.DeepEqual(rec.Value.RegistryCheckpoints, want) {
		t.Errorf("record of the refused resource lists %q", rec.Value.RegistryCheckpoints)
	}
}

// TestCheckpointIndexOverlapConcurrent races two resources adding
// overlapping paths: whatever the interleaving, no two claims overlap.
func TestCheckpointIndexOverlapConcurrent(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	ids := []string{seedDB(t, s).ID, seedSecond(t, s, "B").ID, seedSecond(t, s, "C").ID}
	paths := []string{`S`, `S\A`, `S\A\X`, `S\B`, `S\A\Y`, `T`, `S\B\Z`, `T\1`}
	var wg sync.WaitGroup
	for _, id := range ids {
		for _, p := range paths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.AddCheckpoint(ctx, id, model.RegistryCheckpoint, p); err != nil && !errors.Is(err, quorum.ErrCheckpointOverlap) {
					t.Errorf("add %q: %v", p, err)
				}
			}()
		}
	}
	wg.Wait()
	resp, err := s.RawClient().Get(ctx, s.Keys().CheckpointPaths(model.RegistryCheckpoint), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var claimed []string
	for _, kv := range resp.Kvs {
		claimed = append(claimed, strings.TrimPrefix(string(kv.Key), s.Keys().CheckpointPaths(model.RegistryCheckpoint)))
	}
	if len(claimed) == 0 {
		t.Fatal("nothing claimed")
	}
	for i, p := range claimed {
		for _, q := range claimed[i+1:] {
			if p == q || strings.HasPrefix(q, p+`\`) || strings.HasPrefix(p, q+`\`) {
				t.Errorf("overlapping claims %q and %q", p, q)
			}
		}
	}
	// Every record lists exactly its claims.
	total := 0
	for _, id := range ids {
		rec, _ := s.Resource(ctx, id)
		es, _ := s.CheckpointEntries(ctx, id)
		if len(es) != len(rec.Value.RegistryCheckpoints) {
			t.Errorf("resource %s: %d entries, record lists %q", id, len(es), rec.Value.RegistryCheckpoints)
		}
		total += len(es)
	}
	if total != len(claimed) {
		t.Errorf("%d entries for %d claims", total, len(claimed))
	}
}

func TestSyncCheckpointsFollowsTheRecord(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	seedDB(t, s)
	// As written from cluster.toml: listed, not yet claimed.
	r := seedSecond(t, s, "Seeded", `SOFTWARE\A`, `SOFTWARE\B`)
	if es, _ := s.CheckpointEntries(ctx, r.ID); len(es) != 0 {
		t.Fatalf("entries before sync: %+v", es)
	}
	es, err := s.SyncCheckpoints(ctx, r.ID)
	if err != nil || len(es) != 2 || es[0].Path != `SOFTWARE\A` || es[1].Number != 2 {
		t.Fatalf("sync: %+v, %v", es, err)
	}
	// An operator edits the record by hand: B goes, C comes.
	rec, _ := s.Resource(ctx, r.ID)
	rec.Value.RegistryCheckpoints = []string{`SOFTWARE\A`, `SOFTWARE\C`}
	if err := s.UpdateResource(ctx, rec.Value, rec.ModRevision); err != nil {
		t.Fatal(err)
	}
	es, err = s.SyncCheckpoints(ctx, r.ID)
	want := []quorum.CheckpointEntry{{Kind: model.RegistryCheckpoint, Number: 1, Path: `SOFTWARE\A`}, {Kind: model.RegistryCheckpoint, Number: 2, Path: `SOFTWARE\C`}}
	if err != nil || !reflect.DeepEqual(es, want) {
		t.Fatalf("after edit: %+v, %v", es, err)
	}
	claim, _ := s.RawClient().Get(ctx, s.Keys().CheckpointPath(model.RegistryCheckpoint, `SOFTWARE\B`))
	if len(claim.Kvs) != 0 {
		t.Error("the claim on B survived its removal from the record")
	}
	// Two seeded resources listing overlapping keys: the second is refused.
	x := seedSecond(t, s, "Overlapping", `SOFTWARE\A\Sub`)
	if _, err := s.SyncCheckpoints(ctx, x.ID); !errors.Is(err, quorum.ErrCheckpointOverlap) || !strings.Contains(err.Error(), `"Seeded"`) {
		t.Errorf("overlapping seeded checkpoint: %v", err)
	}
}

func TestDeleteResourceRemovesCheckpointIndex(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	r := seedDB(t, s)
	other := seedSecond(t, s, "Other")
	for _, p := range []string{`SOFTWARE\Microsoft\onyone`, `SOFTWARE\Microsoft\onyone2`} {
		if _, err := s.AddCheckpoint(ctx, r.ID, model.RegistryCheckpoint, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteResource(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{s.Keys().CheckpointPaths(model.RegistryCheckpoint), s.Keys().CheckpointNumbers(r.ID)} {
		resp, _ := s.RawClient().Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if resp.Count != 0 {
			t.Errorf("%d keys left under %s", resp.Count, prefix)
		}
	}
	if _, err := s.AddCheckpoint(ctx, other.ID, model.RegistryCheckpoint, `SOFTWARE\Microsoft`); err != nil {
		t.Errorf("the freed keys cannot be claimed: %v", err)
	}
	// A claim left by a resource that no longer exists heals itself.
	ghost := s.Keys().CheckpointPath(model.RegistryCheckpoint, `GHOST`)
	if _, err := s.RawClient().Put(ctx, ghost, "00000000-0000-0000-0000-000000000000"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddCheckpoint(ctx, other.ID, model.RegistryCheckpoint, `GHOST\x`); err != nil {
		t.Errorf("a stale claim blocks the add: %v", err)
	}
}

func ExampleStore_AddCheckpoint() {
	var s *quorum.Store // connected to the cluster
	_ = s
	e := quorum.CheckpointEntry{Kind: model.RegistryCheckpoint, Number: 1, Path: `SOFTWARE\Microsoft\onyone`}
	fmt.Println(e)
	// Output: 00000001.CPT SOFTWARE\Microsoft\onyone
}

// seededThrough is a cptEnv on a fresh etcd whose requests go through the
// KV wrap returns, with seedDB's database.
func seededThrough(t *testing.T, wrap func(clientv3.KV) clientv3.KV) *cptEnv {
	t.Helper()
	_, cli := quorumtest.Start(t)
	cli.KV = wrap(cli.KV)
	e := newCPTEnvOn(t, cli)
	seedDB(t, e.store)
	return e
}

// countingKV counts the requests a Store makes through it.
type countingKV struct {
	clientv3.KV
	mu sync.Mutex
	n  int
}

func (c *countingKV) count() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *countingKV) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	c.count()
	return c.KV.Get(ctx, key, opts...)
}

func (c *countingKV) Txn(ctx context.Context) clientv3.Txn {
	c.count()
	return c.KV.Txn(ctx)
}

// TestLoadCheckpointsReadsWhatSyncAndGetRead: LoadCheckpoints returns what
// SyncCheckpoints and a GetCheckpoint of each entry return — numbering
// what the record lists, data missing, corrupt, spread over several chunks
// or past what its one request reads — and reads a resource with small
// checkpoints in one request.
func TestLoadCheckpointsReadsWhatSyncAndGetRead(t *testing.T) {
	kv := &countingKV{}
	e := seededThrough(t, func(inner clientv3.KV) clientv3.KV { kv.KV = inner; return kv })
	s, ctx, cli := e.store, ctxT(t), e.cli
	var paths []string
	for i := range 10 {
		paths = append(paths, fmt.Sprintf(`SOFTWARE\load\k%d`, i))
	}
	r := seedSecond(t, s, "loaded", paths...)

	same := func(step string) {
		t.Helper()
		got, err := s.LoadCheckpoints(ctx, r.ID)
		if err != nil {
			t.Fatalf("%s: LoadCheckpoints: %v", step, err)
		}
		entries, err := s.SyncCheckpoints(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(entries) {
			t.Fatalf("%s: %d checkpoints loaded, %d in the index", step, len(got), len(entries))
		}
		for i, want := range entries {
			data, man, err := s.GetCheckpoint(ctx, r.ID, want.Kind, want.Number)
			g := got[i]
			if g.Entry != want || !bytes.Equal(g.Data, data) || !reflect.DeepEqual(g.Manifest, man) || fmt.Sprint(g.Err) != fmt.Sprint(err) {
				t.Errorf("%s: %s loaded as %+v (%d bytes, %v), GetCheckpoint reads %+v (%d bytes, %v)",
					step, want, g.Entry, len(g.Data), g.Err, man, len(data), err)
			}
		}
	}
	same("nothing numbered yet")
	same("numbered, no data")

	payload := func(i int) []byte {
		if i == 1 {
			return bytes.Repeat([]byte("big"), quorum.ChunkSize) // three chunks
		}
		return []byte(fmt.Sprintf("data of checkpoint %d", i))
	}
	for i := range paths {
		if _, err := s.PutCheckpoint(ctx, e.fence, r.ID, model.RegistryCheckpoint, uint32(i+1), cptNode, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	same("stored, more keys than one request reads")

	// Few small checkpoints: one request.
	small := seedSecond(t, s, "small", `SOFTWARE\load\small1`, `SOFTWARE\load\small2`)
	if _, err := s.SyncCheckpoints(ctx, small.ID); err != nil {
		t.Fatal(err)
	}
	for n := uint32(1); n <= 2; n++ {
		if _, err := s.PutCheckpoint(ctx, e.fence, small.ID, model.RegistryCheckpoint, n, cptNode, []byte("small")); err != nil {
			t.Fatal(err)
		}
	}
	before := kv.requests()
	got, err := s.LoadCheckpoints(ctx, small.ID)
	if n := kv.requests() - before; err != nil || n != 1 || len(got) != 2 || string(got[0].Data) != "small" || got[1].Err != nil {
		t.Fatalf("two small checkpoints: %d requests, %+v, %v (want one request, both read)", n, got, err)
	}

	// Corrupt: a chunk gone, a stray key in a generation, a manifest gone.
	chunks := func(n uint32) []string {
		return e.keysUnder(e.keys.CheckpointData(r.ID, model.RegistryCheckpoint, n))
	}
	if _, err := cli.Delete(ctx, chunks(1)[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, chunks(3)[0]+"x", "stray"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, e.keys.Checkpoint(r.ID, model.RegistryCheckpoint, 4)); err != nil {
		t.Fatal(err)
	}
	same("corrupt and missing")
	got, _ = s.LoadCheckpoints(ctx, r.ID)
	if !errors.Is(got[0].Err, quorum.ErrCorruptCheckpoint) || !errors.Is(got[2].Err, quorum.ErrCorruptCheckpoint) || !errors.Is(got[3].Err, quorum.ErrNotFound) || got[1].Err != nil {
		t.Fatalf("errors: %v / %v / %v / %v", got[0].Err, got[1].Err, got[2].Err, got[3].Err)
	}
}

// heldKV holds every Txn's Commit while hold is set, and records the
// operations of each Txn begun.
type heldKV struct {
	clientv3.KV
	mu   sync.Mutex
	hold chan struct{} // nil: commits go through
	ops  []int         // the operations of each Txn, in order
}

type heldTxn struct {
	clientv3.Txn
	kv *heldKV
	i  int
}

func (h *heldKV) Txn(ctx context.Context) clientv3.Txn {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, 0)
	return &heldTxn{Txn: h.KV.Txn(ctx), kv: h, i: len(h.ops) - 1}
}

func (t *heldTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	t.kv.mu.Lock()
	t.kv.ops[t.i] += len(ops)
	t.kv.mu.Unlock()
	t.Txn = t.Txn.Then(ops...)
	return t
}

func (t *heldTxn) Commit() (*clientv3.TxnResponse, error) {
	t.kv.mu.Lock()
	hold := t.kv.hold
	t.kv.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return t.Txn.Commit()
}

func (h *heldKV) txnOps() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// TestLoadCheckpointsMergesReadsMadeTogether: the reads of LoadCheckpoints
// calls made while others are in flight go to etcd together, a few
// resources per Txn, each call getting its own resource's checkpoints.
func TestLoadCheckpointsMergesReadsMadeTogether(t *testing.T) {
	kv := &heldKV{}
	e := seededThrough(t, func(inner clientv3.KV) clientv3.KV { kv.KV = inner; return kv })
	s, ctx := e.store, ctxT(t)
	const n = 40
	var ids []string
	for i := range n {
		r := seedSecond(t, s, fmt.Sprintf("merged%d", i), fmt.Sprintf(`SOFTWARE\merged\r%d`, i))
		if _, err := s.SyncCheckpoints(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutCheckpoint(ctx, e.fence, r.ID, model.RegistryCheckpoint, 1, cptNode, []byte(r.Name)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	before := len(kv.txnOps())
	hold := make(chan struct{})
	kv.mu.Lock()
	kv.hold = hold
	kv.mu.Unlock()
	type result struct {
		i   int
		got []quorum.LoadedCheckpoint
		err error
	}
	results := make(chan result, n)
	for i, id := range ids {
		go func() {
			got, err := s.LoadCheckpoints(ctx, id)
			results <- result{i, got, err}
		}()
	}
	// Every call is either waiting or in a held Txn (4 operations each).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		held := 0
		for _, o := range kv.txnOps()[before:] {
			held += o
		}
		if quorum.LoadsWaiting(s)+held/4 == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d loads waiting and %d operations held; want %d loads", quorum.LoadsWaiting(s), held, n)
		}
	}
	close(hold)
	for range n {
		r := <-results
		if r.err != nil || len(r.got) != 1 || string(r.got[0].Data) != fmt.Sprintf("merged%d", r.i) {
			t.Fatalf("load of merged%d: %+v, %v", r.i, r.got, r.err)
		}
	}
	txns := kv.txnOps()[before:]
	if len(txns) >= n/2 {
		t.Fatalf("%d loads read in %d Txns (operations %v): want them merged", n, len(txns), txns)
	}
}
