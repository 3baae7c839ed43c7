package quorum

// The checkpoint index: which resource checkpoints which registry key or
// crypto container, and the stable number of each checkpoint.
//
//	db/checkpoint-paths/<CPT|CPR>/<lower-case path>   resource id (text): the claim on a path
//	db/checkpoint-numbers/<id>/00000001.CPT           the path as given (text): checkpoint 1
//	                                                  of resource <id> is that key
//
// The resource record's RegistryCheckpoints and CryptoCheckpoints lists are
// the truth; the index follows them and is changed only together with the
// record, in one Txn. Both live under db/, so backups carry them and
// DeleteResource removes them with the resource.
//
// A claim refuses overlap atomically: adding path P compares, in the same Txn
// that writes the claim, that no claim exists at P itself, below P (a prefix
// compare on "P\") or at any ancestor of P. So two resources can never
// checkpoint the same key, or one a key inside the other's, whatever the
// order or concurrency of their requests (rule 7 of RULES.md: on failover they
// would overwrite each other's data).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/resmon/resmon/model"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Limits of the checkpoint index.
const (
	// MaxCheckpointPathDepth bounds the names in a checkpoint path: the claim
	// compares every ancestor in one Txn (etcd allows 128 comparisons).
	MaxCheckpointPathDepth = 64
	// MaxResourceCheckpoints bounds the checkpoints of one kind per resource.
	MaxResourceCheckpoints = 100
	// maxCheckpointPathLen bounds a checkpoint path in bytes.
	maxCheckpointPathLen = 8192
)

// ErrCheckpointOverlap reports a checkpoint that would overlap another one
// (see CheckpointOverlapError).
var ErrCheckpointOverlap = errors.New("quorum: checkpoint overlaps another checkpoint")

// CheckpointOverlapError names the checkpoint that an add collided with.
// errors.Is(err, ErrCheckpointOverlap) holds.
type CheckpointOverlapError struct {
	Kind         model.CheckpointKind
	Path         string // the path being added
	Other        string // the existing checkpoint's path (as indexed: lower case)
	Resource     string // id of the resource holding Other
	ResourceName string // its name ("" if unreadable)
	Relation     string // "is the same key as", "contains" or "is inside"
	Self         bool   // Other belongs to the resource the add was for
}

func (e *CheckpointOverlapError) Error() string {
	who := fmt.Sprintf("resource %q (%s)", e.ResourceName, e.Resource)
	if e.ResourceName == "" {
		who = "resource " + e.Resource
	}
	if e.Self {
		who += ", the same resource"
	}
	what := "registry checkpoint"
	if e.Kind == model.CryptoCheckpoint {
		what = "crypto checkpoint"
	}
	return fmt.Sprintf("quorum: %s %q %s %s %q of %s: overlapping checkpoints overwrite each other on failover; use keys that do not overlap",
		what, e.Path, e.Relation, what, e.Other, who)
}

// Is makes errors.Is(err, ErrCheckpointOverlap) true.
func (e *CheckpointOverlapError) Is(target error) bool { return target == ErrCheckpointOverlap }

// CheckpointEntry is one checkpoint of a resource with its stable number.
type CheckpointEntry struct {
	Kind   model.CheckpointKind `json:"kind"`
	Number uint32               `json:"number"`
	Path   string               `json:"path"` // as the resource gave it (case preserved)
	// Saved: data was stored for it once (see MarkCheckpointSaved), so data
	// that is missing now was lost, not never written.
	Saved bool `json:"saved,omitempty"`
}

// FileName is the checkpoint's Windows-style name, "00000001.CPT".
func (e CheckpointEntry) FileName() string { return model.CheckpointFileName(e.Kind, e.Number) }

func (e CheckpointEntry) String() string { return e.FileName() + " " + e.Path }

// CheckpointPaths is the prefix of the path claims of one kind.
func (k Keys) CheckpointPaths(kind model.CheckpointKind) string {
	return k.DB() + "checkpoint-paths/" + string(kind) + "/"
}

