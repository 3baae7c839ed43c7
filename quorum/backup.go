package quorum

// Backup and restore of the cluster database and the checkpoint data
// (rule 5 of RULES.md: checkpoints are part of cluster backups, and a restore can
// make them stale, which the tooling must show).
//
// A backup is a directory of plain files an operator can read and diff:
//
//	backup.json                              index: format, cluster, time, etcd revision,
//	                                         counts, every other file with size and sha256,
//	                                         checkpoints skipped because they were corrupt
//	db.json                                  every key under db/ with its value
//	checkpoints/<id>/00000001.CPT            a checkpoint's verified payload bytes
//	checkpoints/<id>/00000001.CPT.manifest.json   its manifest as stored
//
// Everything is read at one etcd revision, so the files are one consistent
// picture of the cluster. backup.json is written last: a directory without
// it is an unfinished backup and Restore refuses it.
//
// A checkpoint that fails verification during a backup is not fatal and not
// silently dropped: it is listed under "skipped" in backup.json and in
// BackupInfo.Skipped with the reason, and Restore reports it as missing. Its
// data is lost to the backup either way — the cure is recovery from the
// owner's registry, not copying bytes known to be wrong.
//
// Restore replaces the database and all checkpoint data. It checks the whole
// backup before changing anything, refuses while cluster nodes are up (their
// monitors would act on a database that changes under them) unless forced,
// and marks every restored manifest "restored" with the backup's time, since
// the owners' registries may have moved on since the backup was taken.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resmon/resmon/model"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BackupFormat is the version of the backup layout written by Backup.
const BackupFormat = 1

const (
	backupIndexFile      = "backup.json"
	backupDBFile         = "db.json"
	backupCheckpointDir  = "checkpoints"
	backupManifestSuffix = ".manifest.json"

	// restoreBatchOps and restoreBatchBytes bound one Txn of database keys
	// written by Restore (etcd: 128 operations and 1.5 MiB per request).
	restoreBatchOps   = 100
	restoreBatchBytes = 1 << 20

	// Restore marker states.
	RestoreInProgress = "in-progress"
	RestoreComplete   = "complete"
)

var (
	// ErrNodesUp reports a restore refused because cluster nodes are running.
	ErrNodesUp = errors.New("quorum: cluster nodes are running")
	// ErrBadBackup reports a backup directory that is incomplete, damaged or
	// not a resmon backup. Restore returns it before changing anything.
	ErrBadBackup = errors.New("quorum: backup is damaged or incomplete")
	// ErrBackupDirNotEmpty reports a backup target that already holds files;
	// a backup never mixes with or overwrites other files.
	ErrBackupDirNotEmpty = errors.New("quorum: backup directory is not empty")
)

