package quorum_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	cptCluster = "c1"
	cptGroup   = "g1"
	cptNode    = "n1"
)

// cptEnv is a real embedded etcd, a Store on it and a current fence of cptGroup.
type cptEnv struct {
	t     testing.TB
	cli   *clientv3.Client
	store *quorum.Store
	keys  quorum.Keys
	fence model.Fence
}

func newCPTEnv(t testing.TB) *cptEnv {
	t.Helper()
	_, cli := quorumtest.Start(t)
	return newCPTEnvOn(t, cli)
}

// newCPTEnvOn is newCPTEnv on a given client.
func newCPTEnvOn(t testing.TB, cli *clientv3.Client) *cptEnv {
	t.Helper()
	st, err := quorum.NewStore(cli, cptCluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &cptEnv{t: t, cli: cli, store: st, keys: st.Keys()}
	e.fence = e.takeOwnership()
	return e
}

// takeOwnership (re)creates the owner key of cptGroup the way an owner would,
// and returns the fence of that ownership: its CreateRevision is the token.
func (e *cptEnv) takeOwnership() model.Fence {
	e.t.Helper()
	ctx := context.Background()
	key := e.keys.Owner(cptGroup)
	if _, err := e.cli.Delete(ctx, key); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.cli.Put(ctx, key, cptNode); err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.cli.Get(ctx, key)
	if err != nil {
		e.t.Fatal(err)
	}
	return model.Fence{Group: cptGroup, Token: resp.Kvs[0].CreateRevision}
}

// keysUnder returns the keys under prefix, sorted.
func (e *cptEnv) keysUnder(prefix string) []string {
	e.t.Helper()
	resp, err := e.cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = string(kv.Key)
	}
	return out
}

func cptPayload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestCheckpointRoundTrip(t *testing.T) {
	e := newCPTEnv(t)
	ctx := context.Background()
	sizes := []int{0, 1 << 10, 64 << 10, 1 << 20, 1<<20 + 1, 5 << 20}
	for i, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			id := fmt.Sprintf("res-%d", i)
			data := cptPayload(n, uint64(i))
			m, err := e.store.PutCheckpoint(ctx, e.fence, id, model.RegistryCheckpoint, 1, cptNode, data)
			if err != nil {
				t.Fatalf("put %d bytes: %v", n, err)
			}
			wantChunks := (n + quorum.ChunkSize - 1) / quorum.ChunkSize
			if m.Size != int64(n) || m.Chunks != wantChunks || m.Token != e.fence.Token || m.Node != cptNode || m.Restored {
				t.Fatalf("manifest %+v: want size %d, %d chunks, token %d", m, n, wantChunks, e.fence.Token)
			}
			got, gm, err := e.store.GetCheckpoint(ctx, id, model.RegistryCheckpoint, 1)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes that differ from the %d written", len(got), n)
			}
			if gm.Generation != m.Generation || gm.SHA256 != m.SHA256 || !gm.Time.Equal(m.Time) {
				t.Fatalf("read manifest %+v, wrote %+v", gm, m)
			}
			data2 := e.keysUnder(e.keys.CheckpointData(id, model.RegistryCheckpoint, 1))
			if len(data2) != wantChunks {
				t.Fatalf("%d chunk keys stored, want %d: %v", len(data2), wantChunks, data2)
			}
			// The manifest is plain JSON for etcdctl readers.
			raw, err := e.cli.Get(ctx, e.keys.Checkpoint(id, model.RegistryCheckpoint, 1))
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(raw.Kvs[0].Value) || !bytes.Contains(raw.Kvs[0].Value, []byte(`"sha256":"`+m.SHA256+`"`)) {
				t.Fatalf("manifest value is not the expected JSON: %s", raw.Kvs[0].Value)
			}
		})
	}
}