// CheckpointPath is the claim key of a path; paths compare case-insensitively.
func (k Keys) CheckpointPath(kind model.CheckpointKind, path string) string {
	return k.CheckpointPaths(kind) + foldCheckpointPath(path)
}

// CheckpointNumbers is the prefix of one resource's checkpoint numbers.
func (k Keys) CheckpointNumbers(id string) string { return k.DB() + "checkpoint-numbers/" + id + "/" }

// CheckpointNumber maps checkpoint number of kind of resource id to its path.
func (k Keys) CheckpointNumber(id string, kind model.CheckpointKind, number uint32) string {
	return k.CheckpointNumbers(id) + model.CheckpointFileName(kind, number)
}

// CheckpointSavedMarks is the prefix of the marks of one resource's
// checkpoints that were stored at least once.
func (k Keys) CheckpointSavedMarks(id string) string { return k.DB() + "checkpoint-saved/" + id + "/" }

// CheckpointSaved marks that a checkpoint was stored at least once. It
// lives in the database, apart from the data, so that data deleted by hand
// is known to be lost.
func (k Keys) CheckpointSaved(id string, kind model.CheckpointKind, number uint32) string {
	return k.CheckpointSavedMarks(id) + model.CheckpointFileName(kind, number)
}

// isCheckpointIndex reports whether key is one of the checkpoint index's
// (path claims, numbers, saved marks), which live under the database prefix.
func (k Keys) isCheckpointIndex(key string) bool {
	for _, p := range []string{"checkpoint-paths/", "checkpoint-numbers/", "checkpoint-saved/"} {
		if strings.HasPrefix(key, k.DB()+p) {
			return true
		}
	}
	return false
}

// foldCheckpointPath is the case folding of registry names (the checkpoint
// package's registry uses the same).
func foldCheckpointPath(p string) string { return strings.ToLower(p) }