// BackupFile is one file of a backup with its size and sha256.
type BackupFile struct {
	Path   string `json:"path"` // slash-separated, relative to the backup directory
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// SkippedCheckpoint is a checkpoint left out of a backup because it failed
// verification.
type SkippedCheckpoint struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// BackupCounts are the totals recorded in backup.json.
type BackupCounts struct {
	DBKeys      int `json:"db_keys"`
	Checkpoints int `json:"checkpoints"`
	Skipped     int `json:"skipped"`
}

// BackupIndex is the content of backup.json.
type BackupIndex struct {
	Format   int                 `json:"format"`
	Cluster  string              `json:"cluster"`
	Time     time.Time           `json:"time"`     // when the backup was read
	Revision int64               `json:"revision"` // etcd revision everything was read at
	Counts   BackupCounts        `json:"counts"`
	Files    []BackupFile        `json:"files"`
	Skipped  []SkippedCheckpoint `json:"skipped,omitempty"`
}

// BackupInfo describes a backup written by Backup.
type BackupInfo struct {
	Dir         string
	Cluster     string
	Time        time.Time
	Revision    int64
	DBKeys      int
	Checkpoints []CheckpointManifest // the checkpoints in the backup
	Skipped     []SkippedCheckpoint  // corrupt checkpoints left out, with the reason
	Files       []BackupFile
}

// backupDB is the content of db.json.
type backupDB struct {
	Format   int        `json:"format"`
	Cluster  string     `json:"cluster"`
	Revision int64      `json:"revision"`
	Keys     []backupKV `json:"keys"`
}

// backupKV is one database key. Keys are relative to the cluster prefix
// ("db/types/x"). Values are the stored bytes as a JSON string — JSON records
// and plain-text index entries alike round-trip byte for byte — or, for bytes
// that are not UTF-8, base64 in value_base64 (likewise key_base64).
type backupKV struct {
	Key         string `json:"key,omitempty"`
	KeyBase64   string `json:"key_base64,omitempty"`
	Value       string `json:"value"`
	ValueBase64 string `json:"value_base64,omitempty"`
}

func encodeBackupKV(key, value []byte) backupKV {
	var kv backupKV
	if utf8.Valid(key) {
		kv.Key = string(key)
	} else {
		kv.KeyBase64 = base64.StdEncoding.EncodeToString(key)
	}
	if utf8.Valid(value) {
		kv.Value = string(value)
	} else {
		kv.ValueBase64 = base64.StdEncoding.EncodeToString(value)
	}
	return kv
}

func (kv backupKV) decode() (key, value []byte, err error) {
	switch {
	case (kv.Key == "") == (kv.KeyBase64 == ""):
		return nil, nil, fmt.Errorf("an entry needs exactly one of key and key_base64")
	case kv.Key != "":
		key = []byte(kv.Key)
	default:
		if key, err = base64.StdEncoding.DecodeString(kv.KeyBase64); err != nil {
			return nil, nil, fmt.Errorf("key_base64: %v", err)
		}
	}
	value = []byte(kv.Value)
	if kv.ValueBase64 != "" {
		if kv.Value != "" {
			return nil, nil, fmt.Errorf("key %q has both value and value_base64", key)
		}
		if value, err = base64.StdEncoding.DecodeString(kv.ValueBase64); err != nil {
			return nil, nil, fmt.Errorf("key %q: value_base64: %v", key, err)
		}
	}
	return key, value, nil
}

// clusterName recovers the cluster name from the key prefix.
func (s *Store) clusterName() string {
	return strings.TrimSuffix(strings.TrimPrefix(s.keys.Prefix(), Root), "/")
}

// Backup writes the cluster database and every checkpoint to dir, which is
// created if missing and must otherwise be empty. All data is read at one
// etcd revision. Corrupt checkpoints are listed in BackupInfo.Skipped (and
// in backup.json) instead of failing the backup. On error, the files written
// so far are removed again.
func (s *Store) Backup(ctx context.Context, dir string) (info BackupInfo, err error) {
	created, err := prepareBackupDir(dir)
	if err != nil {
		return BackupInfo{}, err
	}
	w := &backupWriter{dir: dir}
	defer func() {
		if err != nil {
			w.discard(created)
		}
	}()
	info = BackupInfo{Dir: dir, Cluster: s.clusterName(), Time: time.Now().UTC()}

	resp, err := s.cli.Get(ctx, s.keys.DB(), clientv3.WithPrefix())
	if err != nil {
		return BackupInfo{}, fmt.Errorf("quorum: backup: reading the database: %w", err)
	}
	rev := resp.Header.Revision
	info.Revision = rev
	db := backupDB{Format: BackupFormat, Cluster: info.Cluster, Revision: rev, Keys: []backupKV{}}
	for _, kv := range resp.Kvs {
		db.Keys = append(db.Keys, encodeBackupKV(bytes.TrimPrefix(kv.Key, []byte(s.keys.Prefix())), kv.Value))
	}
	info.DBKeys = len(db.Keys)
	if err := w.writeJSON(backupDBFile, db); err != nil {
		return BackupInfo{}, err
	}

	entries, _, err := s.listManifests(ctx, s.keys.Checkpoints(), rev)
	if err != nil && !errors.Is(err, ErrCorruptCheckpoint) {
		return BackupInfo{}, backupReadError(rev, err)
	}
	info.Skipped = append(info.Skipped, skippedFrom(err)...)
	for _, e := range entries {
		m := e.m
		if !filepath.IsLocal(m.Resource) || m.Resource == "." {
			info.Skipped = append(info.Skipped, SkippedCheckpoint{Key: e.key, Reason: fmt.Sprintf("resource id %q cannot be used as a directory name", m.Resource)})
			continue
		}
		data, _, err := s.readCheckpoint(ctx, m.Resource, m.Kind, m.Number, rev)
		if err != nil {
			if errors.Is(err, ErrCorruptCheckpoint) {
				info.Skipped = append(info.Skipped, skippedFrom(err)...)
				continue
			}
			return BackupInfo{}, backupReadError(rev, err)
		}
		rel := path.Join(backupCheckpointDir, m.Resource, m.FileName())
		if err := w.write(rel, data); err != nil {
			return BackupInfo{}, err
		}
		if err := w.writeJSON(rel+backupManifestSuffix, m); err != nil {
			return BackupInfo{}, err
		}
		info.Checkpoints = append(info.Checkpoints, m)
	}
	for _, sk := range info.Skipped {
		s.log.Warn("backup: checkpoint left out because it is corrupt; recover it from the owner's registry", "key", sk.Key, "reason", sk.Reason)
	}

	sort.Slice(w.files, func(i, j int) bool { return w.files[i].Path < w.files[j].Path })
	info.Files = w.files
	index := BackupIndex{
		Format: BackupFormat, Cluster: info.Cluster, Time: info.Time, Revision: rev,
		Counts:  BackupCounts{DBKeys: info.DBKeys, Checkpoints: len(info.Checkpoints), Skipped: len(info.Skipped)},
		Files:   info.Files,
		Skipped: info.Skipped,
	}
	files := w.files
	if err := w.writeJSON(backupIndexFile, index); err != nil {
		return BackupInfo{}, err
	}
	w.files = files // the index does not list itself
	if err := w.syncDirs(); err != nil {
		return BackupInfo{}, err
	}
	return info, nil
}

func backupReadError(rev int64, err error) error {
	if errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("quorum: backup: etcd compacted revision %d while the backup was read; run the backup again: %w", rev, err)
	}
	return fmt.Errorf("quorum: backup: %w", err)
}