func TestCheckpointTooLarge(t *testing.T) {
	e := newCPTEnv(t)
	_, err := e.store.PutCheckpoint(context.Background(), e.fence, "big", model.RegistryCheckpoint, 1, cptNode, make([]byte, quorum.MaxCheckpointSize+1))
	if !errors.Is(err, quorum.ErrCheckpointTooLarge) {
		t.Fatalf("got %v, want ErrCheckpointTooLarge", err)
	}
}

func TestCheckpointOverwriteRemovesOldGenerations(t *testing.T) {
	e := newCPTEnv(t)
	ctx := context.Background()
	dataPrefix := e.keys.CheckpointData("r", model.RegistryCheckpoint, 1)
	// Leftovers of interrupted large writes, on both sides of any generation.
	for _, k := range []string{"0000000000000000/00000000", "ffffffffffffffff/00000000", "ffffffffffffffff/00000001"} {
		if _, err := e.cli.Put(ctx, dataPrefix+k, "orphan"); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range []int{5 << 20, 1 << 10, 3<<20 + 7, 0, 64 << 10} {
		data := cptPayload(n, uint64(100+i))
		m, err := e.store.PutCheckpoint(ctx, e.fence, "r", model.RegistryCheckpoint, 1, cptNode, data)
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		keys := e.keysUnder(dataPrefix)
		if len(keys) != m.Chunks {
			t.Fatalf("after put %d (%d bytes): %d chunk keys, want %d: %v", i, n, len(keys), m.Chunks, keys)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, dataPrefix+m.Generation+"/") {
				t.Fatalf("after put %d: key %s is not of generation %s", i, k, m.Generation)
			}
		}
		got, _, err := e.store.GetCheckpoint(ctx, "r", model.RegistryCheckpoint, 1)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("after put %d: read %d bytes, err %v", i, len(got), err)
		}
	}
	// Checkpoints next to each other are untouched by those range deletes.
	if _, err := e.store.PutCheckpoint(ctx, e.fence, "r", model.RegistryCheckpoint, 2, cptNode, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutCheckpoint(ctx, e.fence, "r", model.CryptoCheckpoint, 1, cptNode, []byte("crypto")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutCheckpoint(ctx, e.fence, "r", model.RegistryCheckpoint, 1, cptNode, []byte("one")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind model.CheckpointKind
		n    uint32
		want string
	}{{model.RegistryCheckpoint, 1, "one"}, {model.RegistryCheckpoint, 2, "two"}, {model.CryptoCheckpoint, 1, "crypto"}} {
		got, _, err := e.store.GetCheckpoint(ctx, "r", c.kind, c.n)
		if err != nil || string(got) != c.want {
			t.Fatalf("%s %d: got %q, %v; want %q", c.kind, c.n, got, err, c.want)
		}
	}
}

// cptCorruptCase stores a 5 MiB checkpoint, damages it with a raw etcd write
// (what an operator's etcdctl could do), and expects a corrupt error and no data.
func cptCorruptCase(t *testing.T, damage func(e *cptEnv, m quorum.CheckpointManifest), wantReason string) {
	e := newCPTEnv(t)
	ctx := context.Background()
	m, err := e.store.PutCheckpoint(ctx, e.fence, "r", model.RegistryCheckpoint, 1, cptNode, cptPayload(5<<20, 7))
	if err != nil {
		t.Fatal(err)
	}
	damage(e, m)
	data, _, err := e.store.GetCheckpoint(ctx, "r", model.RegistryCheckpoint, 1)
	if !errors.Is(err, quorum.ErrCorruptCheckpoint) {
		t.Fatalf("got %v, want ErrCorruptCheckpoint", err)
	}
	if data != nil {
		t.Fatalf("corrupt checkpoint returned %d bytes of data", len(data))
	}
	var ce *quorum.CorruptCheckpointError
	if !errors.As(err, &ce) || ce.Key != e.keys.Checkpoint("r", model.RegistryCheckpoint, 1) || !strings.Contains(ce.Reason, wantReason) {
		t.Fatalf("error %v: want a *CorruptCheckpointError for the manifest key with reason containing %q", err, wantReason)
	}
}

func cptChunk(e *cptEnv, m quorum.CheckpointManifest, i int) string {
	return e.keys.CheckpointData(m.Resource, m.Kind, m.Number) + m.Generation + fmt.Sprintf("/%08d", i)
}

func TestCheckpointCorruptChunkDetected(t *testing.T) {
	t.Run("garbage", func(t *testing.T) {
		cptCorruptCase(t, func(e *cptEnv, m quorum.CheckpointManifest) {
			if _, err := e.cli.Put(context.Background(), cptChunk(e, m, 2), "garbage"); err != nil {
				t.Fatal(err)
			}
		}, "chunk 2")
	})
	t.Run("same-size-bit-flip", func(t *testing.T) {
		cptCorruptCase(t, func(e *cptEnv, m quorum.CheckpointManifest) {
			ctx := context.Background()
			resp, err := e.cli.Get(ctx, cptChunk(e, m, 4))
			if err != nil {
				t.Fatal(err)
			}
			v := bytes.Clone(resp.Kvs[0].Value)
			v[len(v)/2] ^= 0x01
			if _, err := e.cli.Put(ctx, cptChunk(e, m, 4), string(v)); err != nil {
				t.Fatal(err)
			}
		}, "sha256")
	})
}

func TestCheckpointMissingChunkDetected(t *testing.T) {
	cptCorruptCase(t, func(e *cptEnv, m quorum.CheckpointManifest) {
		if _, err := e.cli.Delete(context.Background(), cptChunk(e, m, 3)); err != nil {
			t.Fatal(err)
		}
	}, "chunk 3 of 5")
}

func TestCheckpointStrayChunkDetected(t *testing.T) {
	cptCorruptCase(t, func(e *cptEnv, m quorum.CheckpointManifest) {
		if _, err := e.cli.Put(context.Background(), cptChunk(e, m, 5), "extra"); err != nil {
			t.Fatal(err)
		}
	}, "unexpected key")
}

func TestCheckpointManifestWrongSHADetected(t *testing.T) {
	cptCorruptCase(t, func(e *cptEnv, m quorum.CheckpointManifest) {
		m.SHA256 = strings.Repeat("ab", 32)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.cli.Put(context.Background(), e.keys.Checkpoint(m.Resource, m.Kind, m.Number), string(b)); err != nil {
			t.Fatal(err)
		}
	}, "sha256")
}

func TestCheckpointManifestGarbageDetected(t *testing.T) {
	cptCorruptCase(t, func(e *cptEnv, m quorum.CheckpointManifest) {
		if _, err := e.cli.Put(context.Background(), e.keys.Checkpoint(m.Resource, m.Kind, m.Number), "{not json"); err != nil {
			t.Fatal(err)
		}
	}, "manifest")
}

func TestCheckpointStaleFence(t *testing.T) {
	e := newCPTEnv(t)
	ctx := context.Background()
	old := e.fence
	for _, n := range []int{1 << 10, 5 << 20} {
		id := fmt.Sprintf("r%d", n)
		data := cptPayload(n, 1)
		if _, err := e.store.PutCheckpoint(ctx, old, id, model.RegistryCheckpoint, 1, cptNode, data); err != nil {
			t.Fatal(err)
		}
	}
	// The group moves: the owner key is deleted and created again.
	cur := e.takeOwnership()
	if cur.Token == old.Token {
		t.Fatalf("re-created owner key kept token %d", cur.Token)
	}
	for _, n := range []int{1 << 10, 5 << 20} {
		id := fmt.Sprintf("r%d", n)
		before := e.keysUnder(e.keys.ResourceCheckpoints(id))
		_, err := e.store.PutCheckpoint(ctx, old, id, model.RegistryCheckpoint, 1, cptNode, cptPayload(n, 2))
		if !errors.Is(err, model.ErrFenced) {
			t.Fatalf("%d bytes with a stale fence: got %v, want ErrFenced", n, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprint(cur.Token)) {
			t.Errorf("fencing error %q does not name the current token %d", err, cur.Token)
		}
		got, _, err := e.store.GetCheckpoint(ctx, id, model.RegistryCheckpoint, 1)
		if err != nil || !bytes.Equal(got, cptPayload(n, 1)) {
			t.Fatalf("%d bytes: stored data changed by a fenced put (err %v)", n, err)
		}
		if after := e.keysUnder(e.keys.ResourceCheckpoints(id)); strings.Join(after, ",") != strings.Join(before, ",") {
			t.Fatalf("%d bytes: keys changed by a fenced put: %v → %v", n, before, after)
		}
		if err := e.store.DeleteCheckpoint(ctx, old, id, model.RegistryCheckpoint, 1); !errors.Is(err, model.ErrFenced) {
			t.Fatalf("delete with a stale fence: got %v, want ErrFenced", err)
		}
	}
	// No owner at all is fenced too.
	if _, err := e.cli.Delete(ctx, e.keys.Owner(cptGroup)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutCheckpoint(ctx, cur, "r1024", model.RegistryCheckpoint, 1, cptNode, []byte("x")); !errors.Is(err, model.ErrFenced) {
		t.Fatalf("put without an owner: got %v, want ErrFenced", err)
	}
}

// TestCheckpointConcurrentChunkRemovalDetected breaks the one-writer
// contract on purpose: while a multi-chunk put is writing, something removes
// one of its new chunks. The manifest switch must refuse (ErrConflict), so the
// previous checkpoint stays readable and no manifest points at missing data.
func TestCheckpointConcurrentChunkRemovalDetected(t *testing.T) {
	e := newCPTEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old := cptPayload(1<<10, 1)
	if _, err := e.store.PutCheckpoint(ctx, e.fence, "r", model.RegistryCheckpoint, 1, cptNode, old); err != nil {
		t.Fatal(err)
	}
	dataPrefix := e.keys.CheckpointData("r", model.RegistryCheckpoint, 1)
	wch := e.cli.Watch(ctx, dataPrefix, clientv3.WithPrefix())
	removed := make(chan string, 1)
	go func() {
		for resp := range wch {
			for _, ev := range resp.Events {
				k := string(ev.Kv.Key)
				if ev.Type == clientv3.EventTypePut && strings.HasSuffix(k, "/00000000") && !strings.Contains(k, "/0000000000000000/") {
					if _, err := e.cli.Delete(ctx, k); err == nil {
						removed <- k
					}
					return
				}
			}
		}
	}()
	_, err := e.store.PutCheckpoint(ctx, e.fence, "r", model.RegistryCheckpoint, 1, cptNode, cptPayload(20<<20, 2))
	select {
	case k := <-removed:
		t.Logf("removed %s during the put", k)
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher never removed a chunk")
	}
	if !errors.Is(err, quorum.ErrConflict) {
		t.Fatalf("put whose chunk was removed: %v, want ErrConflict", err)
	}
	got, m, err := e.store.GetCheckpoint(ctx, "r", model.RegistryCheckpoint, 1)
	if err != nil || !bytes.Equal(got, old) || m.Size != int64(len(old)) {
		t.Fatalf("previous checkpoint after the refused switch: %d bytes, %v", len(got), err)
	}
	if keys := e.keysUnder(dataPrefix); len(keys) != 1 {
		t.Fatalf("chunks of the refused write were left behind: %v", keys)
	}
}

func TestCheckpointDeleteAndList(t *testing.T) {
	e := newCPTEnv(t)
	ctx := context.Background()
	put := func(id string, kind model.CheckpointKind, n uint32, size int) {
		t.Helper()
		if _, err := e.store.PutCheckpoint(ctx, e.fence, id, kind, n, cptNode, cptPayload(size, uint64(n))); err != nil {
			t.Fatal(err)
		}
	}
	put("r1", model.RegistryCheckpoint, 2, 3<<20)
	put("r1", model.RegistryCheckpoint, 1, 10)
	put("r1", model.CryptoCheckpoint, 1, 20)
	put("r2", model.RegistryCheckpoint, 1, 30)

	list, err := e.store.ListCheckpoints(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.FileName())
	}
	if got := strings.Join(names, " "); got != "00000001.CPR 00000001.CPT 00000002.CPT" {
		t.Fatalf("ListCheckpoints(r1) = %s", got)
	}
	all, err := e.store.ListAllCheckpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || len(all["r1"]) != 3 || len(all["r2"]) != 1 || all["r2"][0].Size != 30 {
		t.Fatalf("ListAllCheckpoints = %v", all)
	}

	if err := e.store.DeleteCheckpoint(ctx, e.fence, "r1", model.RegistryCheckpoint, 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.GetCheckpoint(ctx, "r1", model.RegistryCheckpoint, 2); !errors.Is(err, quorum.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	if keys := e.keysUnder(e.keys.Checkpoint("r1", model.RegistryCheckpoint, 2)); len(keys) != 0 {
		t.Fatalf("keys left after delete: %v", keys)
	}
	if err := e.store.DeleteCheckpoint(ctx, e.fence, "r1", model.RegistryCheckpoint, 2); !errors.Is(err, quorum.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if got, _, err := e.store.GetCheckpoint(ctx, "r1", model.RegistryCheckpoint, 1); err != nil || len(got) != 10 {
		t.Fatalf("neighbour of the deleted checkpoint: %d bytes, %v", len(got), err)
	}

	// A damaged manifest is reported while the rest is still listed.
	if _, err := e.cli.Put(ctx, e.keys.Checkpoint("r1", model.CryptoCheckpoint, 1), `{"format":2}`); err != nil {
		t.Fatal(err)
	}
	list, err = e.store.ListCheckpoints(ctx, "r1")
	if !errors.Is(err, quorum.ErrCorruptCheckpoint) || len(list) != 1 || list[0].FileName() != "00000001.CPT" {
		t.Fatalf("list with a damaged manifest: %v, %v", list, err)
	}

	if err := e.store.DeleteResourceCheckpoints(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if keys := e.keysUnder(e.keys.ResourceCheckpoints("r1")); len(keys) != 0 {
		t.Fatalf("keys left after DeleteResourceCheckpoints: %v", keys)
	}
	if list, err := e.store.ListCheckpoints(ctx, "r2"); err != nil || len(list) != 1 {
		t.Fatalf("r2 after deleting r1: %v, %v", list, err)
	}
	if _, _, err := e.store.GetCheckpoint(ctx, "nope", model.RegistryCheckpoint, 1); !errors.Is(err, quorum.ErrNotFound) {
		t.Fatalf("missing checkpoint: %v, want ErrNotFound", err)
	}
}

func cptValidManifest() quorum.CheckpointManifest {
	return quorum.CheckpointManifest{
		Format: quorum.ManifestFormat, Resource: "6f1c2d9e-0000-4000-8000-000000000001", Kind: model.RegistryCheckpoint, Number: 1,
		Generation: "0123456789abcdef", Size: 3<<20 + 5, Chunks: 4, ChunkSize: quorum.ChunkSize,
		SHA256: strings.Repeat("0f", 32), Node: "n1", Group: "g1", Token: 42,
		Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
	}
}

func TestManifestDecodeStrict(t *testing.T) {
	good, err := json.Marshal(cptValidManifest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := quorum.DecodeManifest(good); err != nil {
		t.Fatalf("valid manifest refused: %v\n%s", err, good)
	}
	mod := func(f func(m *quorum.CheckpointManifest)) string {
		m := cptValidManifest()
		f(&m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	bad := map[string]string{
		"unknown field":     strings.Replace(string(good), `"format":1`, `"format":1,"extra":true`, 1),
		"trailing data":     string(good) + `{}`,
		"format 2":          mod(func(m *quorum.CheckpointManifest) { m.Format = 2 }),
		"format missing":    strings.Replace(string(good), `"format":1,`, ``, 1),
		"short sha":         mod(func(m *quorum.CheckpointManifest) { m.SHA256 = "abc" }),
		"upper sha":         mod(func(m *quorum.CheckpointManifest) { m.SHA256 = strings.Repeat("AB", 32) }),
		"chunks mismatch":   mod(func(m *quorum.CheckpointManifest) { m.Chunks = 3 }),
		"empty with chunk":  mod(func(m *quorum.CheckpointManifest) { m.Size, m.Chunks = 0, 1 }),
		"chunk size 0":      mod(func(m *quorum.CheckpointManifest) { m.ChunkSize = 0 }),
		"chunk size 2 MiB":  mod(func(m *quorum.CheckpointManifest) { m.ChunkSize, m.Chunks = 2<<20, 2 }),
		"negative size":     mod(func(m *quorum.CheckpointManifest) { m.Size, m.Chunks = -1, 0 }),
		"bad kind":          mod(func(m *quorum.CheckpointManifest) { m.Kind = "TXT" }),
		"bad generation":    mod(func(m *quorum.CheckpointManifest) { m.Generation = "xyz" }),
		"empty resource":    mod(func(m *quorum.CheckpointManifest) { m.Resource = "" }),
		"slash in resource": mod(func(m *quorum.CheckpointManifest) { m.Resource = "a/b" }),
		"no node":           mod(func(m *quorum.CheckpointManifest) { m.Node = "" }),
		"no time":           mod(func(m *quorum.CheckpointManifest) { m.Time = time.Time{} }),
		"restored no times": mod(func(m *quorum.CheckpointManifest) { m.Restored = true }),
		"times not restored": mod(func(m *quorum.CheckpointManifest) {
			m.RestoredAt, m.BackupTime = m.Time, m.Time
		}),
		"string size": strings.Replace(string(good), `"size":3145733`, `"size":"3145733"`, 1),
		"not object":  `[]`,
		"empty":       ``,
	}
	for name, in := range bad {
		if _, err := quorum.DecodeManifest([]byte(in)); !errors.Is(err, quorum.ErrBadManifest) {
			t.Errorf("%s: got %v, want ErrBadManifest\n%s", name, err, in)
		}
	}
	restored := mod(func(m *quorum.CheckpointManifest) { m.Restored, m.RestoredAt, m.BackupTime = true, m.Time, m.Time })
	if _, err := quorum.DecodeManifest([]byte(restored)); err != nil {
		t.Errorf("restored manifest refused: %v", err)
	}
}

// FuzzDecodeManifest: DecodeManifest never panics, and whatever it accepts
// re-encodes to a manifest it accepts again, unchanged.
func FuzzDecodeManifest(f *testing.F) {
	good, _ := json.Marshal(cptValidManifest())
	f.Add(good)
	empty := cptValidManifest()
	empty.Size, empty.Chunks = 0, 0
	b, _ := json.Marshal(empty)
	f.Add(b)
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`{"format":1,"resource":"r","kind":"CPR","number":4294967295,"generation":"ffffffffffffffff","size":1,"chunks":1,"chunk_size":1,"sha256":"` + strings.Repeat("a", 64) + `","node":"n","token":0,"time":"2025-01-01T00:00:00Z","restored":true,"restored_at":"2025-01-01T00:00:00Z","backup_time":"2024-01-01T00:00:00+02:00"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := quorum.DecodeManifest(in)
		if err != nil {
			if !errors.Is(err, quorum.ErrBadManifest) {
				t.Fatalf("error %v does not wrap ErrBadManifest", err)
			}
			return
		}
		if int64(m.Chunks)*int64(m.ChunkSize) < m.Size || m.Size < 0 {
			t.Fatalf("accepted inconsistent manifest %+v", m)
		}
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
		m2, err := quorum.DecodeManifest(enc)
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v\n%s", err, enc)
		}
		enc2, _ := json.Marshal(m2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the manifest:\n%s\n%s", enc, enc2)
		}
	})
}