func checkCheckpointPath(kind model.CheckpointKind, p string) error {
	if kind != model.RegistryCheckpoint && kind != model.CryptoCheckpoint {
		return fmt.Errorf("quorum: checkpoint kind %q is neither %s nor %s", kind, model.RegistryCheckpoint, model.CryptoCheckpoint)
	}
	parts := strings.Split(p, `\`)
	switch {
	case p == "":
		return fmt.Errorf("quorum: empty checkpoint path")
	case len(p) > maxCheckpointPathLen:
		return fmt.Errorf("quorum: checkpoint path %.40q… is longer than %d bytes", p, maxCheckpointPathLen)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("quorum: checkpoint path %q contains NUL", p)
	case len(parts) > MaxCheckpointPathDepth:
		return fmt.Errorf("quorum: checkpoint path %.40q… has %d names, the limit is %d", p, len(parts), MaxCheckpointPathDepth)
	}
	for _, c := range parts {
		if c == "" {
			return fmt.Errorf("quorum: checkpoint path %q has an empty name (leading, trailing or doubled backslash)", p)
		}
	}
	return nil
}

func indexOfPath(list []string, p string) int {
	f := foldCheckpointPath(p)
	for i, q := range list {
		if foldCheckpointPath(q) == f {
			return i
		}
	}
	return -1
}

// overlapChecks returns the comparisons that hold while nothing overlaps p,
// and the reads that find what does (same order: the key itself, the first
// key below it, then each ancestor from the top).
func (s *Store) overlapChecks(kind model.CheckpointKind, p string) ([]clientv3.Cmp, []clientv3.Op) {
	prefix := s.keys.CheckpointPaths(kind)
	f := foldCheckpointPath(p)
	self, below := prefix+f, prefix+f+`\`
	cmps := []clientv3.Cmp{
		absent(self),
		clientv3.Compare(clientv3.CreateRevision(below), "=", 0).WithPrefix(),
	}
	gets := []clientv3.Op{
		clientv3.OpGet(self),
		clientv3.OpGet(below, clientv3.WithPrefix(), clientv3.WithLimit(1)),
	}
	for i := 0; i < len(f); i++ {
		if f[i] == '\\' {
			cmps = append(cmps, absent(prefix+f[:i]))
			gets = append(gets, clientv3.OpGet(prefix+f[:i]))
		}
	}
	return cmps, gets
}

// explainOverlap turns the reads of overlapChecks into an error, or nil if
// none of them found a claim. A claim left by a resource that no longer
// exists is removed (reported as errStaleClaim so the caller retries).
func (s *Store) explainOverlap(ctx context.Context, kind model.CheckpointKind, p, id string, resps []*pb.ResponseOp) error {
	prefix := s.keys.CheckpointPaths(kind)
	for i, r := range resps {
		rr := r.GetResponseRange()
		if rr == nil || len(rr.Kvs) == 0 {
			continue
		}
		kv := rr.Kvs[0]
		e := &CheckpointOverlapError{Kind: kind, Path: p, Other: strings.TrimPrefix(string(kv.Key), prefix), Resource: string(kv.Value)}
		switch i {
		case 0:
			e.Relation = "is the same key as"
		case 1:
			e.Relation = "contains"
		default:
			e.Relation = "is inside"
		}
		e.Self = e.Resource == id
		other, err := s.Resource(ctx, e.Resource)
		switch {
		case errors.Is(err, ErrNotFound):
			if err := s.dropStaleClaim(ctx, string(kv.Key), e.Resource); err != nil {
				return err
			}
			return errStaleClaim
		case err == nil:
			e.ResourceName = other.Value.Name
			if indexOfPath(other.Value.CheckpointList(kind), e.Other) < 0 {
				// The record no longer lists it: a claim left behind by an
				// edit of the record. SyncCheckpoints of that resource
				// removes it; do it here so the add can proceed.
				if _, err := s.SyncCheckpoints(ctx, e.Resource); err != nil && !errors.Is(err, ErrCheckpointOverlap) {
					return err
				}
				return errStaleClaim
			}
		}
		return e
	}
	return nil
}

var errStaleClaim = errors.New("quorum: stale checkpoint claim removed")

// dropStaleClaim removes the claim key if it still belongs to id and the
// resource id does not exist.
func (s *Store) dropStaleClaim(ctx context.Context, key, id string) error {
	_, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(key), "=", id), absent(s.keys.Resource(id))).
		Then(clientv3.OpDelete(key), clientv3.OpDelete(s.keys.CheckpointNumbers(id), clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return fmt.Errorf("quorum: removing the stale checkpoint claim %s: %w", key, err)
	}
	s.log.Warn("removed a checkpoint claim of a deleted resource", "key", key, "resource", id)
	return nil
}

// readNumbers reads the number entries of resource id.
func (s *Store) readNumbers(ctx context.Context, id string) ([]CheckpointEntry, error) {
	resp, err := s.cli.Txn(ctx).Then(s.numbersOps(id)...).Commit()
	if err != nil {
		return nil, fmt.Errorf("quorum: reading the checkpoint numbers of resource %s: %w", id, err)
	}
	return s.parseNumbers(id, resp.Responses), nil
}

// numbersOps read a resource's checkpoint numbers and saved marks;
// parseNumbers decodes their responses.
func (s *Store) numbersOps(id string) []clientv3.Op {
	return []clientv3.Op{
		clientv3.OpGet(s.keys.CheckpointNumbers(id), clientv3.WithPrefix()),
		clientv3.OpGet(s.keys.CheckpointSavedMarks(id), clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	}
}

func (s *Store) parseNumbers(id string, resps []*pb.ResponseOp) []CheckpointEntry {
	prefix, marks := s.keys.CheckpointNumbers(id), s.keys.CheckpointSavedMarks(id)
	saved := map[string]bool{}
	for _, kv := range resps[1].GetResponseRange().Kvs {
		saved[strings.TrimPrefix(string(kv.Key), marks)] = true
	}
	var out []CheckpointEntry
	for _, kv := range resps[0].GetResponseRange().Kvs {
		name := strings.TrimPrefix(string(kv.Key), prefix)
		kind, n, err := model.ParseCheckpointFileName(name)
		if err != nil {
			s.log.Warn("ignoring an unexpected key in the checkpoint numbers", "key", string(kv.Key))
			continue
		}
		out = append(out, CheckpointEntry{Kind: kind, Number: n, Path: string(kv.Value), Saved: saved[name]})
	}
	sortEntries(out)
	return out
}

// recordAndNumbers reads resource id's record and its checkpoint numbers
// in one request, at one revision.
func (s *Store) recordAndNumbers(ctx context.Context, id string) (Versioned[model.Resource], []CheckpointEntry, error) {
	var rec Versioned[model.Resource]
	key := s.keys.Resource(id)
	resp, err := s.cli.Txn(ctx).Then(append([]clientv3.Op{clientv3.OpGet(key)}, s.numbersOps(id)...)...).Commit()
	if err != nil {
		return rec, nil, fmt.Errorf("quorum: reading resource %s and its checkpoint numbers: %w", id, err)
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return rec, nil, fmt.Errorf("%w: resource %s", ErrNotFound, id)
	}
	if err := json.Unmarshal(kvs[0].Value, &rec.Value); err != nil {
		return rec, nil, fmt.Errorf("quorum: decoding resource %s at %s: %w", id, key, err)
	}
	rec.ModRevision = kvs[0].ModRevision
	return rec, s.parseNumbers(id, resp.Responses[1:]), nil
}

func sortEntries(es []CheckpointEntry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Kind != es[j].Kind {
			return es[i].Kind == model.RegistryCheckpoint
		}
		return es[i].Number < es[j].Number
	})
}

// freeNumber returns the lowest number ≥ 1 of kind not in used.
func freeNumber(used []CheckpointEntry, kind model.CheckpointKind) (uint32, error) {
	taken := map[uint32]bool{}
	for _, e := range used {
		if e.Kind == kind {
			taken[e.Number] = true
		}
	}
	for n := uint32(1); n <= MaxResourceCheckpoints; n++ {
		if !taken[n] {
			return n, nil
		}
	}
	return 0, fmt.Errorf("quorum: a resource may have at most %d %s checkpoints", MaxResourceCheckpoints, kind)
}

// claim writes the claim and number of entry e for resource rec, together
// with a new record value (nil: leave the record alone), in one Txn that
// checks that nothing overlaps and that the record is unchanged. It returns
// errRetry when the record or the numbers moved under it.
func (s *Store) claim(ctx context.Context, rec Versioned[model.Resource], e CheckpointEntry, newRec *model.Resource) error {
	id := rec.Value.ID
	numKey := s.keys.CheckpointNumber(id, e.Kind, e.Number)
	cmps, gets := s.overlapChecks(e.Kind, e.Path)
	cmps = append(cmps, unchanged(s.keys.Resource(id), rec.ModRevision), absent(numKey))
	ops := []clientv3.Op{
		clientv3.OpPut(s.keys.CheckpointPath(e.Kind, e.Path), id),
		clientv3.OpPut(numKey, e.Path),
	}
	if newRec != nil {
		ops = append(ops, clientv3.OpPut(s.keys.Resource(id), mustJSON(*newRec)))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(gets...).Commit()
	if err != nil {
		return fmt.Errorf("quorum: adding %s checkpoint %q to resource %q: %w", e.Kind, e.Path, rec.Value.Name, err)
	}
	if resp.Succeeded {
		return nil
	}
	if err := s.explainOverlap(ctx, e.Kind, e.Path, id, resp.Responses); err != nil && !errors.Is(err, errStaleClaim) {
		return err
	}
	return errRetry
}

var errRetry = errors.New("quorum: retry")

const indexAttempts = 20

// AddCheckpoint adds path to the checkpoints of kind of resource id: the
// record's list, the claim on the path and a stable number, in one Txn.
// Adding a path the resource already has is ErrExists; a path equal to,
// containing or inside a checkpoint of any resource (this one included) is
// a *CheckpointOverlapError naming that resource. path must already be in
// canonical form (backslashes, no empty names); it is stored as given and
// compared case-insensitively.
func (s *Store) AddCheckpoint(ctx context.Context, id string, kind model.CheckpointKind, path string) (CheckpointEntry, error) {
	if err := checkCheckpointPath(kind, path); err != nil {
		return CheckpointEntry{}, err
	}
	// Bring the index in line with the record first (claims of checkpoints
	// listed in cluster.toml, leftovers of hand edits).
	if _, err := s.SyncCheckpoints(ctx, id); err != nil && !errors.Is(err, ErrCheckpointOverlap) {
		return CheckpointEntry{}, err
	}
	for attempt := 0; attempt < indexAttempts; attempt++ {
		rec, err := s.Resource(ctx, id)
		if err != nil {
			return CheckpointEntry{}, err
		}
		list := rec.Value.CheckpointList(kind)
		if i := indexOfPath(list, path); i >= 0 {
			return CheckpointEntry{}, fmt.Errorf("%w: %s checkpoint %q of resource %q", ErrExists, kind, list[i], rec.Value.Name)
		}
		used, err := s.readNumbers(ctx, id)
		if err != nil {
			return CheckpointEntry{}, err
		}
		n, err := freeNumber(used, kind)
		if err != nil {
			return CheckpointEntry{}, fmt.Errorf("%w (resource %q)", err, rec.Value.Name)
		}
		e := CheckpointEntry{Kind: kind, Number: n, Path: path}
		newRec := rec.Value
		newRec.SetCheckpointList(kind, append(append([]string(nil), list...), path))
		err = s.claim(ctx, rec, e, &newRec)
		if errors.Is(err, errRetry) {
			continue
		}
		if err != nil {
			return CheckpointEntry{}, err
		}
		return e, nil
	}
	return CheckpointEntry{}, fmt.Errorf("%w: adding %s checkpoint %q to resource %s: gave up after %d attempts", ErrConflict, kind, path, id, indexAttempts)
}

// RemoveCheckpoint removes path from the checkpoints of kind of resource id:
// the record's list, the claim, the number and the checkpoint's data in
// etcd, in one Txn. ErrNotFound if the resource does not have it.
func (s *Store) RemoveCheckpoint(ctx context.Context, id string, kind model.CheckpointKind, path string) (CheckpointEntry, error) {
	if err := checkCheckpointPath(kind, path); err != nil {
		return CheckpointEntry{}, err
	}
	for attempt := 0; attempt < indexAttempts; attempt++ {
		rec, err := s.Resource(ctx, id)
		if err != nil {
			return CheckpointEntry{}, err
		}
		list := rec.Value.CheckpointList(kind)
		i := indexOfPath(list, path)
		if i < 0 {
			return CheckpointEntry{}, fmt.Errorf("%w: %s checkpoint %q of resource %q", ErrNotFound, kind, path, rec.Value.Name)
		}
		used, err := s.readNumbers(ctx, id)
		if err != nil {
			return CheckpointEntry{}, err
		}
		newRec := rec.Value
		newRec.SetCheckpointList(kind, append(append([]string(nil), list[:i]...), list[i+1:]...))
		e := CheckpointEntry{Kind: kind, Path: list[i]}
		ops := []clientv3.Op{clientv3.OpPut(s.keys.Resource(id), mustJSON(newRec)), s.unclaimOp(kind, path, id)}
		for _, u := range used {
			if u.Kind == kind && foldCheckpointPath(u.Path) == foldCheckpointPath(path) {
				e.Number = u.Number
				ops = append(ops, s.dropNumberOps(id, u)...)
			}
		}
		resp, err := s.cli.Txn(ctx).If(unchanged(s.keys.Resource(id), rec.ModRevision)).Then(ops...).Commit()
		if err != nil {
			return CheckpointEntry{}, fmt.Errorf("quorum: removing %s checkpoint %q of resource %q: %w", kind, path, rec.Value.Name, err)
		}
		if resp.Succeeded {
			return e, nil
		}
	}
	return CheckpointEntry{}, fmt.Errorf("%w: removing %s checkpoint %q of resource %s: gave up after %d attempts", ErrConflict, kind, path, id, indexAttempts)
}

// unclaimOp deletes the claim on path if resource id holds it.
func (s *Store) unclaimOp(kind model.CheckpointKind, path, id string) clientv3.Op {
	key := s.keys.CheckpointPath(kind, path)
	return clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Value(key), "=", id)}, []clientv3.Op{clientv3.OpDelete(key)}, nil)
}

// dropNumberOps delete a number entry and the checkpoint data it names.
func (s *Store) dropNumberOps(id string, e CheckpointEntry) []clientv3.Op {
	return []clientv3.Op{
		clientv3.OpDelete(s.keys.CheckpointNumber(id, e.Kind, e.Number)),
		clientv3.OpDelete(s.keys.CheckpointSaved(id, e.Kind, e.Number)),
		clientv3.OpDelete(s.keys.Checkpoint(id, e.Kind, e.Number)),
		clientv3.OpDelete(s.keys.CheckpointData(id, e.Kind, e.Number), clientv3.WithPrefix()),
	}
}

// CheckpointEntries lists the numbered checkpoints of resource id (registry
// first, then crypto, by number) without changing anything. Checkpoints that
// the record lists but that have no number yet (written into the database
// from cluster.toml) are not included; SyncCheckpoints numbers them.
func (s *Store) CheckpointEntries(ctx context.Context, id string) ([]CheckpointEntry, error) {
	if err := model.ValidName(id); err != nil {
		return nil, fmt.Errorf("quorum: checkpoint resource id: %v", err)
	}
	return s.readNumbers(ctx, id)
}

// SyncCheckpoints brings the index in line with the record of resource id
// and returns its checkpoints: a path the record lists without a claim is
// claimed and numbered (refused with a *CheckpointOverlapError like
// AddCheckpoint); a number whose path the record no longer lists is removed
// with its claim and its checkpoint data. Each change is its own Txn checked
// against the record's revision; the result reflects one revision of it.
func (s *Store) SyncCheckpoints(ctx context.Context, id string) ([]CheckpointEntry, error) {
	for attempt := 0; attempt < indexAttempts; attempt++ {
		rec, used, err := s.recordAndNumbers(ctx, id)
		if err != nil {
			return nil, err
		}
		retry := false
		// Drop numbers the record no longer lists (or lists twice).
		seen := map[string]bool{}
		var kept []CheckpointEntry
		for _, u := range used {
			k := string(u.Kind) + "\x00" + foldCheckpointPath(u.Path)
			if seen[k] || indexOfPath(rec.Value.CheckpointList(u.Kind), u.Path) < 0 {
				ops := append(s.dropNumberOps(id, u), s.unclaimOp(u.Kind, u.Path, id))
				resp, err := s.cli.Txn(ctx).If(unchanged(s.keys.Resource(id), rec.ModRevision)).Then(ops...).Commit()
				if err != nil {
					return nil, fmt.Errorf("quorum: removing stale checkpoint %s of resource %q: %w", u, rec.Value.Name, err)
				}
				retry = retry || !resp.Succeeded
				continue
			}
			seen[k] = true
			kept = append(kept, u)
		}
		if retry {
			continue
		}
		// Claim what the record lists without a number.
		for _, kind := range []model.CheckpointKind{model.RegistryCheckpoint, model.CryptoCheckpoint} {
			for _, p := range rec.Value.CheckpointList(kind) {
				if seen[string(kind)+"\x00"+foldCheckpointPath(p)] {
					continue
				}
				if err := checkCheckpointPath(kind, p); err != nil {
					return nil, fmt.Errorf("%w (resource %q)", err, rec.Value.Name)
				}
				n, err := freeNumber(kept, kind)
				if err != nil {
					return nil, fmt.Errorf("%w (resource %q)", err, rec.Value.Name)
				}
				e := CheckpointEntry{Kind: kind, Number: n, Path: p}
				err = s.claim(ctx, rec, e, nil)
				if errors.Is(err, errRetry) {
					retry = true
					break
				}
				if err != nil {
					return nil, err
				}
				seen[string(kind)+"\x00"+foldCheckpointPath(p)] = true
				kept = append(kept, e)
			}
			if retry {
				break
			}
		}
		if retry {
			continue
		}
		sortEntries(kept)
		return kept, nil
	}
	return nil, fmt.Errorf("%w: numbering the checkpoints of resource %s: gave up after %d attempts", ErrConflict, id, indexAttempts)
}

// indexInSync reports whether SyncCheckpoints would change nothing: every
// numbered path is listed by the record, once, and every listed path is
// numbered.
func indexInSync(rec model.Resource, used []CheckpointEntry) bool {
	seen := map[string]bool{}
	for _, u := range used {
		k := string(u.Kind) + "\x00" + foldCheckpointPath(u.Path)
		if seen[k] || indexOfPath(rec.CheckpointList(u.Kind), u.Path) < 0 {
			return false
		}
		seen[k] = true
	}
	for _, kind := range []model.CheckpointKind{model.RegistryCheckpoint, model.CryptoCheckpoint} {
		for _, p := range rec.CheckpointList(kind) {
			if !seen[string(kind)+"\x00"+foldCheckpointPath(p)] {
				return false
			}
		}
	}
	return true
}

// LoadedCheckpoint is one checkpoint of a resource as LoadCheckpoints read
// it: its entry in the index, and what GetCheckpoint returns for it.
type LoadedCheckpoint struct {
	Entry    CheckpointEntry
	Data     []byte
	Manifest CheckpointManifest
	Err      error
}

const (
	// loadReadKeys is how many keys of a resource's checkpoint data
	// LoadCheckpoints reads in its first request: a manifest and a chunk
	// each for the few small checkpoints a resource usually has. A
	// checkpoint whose keys go past them is read by GetCheckpoint.
	loadReadKeys = 8
	// loadOps is the operations of that request; loadBatchResources
	// bounds how many resources' requests are merged into one Txn (chunks
	// are at most 1.5 MiB: a merged answer stays under 100 MiB whatever
	// the checkpoints hold, and is kilobytes for the usual ones), and
	// loadBatchReaders how many merged Txns are in flight.
	loadOps            = 4
	loadBatchResources = 8
	loadBatchReaders   = 4
)

// LoadCheckpoints is what a restore reads: SyncCheckpoints, then
// GetCheckpoint for every entry it returns, each entry's result in its
// LoadedCheckpoint. Where the index is in line with the record and the
// resource's checkpoint data is small, which is the usual case, all of it
// is one read at one revision instead of one request for the index and two
// for each checkpoint; and the reads of calls made while others are in
// flight are merged into one request: a failover restores every resource
// of every group it brings at once.
func (s *Store) LoadCheckpoints(ctx context.Context, id string) ([]LoadedCheckpoint, error) {
	key := s.keys.Resource(id)
	ops := append([]clientv3.Op{clientv3.OpGet(key)}, s.numbersOps(id)...)
	ops = append(ops, clientv3.OpGet(s.keys.ResourceCheckpoints(id), clientv3.WithPrefix(), clientv3.WithLimit(loadReadKeys)))
	resps, _, err := s.loads.read(ctx, ops)
	if err != nil {
		return nil, fmt.Errorf("quorum: reading resource %s and its checkpoints: %w", id, err)
	}
	kvs := resps[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, fmt.Errorf("%w: resource %s", ErrNotFound, id)
	}
	var rec model.Resource
	if err := json.Unmarshal(kvs[0].Value, &rec); err != nil {
		return nil, fmt.Errorf("quorum: decoding resource %s at %s: %w", id, key, err)
	}
	used := s.parseNumbers(id, resps[1:3])
	if !indexInSync(rec, used) {
		// The index changes first, each change its own checked Txn.
		if used, err = s.SyncCheckpoints(ctx, id); err != nil {
			return nil, err
		}
		out := make([]LoadedCheckpoint, len(used))
		for i, e := range used {
			out[i] = s.loadOne(ctx, id, e)
		}
		return out, nil
	}
	data := resps[3].GetResponseRange()
	got := make(map[string][]byte, len(data.Kvs))
	for _, kv := range data.Kvs {
		got[string(kv.Key)] = kv.Value
	}
	// What was read ends at the last key read, unless it is everything.
	readTo := ""
	if data.More && len(data.Kvs) > 0 {
		readTo = string(data.Kvs[len(data.Kvs)-1].Key)
	}
	out := make([]LoadedCheckpoint, len(used))
	for i, e := range used {
		mk := s.keys.Checkpoint(id, e.Kind, e.Number)
		if data.More && (len(data.Kvs) == 0 || clientv3.GetPrefixRangeEnd(mk) > readTo) {
			out[i] = s.loadOne(ctx, id, e)
			continue
		}
		out[i] = loadedFrom(mk, s.keys.CheckpointData(id, e.Kind, e.Number), id, e, got)
	}
	return out, nil
}

// loadOne reads one checkpoint with GetCheckpoint.
func (s *Store) loadOne(ctx context.Context, id string, e CheckpointEntry) LoadedCheckpoint {
	l := LoadedCheckpoint{Entry: e}
	l.Data, l.Manifest, l.Err = s.GetCheckpoint(ctx, id, e.Kind, e.Number)
	return l
}

// loadedFrom verifies checkpoint e of resource id, its manifest at key mk
// and its chunks under dataPrefix, from got, which holds every one of its
// keys, as GetCheckpoint does.
func loadedFrom(mk, dataPrefix, id string, e CheckpointEntry, got map[string][]byte) LoadedCheckpoint {
	l := LoadedCheckpoint{Entry: e}
	v, ok := got[mk]
	if !ok {
		l.Err = fmt.Errorf("%w: checkpoint %s", ErrNotFound, mk)
		return l
	}
	if l.Manifest, l.Err = checkManifest(mk, id, e.Kind, e.Number, v); l.Err != nil {
		return l
	}
	m := l.Manifest
	genPrefix := dataPrefix + m.Generation + "/"
	chunks := map[string][]byte{}
	for k, v := range got {
		if strings.HasPrefix(k, genPrefix) {
			chunks[k] = v
		}
	}
	data, err := appendChunks(make([]byte, 0, m.Size), mk, genPrefix, m, chunks, 0, m.Chunks)
	if err == nil {
		err = checkPayload(mk, m, data)
	}
	if err != nil {
		l.Err = err
		return l
	}
	l.Data = data
	return l
}

// checkpointIndexDeletes are the operations DeleteResource adds to its Txn:
// the resource's numbers, and its claims on the paths its record lists.
func (s *Store) checkpointIndexDeletes(r model.Resource) []clientv3.Op {
	ops := []clientv3.Op{
		clientv3.OpDelete(s.keys.CheckpointNumbers(r.ID), clientv3.WithPrefix()),
		clientv3.OpDelete(s.keys.CheckpointSavedMarks(r.ID), clientv3.WithPrefix()),
	}
	seen := map[string]bool{}
	for _, kind := range []model.CheckpointKind{model.RegistryCheckpoint, model.CryptoCheckpoint} {
		for _, p := range r.CheckpointList(kind) {
			if k := s.keys.CheckpointPath(kind, p); !seen[k] {
				seen[k] = true
				ops = append(ops, s.unclaimOp(kind, p, r.ID))
			}
		}
	}
	return ops
}

// MarkCheckpointSaved records, once, that data was stored for checkpoint
// number of kind of resource id (CheckpointEntry.Saved).
func (s *Store) MarkCheckpointSaved(ctx context.Context, id string, kind model.CheckpointKind, number uint32) error {
	key := s.keys.CheckpointSaved(id, kind, number)
	_, err := s.cli.Txn(ctx).
		If(absent(key), present(s.keys.CheckpointNumber(id, kind, number))).
		Then(clientv3.OpPut(key, time.Now().UTC().Format(time.RFC3339Nano))).
		Commit()
	if err != nil {
		return fmt.Errorf("quorum: marking %s of resource %s saved: %w", model.CheckpointFileName(kind, number), id, err)
	}
	return nil
}

// ForgetCheckpointSaved drops the saved mark: the operator accepted that the
// data is gone, so the next store is a first one.
func (s *Store) ForgetCheckpointSaved(ctx context.Context, id string, kind model.CheckpointKind, number uint32) error {
	if _, err := s.cli.Delete(ctx, s.keys.CheckpointSaved(id, kind, number)); err != nil {
		return fmt.Errorf("quorum: forgetting that %s of resource %s was saved: %w", model.CheckpointFileName(kind, number), id, err)
	}
	return nil
}