// skippedFrom turns the corrupt-checkpoint errors in err into report entries.
func skippedFrom(err error) []SkippedCheckpoint {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []SkippedCheckpoint
	for _, e := range errs {
		var ce *CorruptCheckpointError
		if errors.As(e, &ce) {
			out = append(out, SkippedCheckpoint{Key: ce.Key, Reason: ce.Reason})
		}
	}
	return out
}

// prepareBackupDir makes sure dir exists and is empty; created reports
// whether it was made here.
func prepareBackupDir(dir string) (created bool, err error) {
	if dir == "" {
		return false, fmt.Errorf("quorum: backup: no directory given")
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("quorum: backup: creating %s: %w", dir, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("quorum: backup: %w", err)
	case !st.IsDir():
		return false, fmt.Errorf("quorum: backup: %s is not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("quorum: backup: %w", err)
	}
	if len(ents) > 0 {
		return false, fmt.Errorf("%w: %s holds %s and %d more entries; choose a new or empty directory", ErrBackupDirNotEmpty, dir, ents[0].Name(), len(ents)-1)
	}
	return false, nil
}

// backupWriter writes files of one backup, fsyncs them and records their
// checksums.
type backupWriter struct {
	dir   string
	files []BackupFile
	dirs  []string
}

func (w *backupWriter) writeJSON(rel string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("quorum: backup: encoding %s: %w", rel, err)
	}
	return w.write(rel, append(b, '\n'))
}

func (w *backupWriter) write(rel string, data []byte) error {
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if d := filepath.Dir(p); d != w.dir {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("quorum: backup: %w", err)
		}
		w.dirs = append(w.dirs, d)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("quorum: backup: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("quorum: backup: writing %s: %w", p, err)
	}
	sum := sha256.Sum256(data)
	w.files = append(w.files, BackupFile{Path: rel, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	return nil
}

// syncDirs makes the new directory entries durable.
func (w *backupWriter) syncDirs() error {
	seen := map[string]bool{}
	for _, d := range append(w.dirs, filepath.Join(w.dir, backupCheckpointDir), w.dir) {
		if seen[d] {
			continue
		}
		seen[d] = true
		f, err := os.Open(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("quorum: backup: %w", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("quorum: backup: syncing %s: %w", d, err)
		}
	}
	return nil
}

// discard removes what a failed backup wrote (the directory was empty or new).
func (w *backupWriter) discard(created bool) {
	if created {
		os.RemoveAll(w.dir)
		return
	}
	for _, name := range []string{backupIndexFile, backupDBFile, backupCheckpointDir} {
		os.RemoveAll(filepath.Join(w.dir, name))
	}
}

// RestoreMarker is the value of meta/restore, written by Restore so that
// tooling can tell that the database came from a backup and its checkpoints
// may be stale.
type RestoreMarker struct {
	Time        time.Time `json:"time"`        // when the restore started
	BackupTime  time.Time `json:"backup_time"` // when the backup was taken
	From        string    `json:"from"`        // the backup directory
	Cluster     string    `json:"cluster"`     // the cluster the backup was taken from
	Revision    int64     `json:"revision"`    // etcd revision of the backup
	Status      string    `json:"status"`      // RestoreInProgress or RestoreComplete
	Forced      bool      `json:"forced,omitempty"`
	DBKeys      int       `json:"db_keys"`
	Checkpoints int       `json:"checkpoints"`
	// Missing counts checkpoints that were corrupt at backup time and so
	// were not restored.
	Missing int `json:"missing"`
}

// RestoreInfo describes a finished restore.
type RestoreInfo struct {
	Dir        string
	Cluster    string // the cluster the backup was taken from
	BackupTime time.Time
	Revision   int64
	DBKeys     int
	// Checkpoints are the restored manifests (Restored is set). Their data is
	// as old as the backup: possibly stale until the owner saves the
	// checkpoint again or it is recovered from the owner's registry.
	Checkpoints []CheckpointManifest
	// Missing lists checkpoints that were corrupt when the backup was taken;
	// they are absent now and need recovery.
	Missing []SkippedCheckpoint
	Forced  bool
	NodesUp []string // nodes that were up when force was used
}

// LastRestore reads the marker of the last restore; ErrNotFound if the
// database was never restored from a backup.
func (s *Store) LastRestore(ctx context.Context) (RestoreMarker, error) {
	key := s.keys.Meta("restore")
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return RestoreMarker{}, fmt.Errorf("quorum: reading %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return RestoreMarker{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	var m RestoreMarker
	if err := json.Unmarshal(resp.Kvs[0].Value, &m); err != nil {
		return RestoreMarker{}, fmt.Errorf("quorum: decoding %s: %w", key, err)
	}
	return m, nil
}

// loadedBackup is a backup directory that passed every check.
type loadedBackup struct {
	dir         string
	index       BackupIndex
	db          backupDB
	checkpoints []loadedCheckpoint
}

type loadedCheckpoint struct {
	path string // payload file, relative
	m    CheckpointManifest
}

// Restore replaces the cluster database (db/) and all checkpoint data with
// the contents of the backup in dir.
//
// Before anything changes, the whole backup is checked: backup.json, the
// size and sha256 of every file it lists, db.json, and every manifest against
// its payload; a damaged backup yields ErrBadBackup naming the file. Then, if
// any node presence key exists, Restore refuses with ErrNodesUp naming the
// nodes, unless force is set. The old data is deleted in the same Txn that
// re-checks for running nodes, and the new data is written after it:
// database keys in batched Txns, checkpoints through the unfenced checkpoint
// writer, each manifest marked restored with the backup's time. meta/restore
// records the restore ("in-progress" until the end, then "complete").
//
// Owner keys, published states and events are not part of a backup and are
// left alone. A backup of another cluster may be restored; the marker and
// RestoreInfo name the source cluster.
func (s *Store) Restore(ctx context.Context, dir string, force bool) (RestoreInfo, error) {
	b, err := backupLoad(dir)
	if err != nil {
		return RestoreInfo{}, err
	}
	nodes, err := s.nodesUp(ctx)
	if err != nil {
		return RestoreInfo{}, err
	}
	if len(nodes) > 0 && !force {
		return RestoreInfo{}, fmt.Errorf("%w: %s; stop clusterd on them before restoring (or force the restore)", ErrNodesUp, strings.Join(nodes, ", "))
	}
	now := time.Now().UTC()
	info := RestoreInfo{
		Dir: b.dir, Cluster: b.index.Cluster, BackupTime: b.index.Time, Revision: b.index.Revision,
		DBKeys: len(b.db.Keys), Missing: b.index.Skipped, Forced: force && len(nodes) > 0,
	}
	if info.Forced {
		info.NodesUp = nodes
		s.log.Warn("restore forced while nodes are up", "nodes", nodes)
	}
	marker := RestoreMarker{
		Time: now, BackupTime: b.index.Time, From: b.dir, Cluster: b.index.Cluster, Revision: b.index.Revision,
		Status: RestoreInProgress, Forced: info.Forced, DBKeys: len(b.db.Keys),
		Checkpoints: len(b.checkpoints), Missing: len(b.index.Skipped),
	}
	markerKey := s.keys.Meta("restore")

	// Delete, and mark the restore as started, in one Txn that also re-checks
	// that no node came up since the check above.
	txn := s.cli.Txn(ctx)
	if !force {
		txn = txn.If(clientv3.Compare(clientv3.CreateRevision(s.keys.Nodes()), "=", 0).WithPrefix())
	}
	resp, err := txn.Then(
		clientv3.OpDelete(s.keys.DB(), clientv3.WithPrefix()),
		clientv3.OpDelete(s.keys.Checkpoints(), clientv3.WithPrefix()),
		clientv3.OpPut(markerKey, mustMarshalMarker(marker)),
	).Commit()
	if err != nil {
		return RestoreInfo{}, fmt.Errorf("quorum: restore: clearing the database: %w", err)
	}
	if !resp.Succeeded {
		nodes, _ := s.nodesUp(ctx)
		return RestoreInfo{}, fmt.Errorf("%w: %s came up during the restore; nothing was changed", ErrNodesUp, strings.Join(nodes, ", "))
	}
	partial := func(err error) error {
		return fmt.Errorf("%w (the restore stopped part-way; %s says %q: run it again)", err, markerKey, RestoreInProgress)
	}

	var ops []clientv3.Op
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("quorum: restore: writing database keys: %w", err)
		}
		ops, size = ops[:0], 0
		return nil
	}
	for _, kv := range b.db.Keys {
		k, v, _ := kv.decode() // checked by loadBackup
		if len(ops) == restoreBatchOps || size+len(k)+len(v) > restoreBatchBytes {
			if err := flush(); err != nil {
				return RestoreInfo{}, partial(err)
			}
		}
		ops = append(ops, clientv3.OpPut(s.keys.Prefix()+string(k), string(v)))
		size += len(k) + len(v)
	}
	if err := flush(); err != nil {
		return RestoreInfo{}, partial(err)
	}

	for _, c := range b.checkpoints {
		data, err := backupReadVerified(b.dir, c.path, c.m.Size, c.m.SHA256)
		if err != nil {
			return RestoreInfo{}, partial(fmt.Errorf("%w (it changed after the backup was checked)", err))
		}
		m := CheckpointManifest{
			Resource: c.m.Resource, Kind: c.m.Kind, Number: c.m.Number,
			Node: c.m.Node, Group: c.m.Group, Token: c.m.Token, Time: c.m.Time,
			Restored: true, RestoredAt: now, BackupTime: b.index.Time,
		}
		m, err = s.putCheckpointUnfenced(ctx, m, data)
		if err != nil {
			return RestoreInfo{}, partial(fmt.Errorf("quorum: restore: %w", err))
		}
		info.Checkpoints = append(info.Checkpoints, m)
	}

	marker.Status = RestoreComplete
	if _, err := s.cli.Put(ctx, markerKey, mustMarshalMarker(marker)); err != nil {
		return RestoreInfo{}, partial(fmt.Errorf("quorum: restore: writing %s: %w", markerKey, err))
	}
	s.log.Info("restored backup; restored checkpoints may be stale until saved again or recovered",
		"dir", b.dir, "backup_time", b.index.Time, "db_keys", info.DBKeys, "checkpoints", len(info.Checkpoints), "missing", len(info.Missing))
	return info, nil
}

func mustMarshalMarker(m RestoreMarker) string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("quorum: encoding the restore marker: %v", err)) // plain data; cannot fail
	}
	return string(b)
}

