package quorum_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// bkFixture fills a cluster with database records and checkpoints, including
// one corrupt checkpoint, and remembers what it wrote.
type bkFixture struct {
	*cptEnv
	db          map[string]string // full key → value
	checkpoints map[string][]byte // manifest key → payload
}

const bkResID = "7d0c1a52-5b1e-4a3e-9a4b-2f1f6d3c0a11"

func newBKFixture(t *testing.T) *bkFixture {
	t.Helper()
	e := newCPTEnv(t)
	ctx := context.Background()
	f := &bkFixture{cptEnv: e, db: map[string]string{}, checkpoints: map[string][]byte{}}
	k := e.keys
	f.db[k.Type("generic")] = `{"name":"generic","kind":"plugin","path":"/usr/lib/resmon/generic"}`
	f.db[k.Group("g1")] = `{"name":"g1","preferred_owners":["n1","n2"]}`
	f.db[k.Resource(bkResID)] = `{"id":"` + bkResID + `","name":"Res A","type":"generic","group":"g1"}`
	f.db[k.ResourceName("Res A")] = bkResID // plain text, not JSON
	f.db[k.DB()+"misc/binary"] = "\xff\xfe\x00raw"
	for key, v := range f.db {
		if _, err := e.cli.Put(ctx, key, v); err != nil {
			t.Fatal(err)
		}
	}
	put := func(id string, kind model.CheckpointKind, n uint32, size int) {
		data := cptPayload(size, uint64(size)+uint64(n))
		if _, err := e.store.PutCheckpoint(ctx, e.fence, id, kind, n, cptNode, data); err != nil {
			t.Fatal(err)
		}
		f.checkpoints[k.Checkpoint(id, kind, n)] = data
	}
	put(bkResID, model.RegistryCheckpoint, 1, 5<<20)
	put(bkResID, model.CryptoCheckpoint, 1, 1<<10)
	put("r2", model.RegistryCheckpoint, 1, 0)
	put("r2", model.RegistryCheckpoint, 2, 64<<10)
	// A corrupt one: its manifest promises bytes that are not there.
	m, err := e.store.PutCheckpoint(ctx, e.fence, "r3", model.RegistryCheckpoint, 1, cptNode, cptPayload(2<<20, 9))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.Put(ctx, cptChunk(e, m, 1), "damaged"); err != nil {
		t.Fatal(err)
	}
	return f
}

// revision returns etcd's current revision: unchanged means nothing was written.
func (f *bkFixture) revision() int64 {
	f.t.Helper()
	resp, err := f.cli.Get(context.Background(), quorum.Root, clientv3.WithCountOnly())
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.Header.Revision
}