// nodesUp lists the nodes whose presence key exists.
func (s *Store) nodesUp(ctx context.Context) ([]string, error) {
	resp, err := s.cli.Get(ctx, s.keys.Nodes(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("quorum: listing running nodes under %s: %w", s.keys.Nodes(), err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), s.keys.Nodes()))
	}
	return out, nil
}

// loadBackup reads and checks a whole backup directory without touching etcd.
func backupLoad(dir string) (*loadedBackup, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("quorum: restore: %w", err)
	}
	bad := func(file, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadBackup, filepath.Join(abs, filepath.FromSlash(file)), fmt.Sprintf(format, args...))
	}
	raw, err := os.ReadFile(filepath.Join(abs, backupIndexFile))
	if err != nil {
		return nil, bad(backupIndexFile, "%v (not a resmon backup, or the backup did not finish)", err)
	}
	b := &loadedBackup{dir: abs}
	if err := backupDecodeStrict(raw, &b.index); err != nil {
		return nil, bad(backupIndexFile, "%v", err)
	}
	ix := &b.index
	switch {
	case ix.Format != BackupFormat:
		return nil, bad(backupIndexFile, "format %d is not supported (want %d)", ix.Format, BackupFormat)
	case model.ValidName(ix.Cluster) != nil:
		return nil, bad(backupIndexFile, "cluster: %v", model.ValidName(ix.Cluster))
	case ix.Time.IsZero():
		return nil, bad(backupIndexFile, "time is missing")
	}

	// Every listed file: a known name, present, and the recorded size and hash.
	listed := map[string]BackupFile{}
	var payloads []string
	for _, f := range ix.Files {
		if _, dup := listed[f.Path]; dup {
			return nil, bad(backupIndexFile, "file %s is listed twice", f.Path)
		}
		if err := checkBackupPath(f.Path); err != nil {
			return nil, bad(backupIndexFile, "file %q: %v", f.Path, err)
		}
		listed[f.Path] = f
		if f.Path != backupDBFile && !strings.HasSuffix(f.Path, backupManifestSuffix) {
			payloads = append(payloads, f.Path)
		}
	}
	for _, f := range ix.Files {
		if _, err := backupReadVerified(abs, f.Path, f.Size, f.SHA256); err != nil {
			return nil, err
		}
	}

	dbFile, ok := listed[backupDBFile]
	if !ok {
		return nil, bad(backupIndexFile, "%s is not listed", backupDBFile)
	}
	raw, err = backupReadVerified(abs, dbFile.Path, dbFile.Size, dbFile.SHA256)
	if err != nil {
		return nil, err
	}
	if err := backupDecodeStrict(raw, &b.db); err != nil {
		return nil, bad(backupDBFile, "%v", err)
	}
	if b.db.Format != BackupFormat || b.db.Revision != ix.Revision || b.db.Cluster != ix.Cluster {
		return nil, bad(backupDBFile, "format %d, cluster %q, revision %d do not match backup.json", b.db.Format, b.db.Cluster, b.db.Revision)
	}
	seen := map[string]bool{}
	for i, kv := range b.db.Keys {
		k, _, err := kv.decode()
		if err != nil {
			return nil, bad(backupDBFile, "entry %d: %v", i, err)
		}
		if !strings.HasPrefix(string(k), "db/") {
			return nil, bad(backupDBFile, "entry %d: key %q is outside db/", i, k)
		}
		if seen[string(k)] {
			return nil, bad(backupDBFile, "key %q appears twice", k)
		}
		seen[string(k)] = true
	}

	// Every payload has its manifest, and the two agree.
	sort.Strings(payloads)
	for _, p := range payloads {
		mf, ok := listed[p+backupManifestSuffix]
		if !ok {
			return nil, bad(p, "its manifest %s is not listed", p+backupManifestSuffix)
		}
		raw, err := backupReadVerified(abs, mf.Path, mf.Size, mf.SHA256)
		if err != nil {
			return nil, err
		}
		m, err := DecodeManifest(raw)
		if err != nil {
			return nil, bad(mf.Path, "%v", err)
		}
		id, name := path.Split(strings.TrimPrefix(p, backupCheckpointDir+"/"))
		pf := listed[p]
		switch {
		case strings.TrimSuffix(id, "/") != m.Resource || name != m.FileName():
			return nil, bad(mf.Path, "manifest is for %s/%s", m.Resource, m.FileName())
		case pf.Size != m.Size || pf.SHA256 != m.SHA256:
			return nil, bad(p, "payload (%d bytes, sha256 %s) does not match its manifest (%d bytes, sha256 %s)", pf.Size, pf.SHA256, m.Size, m.SHA256)
		}
		b.checkpoints = append(b.checkpoints, loadedCheckpoint{path: p, m: m})
	}
	for p := range listed {
		if strings.HasSuffix(p, backupManifestSuffix) {
			if _, ok := listed[strings.TrimSuffix(p, backupManifestSuffix)]; !ok {
				return nil, bad(p, "manifest without its payload file")
			}
		}
	}
	if c := ix.Counts; c.DBKeys != len(b.db.Keys) || c.Checkpoints != len(b.checkpoints) || c.Skipped != len(ix.Skipped) {
		return nil, bad(backupIndexFile, "counts %+v do not match the files (%d db keys, %d checkpoints, %d skipped)",
			c, len(b.db.Keys), len(b.checkpoints), len(ix.Skipped))
	}
	return b, nil
}