func (f *bkFixture) dbNow() map[string]string {
	f.t.Helper()
	resp, err := f.cli.Get(context.Background(), f.keys.DB(), clientv3.WithPrefix())
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	f := newBKFixture(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "backup")
	info, err := f.store.Backup(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.DBKeys != len(f.db) || len(info.Checkpoints) != len(f.checkpoints) {
		t.Fatalf("backup has %d db keys and %d checkpoints, want %d and %d", info.DBKeys, len(info.Checkpoints), len(f.db), len(f.checkpoints))
	}
	corruptKey := f.keys.Checkpoint("r3", model.RegistryCheckpoint, 1)
	if len(info.Skipped) != 1 || info.Skipped[0].Key != corruptKey || !strings.Contains(info.Skipped[0].Reason, "chunk 1") {
		t.Fatalf("skipped = %+v, want the corrupt %s", info.Skipped, corruptKey)
	}
	// The files are plain: the payload is the checkpoint's bytes.
	payload, err := os.ReadFile(filepath.Join(dir, "checkpoints", bkResID, "00000001.CPT"))
	if err != nil || !bytes.Equal(payload, f.checkpoints[f.keys.Checkpoint(bkResID, model.RegistryCheckpoint, 1)]) {
		t.Fatalf("payload file: %d bytes, %v", len(payload), err)
	}
	var index quorum.BackupIndex
	raw, err := os.ReadFile(filepath.Join(dir, "backup.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &index); err != nil || index.Revision != info.Revision || len(index.Skipped) != 1 || index.Counts.Checkpoints != 4 {
		t.Fatalf("backup.json: %+v, %v", index, err)
	}

	// Damage the live cluster: records changed, added and removed, and
	// checkpoints overwritten and added.
	if _, err := f.cli.Put(ctx, f.keys.Group("g1"), `{"name":"g1","changed":true}`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cli.Put(ctx, f.keys.Group("new"), `{"name":"new"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cli.Delete(ctx, f.keys.Type("generic")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.PutCheckpoint(ctx, f.fence, bkResID, model.RegistryCheckpoint, 1, cptNode, []byte("newer")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.PutCheckpoint(ctx, f.fence, "r9", model.RegistryCheckpoint, 1, cptNode, []byte("after the backup")); err != nil {
		t.Fatal(err)
	}

	ri, err := f.store.Restore(ctx, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if ri.DBKeys != len(f.db) || len(ri.Checkpoints) != len(f.checkpoints) || len(ri.Missing) != 1 || ri.Missing[0].Key != corruptKey || ri.Forced {
		t.Fatalf("restore info: %+v", ri)
	}
	got := f.dbNow()
	if len(got) != len(f.db) {
		t.Fatalf("database after restore has %d keys, want %d: %v", len(got), len(f.db), got)
	}
	for k, v := range f.db {
		if got[k] != v {
			t.Errorf("%s = %q after restore, want %q", k, got[k], v)
		}
	}
	for key, want := range f.checkpoints {
		id, name := filepath.Split(strings.TrimPrefix(key, f.keys.Checkpoints()))
		kind, n, err := model.ParseCheckpointFileName(name)
		if err != nil {
			t.Fatal(err)
		}
		data, m, err := f.store.GetCheckpoint(ctx, strings.TrimSuffix(id, "/"), kind, n)
		if err != nil {
			t.Fatalf("%s after restore: %v", key, err)
		}
		if !bytes.Equal(data, want) {
			t.Errorf("%s: restored %d bytes that differ from the %d backed up", key, len(data), len(want))
		}
		if !m.Restored || m.RestoredAt.IsZero() || !m.BackupTime.Equal(info.Time) || m.Node != cptNode || m.Token != f.fence.Token {
			t.Errorf("%s: restored manifest %+v", key, m)
		}
	}
	for _, id := range []string{"r3", "r9"} {
		if _, _, err := f.store.GetCheckpoint(ctx, id, model.RegistryCheckpoint, 1); !errors.Is(err, quorum.ErrNotFound) {
			t.Errorf("checkpoint of %s after restore: %v, want ErrNotFound", id, err)
		}
	}
	all, err := f.store.ListAllCheckpoints(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("ListAllCheckpoints after restore: %v, %v", all, err)
	}
	marker, err := f.store.LastRestore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	if marker.Status != quorum.RestoreComplete || !marker.BackupTime.Equal(info.Time) || marker.From != abs || marker.Cluster != cptCluster || marker.Checkpoints != 4 || marker.Missing != 1 {
		t.Fatalf("restore marker %+v", marker)
	}
	// The restored cluster backs up again, without the restore marker in it.
	if _, err := f.store.Backup(ctx, filepath.Join(t.TempDir(), "again")); err != nil {
		t.Fatalf("backup after restore: %v", err)
	}
}

func TestRestoreRefusedWhileNodesUp(t *testing.T) {
	f := newBKFixture(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "backup")
	if _, err := f.store.Backup(ctx, dir); err != nil {
		t.Fatal(err)
	}
	lease, err := f.cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cli.Put(ctx, f.keys.Node("node-7"), `{"node":"node-7"}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cli.Put(ctx, f.keys.Group("g1"), `{"name":"g1","changed":true}`); err != nil {
		t.Fatal(err)
	}
	before := f.revision()
	_, err = f.store.Restore(ctx, dir, false)
	if !errors.Is(err, quorum.ErrNodesUp) || !strings.Contains(err.Error(), "node-7") {
		t.Fatalf("restore with a node up: %v, want ErrNodesUp naming node-7", err)
	}
	if after := f.revision(); after != before {
		t.Fatalf("a refused restore wrote to etcd (revision %d → %d)", before, after)
	}
	ri, err := f.store.Restore(ctx, dir, true)
	if err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	if !ri.Forced || len(ri.NodesUp) != 1 || ri.NodesUp[0] != "node-7" {
		t.Fatalf("forced restore info: %+v", ri)
	}
	if got := f.dbNow()[f.keys.Group("g1")]; got != f.db[f.keys.Group("g1")] {
		t.Fatalf("group after forced restore: %s", got)
	}
	if m, err := f.store.LastRestore(ctx); err != nil || !m.Forced {
		t.Fatalf("marker after forced restore: %+v, %v", m, err)
	}
}

func TestRestoreRejectsDamagedBackup(t *testing.T) {
	f := newBKFixture(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "backup")
	if _, err := f.store.Backup(ctx, src); err != nil {
		t.Fatal(err)
	}
	// Make the cluster differ from the backup so that a restore would show.
	if _, err := f.cli.Put(ctx, f.keys.Group("g1"), `{"name":"g1","changed":true}`); err != nil {
		t.Fatal(err)
	}
	payload := filepath.Join("checkpoints", bkResID, "00000001.CPT")
	cases := []struct {
		name, file string
		damage     func(t *testing.T, dir string)
	}{
		{"payload byte flipped", payload, func(t *testing.T, dir string) {
			p := filepath.Join(dir, payload)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[12345] ^= 0x40
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"db.json edited", "db.json", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "db.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, bytes.Replace(b, []byte("n2"), []byte("n3"), 1), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"payload missing", payload, func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, payload)); err != nil {
				t.Fatal(err)
			}
		}},
		{"backup.json missing", "backup.json", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "backup.json")); err != nil {
				t.Fatal(err)
			}
		}},
		{"index path escapes", "backup.json", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "backup.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b = bytes.Replace(b, []byte(`"path": "db.json"`), []byte(`"path": "../db.json"`), 1)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "copy")
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			c.damage(t, dir)
			before := f.revision()
			_, err := f.store.Restore(ctx, dir, false)
			if !errors.Is(err, quorum.ErrBadBackup) || !strings.Contains(err.Error(), c.file) {
				t.Fatalf("got %v, want ErrBadBackup naming %s", err, c.file)
			}
			if after := f.revision(); after != before {
				t.Fatalf("a rejected restore wrote to etcd (revision %d → %d)", before, after)
			}
		})
	}
}

func TestBackupRefusesNonEmptyDir(t *testing.T) {
	e := newCPTEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Backup(ctx, dir); !errors.Is(err, quorum.ErrBackupDirNotEmpty) {
		t.Fatalf("backup into a non-empty directory: %v, want ErrBackupDirNotEmpty", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("the refused backup left %d entries in the directory", len(ents))
	}
	if _, err := e.store.Backup(ctx, keep); err == nil {
		t.Fatal("backup into a regular file succeeded")
	}
	// An existing empty directory is fine, and an empty cluster backs up.
	empty := t.TempDir()
	info, err := e.store.Backup(ctx, empty)
	if err != nil || info.DBKeys != 0 || len(info.Checkpoints) != 0 {
		t.Fatalf("backup of an empty cluster: %+v, %v", info, err)
	}
}