// checkBackupPath accepts only the file names a backup consists of, so that a
// crafted backup.json cannot make Restore read outside the directory.
func checkBackupPath(p string) error {
	if p == backupDBFile {
		return nil
	}
	if !filepath.IsLocal(filepath.FromSlash(p)) || path.Clean(p) != p || strings.Contains(p, "\\") {
		return fmt.Errorf("not a clean relative path")
	}
	parts := strings.Split(p, "/")
	if len(parts) != 3 || parts[0] != backupCheckpointDir || model.ValidName(parts[1]) != nil {
		return fmt.Errorf("not %s or %s/<id>/<checkpoint>", backupDBFile, backupCheckpointDir)
	}
	name := strings.TrimSuffix(parts[2], backupManifestSuffix)
	if kind, n, err := model.ParseCheckpointFileName(name); err != nil || model.CheckpointFileName(kind, n) != name {
		return fmt.Errorf("%q is not a checkpoint file name like 00000001.CPT", parts[2])
	}
	return nil
}

// readVerified reads a backup file and checks its size and sha256.
func backupReadVerified(dir, rel string, size int64, sum string) ([]byte, error) {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	defer f.Close()
	if size < 0 || size > MaxCheckpointSize+(64<<20) {
		return nil, fmt.Errorf("%w: %s: implausible size %d in backup.json", ErrBadBackup, p, size)
	}
	data, err := io.ReadAll(io.LimitReader(f, size+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadBackup, p, err)
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("%w: %s: %d bytes, backup.json says %d", ErrBadBackup, p, len(data), size)
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("%w: %s: sha256 is %x, backup.json says %s", ErrBadBackup, p, got, sum)
	}
	return data, nil
}

// decodeStrict decodes one JSON value, refusing unknown fields and trailing data.
func backupDecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
