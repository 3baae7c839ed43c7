package quorum

// Checkpoint (CPT/CPR) data storage.
//
// A checkpoint is one manifest key plus its payload in chunks:
//
//	checkpoints/<id>/00000001.CPT                                   manifest (JSON)
//	checkpoints/<id>/00000001.CPT.data/<generation>/<chunk index>   payload chunks
//
// A payload that fits one chunk (the usual registry subtree) is written with a
// single fenced Txn and no read round trip: put the chunk under the fixed
// inline generation, put the manifest, drop every other generation. Chunk and
// manifest change at the same revision, so readers that take both at one
// revision always see a matching pair.
//
// A larger payload is written under a fresh random generation, one fenced Txn
// per chunk; a final fenced Txn switches the manifest to it (after checking
// that each chunk is still the one this writer stored) and drops the other
// generations. Until that switch the previous manifest and its chunks stay
// untouched and valid; if the writer dies part-way, the chunks it left behind
// are removed by the next successful put.
//
// Every read verifies sizes and the sha256 of the whole payload, so any damage
// surfaces as ErrCorruptCheckpoint rather than as wrong registry data.
//
// Concurrency contract: at most one writer per checkpoint at a time. The
// checkpoint manager on the owning node serialises the saves of a checkpoint,
// and fencing keeps a former owner out. If the contract is broken anyway, the
// result is still never a silently wrong payload: the last complete write
// wins, and a multi-chunk write whose chunks were removed under it fails with
// ErrConflict instead of publishing a manifest that points at nothing.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/resmon/resmon/model"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// ManifestFormat is the version of the manifest encoding written by this code.
	ManifestFormat = 1

	// ChunkSize is the largest chunk written. etcd refuses requests over
	// 1.5 MiB (and a Txn counts as one request); a 1 MiB chunk leaves about
	// 512 KiB for the manifest, the keys and the other operations of the
	// single-Txn write, so any payload up to 1 MiB is stored in one Txn.
	ChunkSize = 1 << 20

	// MaxCheckpointSize bounds a payload. A checkpoint is a registry subtree
	// or a key container, normally kilobytes; the bound keeps the chunk count
	// (and so the comparisons of the manifest switch) well under etcd's
	// limit of 128 operations per Txn, and a reader's memory bounded.
	MaxCheckpointSize = 64 << 20

	// maxChunkSize is the largest chunk a manifest may declare: one chunk
	// must fit one etcd request.
	maxChunkSize = 1536 << 10
	// maxChunks bounds the chunk count a manifest may declare: the manifest
	// switch compares every chunk plus the fence in one Txn (≤ 128 compares).
	maxChunks = 120
	// chunkReadBatch is how many chunks one read request fetches.
	chunkReadBatch = 8
	// manifestReadBatch is how many manifests one read Txn fetches.
	manifestReadBatch = 64
)

var (
	// ErrCorruptCheckpoint reports checkpoint data that fails verification:
	// a bad manifest, a missing or wrong-sized chunk, or a sha256 mismatch.
	// Such data is never returned; recover the checkpoint from the owner's
	// registry instead.
	ErrCorruptCheckpoint = errors.New("quorum: checkpoint data is corrupt")
	// ErrBadManifest reports a checkpoint manifest that does not decode or
	// is inconsistent in itself.
	ErrBadManifest = errors.New("quorum: invalid checkpoint manifest")
	// ErrCheckpointTooLarge reports a payload over MaxCheckpointSize.
	ErrCheckpointTooLarge = errors.New("quorum: checkpoint payload is too large")
)

// CorruptCheckpointError says which checkpoint failed verification and why.
// errors.Is(err, ErrCorruptCheckpoint) holds for it.
type CorruptCheckpointError struct {
	Key    string // the manifest key
	Reason string
	Err    error // underlying cause, if any (e.g. an ErrBadManifest)
}

func (e *CorruptCheckpointError) Error() string {
	return fmt.Sprintf("quorum: checkpoint %s is corrupt: %s", e.Key, e.Reason)
}

// Is makes errors.Is(err, ErrCorruptCheckpoint) true.
func (e *CorruptCheckpointError) Is(target error) bool { return target == ErrCorruptCheckpoint }

// Unwrap returns the underlying cause.
func (e *CorruptCheckpointError) Unwrap() error { return e.Err }

func newCorruptCheckpoint(key string, err error, format string, args ...any) *CorruptCheckpointError {
	return &CorruptCheckpointError{Key: key, Reason: fmt.Sprintf(format, args...), Err: err}
}

// CheckpointManifest describes one stored checkpoint. It is the JSON value of
// the manifest key, readable with etcdctl.
type CheckpointManifest struct {
	Format     int                  `json:"format"`     // ManifestFormat
	Resource   string               `json:"resource"`   // resource id
	Kind       model.CheckpointKind `json:"kind"`       // CPT or CPR
	Number     uint32               `json:"number"`     // the 00000001 of 00000001.CPT
	Generation string               `json:"generation"` // 16 hex digits naming the chunk set
	Size       int64                `json:"size"`       // payload bytes
	Chunks     int                  `json:"chunks"`     // ceil(size / chunk_size); 0 for an empty payload
	ChunkSize  int                  `json:"chunk_size"` // bytes per chunk (the last may be shorter)
	SHA256     string               `json:"sha256"`     // hex sha256 of the whole payload
	Node       string               `json:"node"`       // node that wrote the payload
	Group      string               `json:"group,omitempty"`
	Token      int64                `json:"token"` // fencing token of the write; 0 for an unfenced write
	Time       time.Time            `json:"time"`  // when the payload was written (RFC 3339, UTC)
	// Restored marks data put back from a backup: it may be older than the
	// owner's registry until the checkpoint is saved again or recovered.
	Restored   bool      `json:"restored"`
	RestoredAt time.Time `json:"restored_at,omitzero"`
	BackupTime time.Time `json:"backup_time,omitzero"`
}

// FileName is the checkpoint's Windows-style name, "00000001.CPT".
func (m CheckpointManifest) FileName() string { return model.CheckpointFileName(m.Kind, m.Number) }

// DecodeManifest decodes and checks a manifest. It is strict because a
// manifest decides which bytes are handed to a registry: unknown fields,
// trailing data, another format version and internal inconsistencies are all
// refused with an error wrapping ErrBadManifest.
func DecodeManifest(b []byte) (CheckpointManifest, error) {
	var m CheckpointManifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return CheckpointManifest{}, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return CheckpointManifest{}, fmt.Errorf("%w: trailing data after the JSON object", ErrBadManifest)
	}
	if err := m.validate(); err != nil {
		return CheckpointManifest{}, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	return m, nil
}

func (m CheckpointManifest) validate() error {
	switch {
	case m.Format != ManifestFormat:
		return fmt.Errorf("format %d is not supported (want %d)", m.Format, ManifestFormat)
	case model.ValidName(m.Resource) != nil:
		return fmt.Errorf("resource: %v", model.ValidName(m.Resource))
	case m.Kind != model.RegistryCheckpoint && m.Kind != model.CryptoCheckpoint:
		return fmt.Errorf("kind %q is neither %s nor %s", m.Kind, model.RegistryCheckpoint, model.CryptoCheckpoint)
	case !cptIsHex(m.Generation, 16):
		return fmt.Errorf("generation %q is not 16 lower-case hex digits", m.Generation)
	case m.Size < 0 || m.Size > MaxCheckpointSize:
		return fmt.Errorf("size %d is outside 0..%d", m.Size, MaxCheckpointSize)
	case m.ChunkSize < 1 || m.ChunkSize > maxChunkSize:
		return fmt.Errorf("chunk_size %d is outside 1..%d", m.ChunkSize, maxChunkSize)
	case int64(m.Chunks) != cptChunkCount(m.Size, m.ChunkSize):
		return fmt.Errorf("chunks %d does not match size %d with chunk_size %d (want %d)",
			m.Chunks, m.Size, m.ChunkSize, cptChunkCount(m.Size, m.ChunkSize))
	case m.Chunks > maxChunks:
		return fmt.Errorf("chunks %d is more than %d", m.Chunks, maxChunks)
	case !cptIsHex(m.SHA256, 64):
		return fmt.Errorf("sha256 %q is not 64 lower-case hex digits", m.SHA256)
	case model.ValidName(m.Node) != nil:
		return fmt.Errorf("node: %v", model.ValidName(m.Node))
	case m.Group != "" && model.ValidName(m.Group) != nil:
		return fmt.Errorf("group: %v", model.ValidName(m.Group))
	case m.Token < 0:
		return fmt.Errorf("token %d is negative", m.Token)
	case m.Time.IsZero():
		return fmt.Errorf("time is missing")
	case m.Restored && (m.RestoredAt.IsZero() || m.BackupTime.IsZero()):
		return fmt.Errorf("a restored manifest needs restored_at and backup_time")
	case !m.Restored && (!m.RestoredAt.IsZero() || !m.BackupTime.IsZero()):
		return fmt.Errorf("restored_at and backup_time are only allowed with restored: true")
	}
	return nil
}

func cptIsHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func cptChunkCount(size int64, chunkSize int) int64 {
	if chunkSize <= 0 || size <= 0 {
		return 0
	}
	return (size + int64(chunkSize) - 1) / int64(chunkSize)
}

// cptChunkKey is the key of chunk i of a generation, e.g. ".../<gen>/00000003".
func cptChunkKey(genPrefix string, i int) string { return genPrefix + fmt.Sprintf("%08d", i) }

// inlineGeneration is the generation of payloads of at most one chunk.
// Such a payload is replaced together with its manifest in one Txn, so it
// needs no fresh chunk key to stay consistent for readers, and reusing one key
// matters: a fresh key per write leaves a dead key in etcd's in-memory index
// until the next compaction, and the next put's range deletes walk all of
// them. Measured with random generations: after 5000 puts of 1 KiB, 16-19 % of
// etcd's CPU went to that walk and p50 rose from 0.38 to 0.69 ms.
const inlineGeneration = "0000000000000000"

// newCPTGeneration returns a random, non-inline 64-bit generation as 16 hex
// digits for a multi-chunk payload. A fresh name per write is what keeps those
// chunks immutable while the manifest still points at the previous set (a
// collision has probability 2^-64 per pair of writes).
func newCPTGeneration() (string, error) {
	for {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("quorum: generating a checkpoint generation: %w", err)
		}
		if g := fmt.Sprintf("%016x", binary.BigEndian.Uint64(b[:])); g != inlineGeneration {
			return g, nil
		}
	}
}

func checkCheckpointName(id string, kind model.CheckpointKind) error {
	if err := model.ValidName(id); err != nil {
		return fmt.Errorf("quorum: checkpoint resource id: %v", err)
	}
	if kind != model.RegistryCheckpoint && kind != model.CryptoCheckpoint {
		return fmt.Errorf("quorum: checkpoint kind %q is neither %s nor %s", kind, model.RegistryCheckpoint, model.CryptoCheckpoint)
	}
	return nil
}

// PutCheckpoint stores data as checkpoint number of kind for resource id,
// replacing any previous payload, if and only if f is the current ownership
// of the resource's group (ErrFenced otherwise, with nothing changed that a
// reader could see). node is recorded in the manifest as the writer.
//
// Payloads up to ChunkSize cost one Txn and no read. Larger ones cost one Txn
// per chunk plus one to switch the manifest; until that last Txn the previous
// checkpoint stays readable and valid. See the package comment on checkpoints
// for the one-writer-per-checkpoint contract.
func (s *Store) PutCheckpoint(ctx context.Context, f model.Fence, id string, kind model.CheckpointKind, number uint32, node string, data []byte) (CheckpointManifest, error) {
	if err := model.ValidName(f.Group); err != nil {
		return CheckpointManifest{}, fmt.Errorf("quorum: checkpoint fence group: %v", err)
	}
	return s.writeCheckpoint(ctx, &f, CheckpointManifest{Resource: id, Kind: kind, Number: number, Node: node}, data)
}

// putCheckpointUnfenced stores a checkpoint without an ownership check, for
// restore and recovery tooling that runs while no node owns the group. m
// supplies the identity (resource, kind, number), the writer fields and the
// restore marks; the payload fields are computed here.
func (s *Store) putCheckpointUnfenced(ctx context.Context, m CheckpointManifest, data []byte) (CheckpointManifest, error) {
	return s.writeCheckpoint(ctx, nil, m, data)
}

// writeCheckpoint is PutCheckpoint with an optional fence (nil: unfenced).
func (s *Store) writeCheckpoint(ctx context.Context, fence *model.Fence, m CheckpointManifest, data []byte) (CheckpointManifest, error) {
	if err := checkCheckpointName(m.Resource, m.Kind); err != nil {
		return CheckpointManifest{}, err
	}
	if err := model.ValidName(m.Node); err != nil {
		return CheckpointManifest{}, fmt.Errorf("quorum: checkpoint writer node: %v", err)
	}
	key := s.keys.Checkpoint(m.Resource, m.Kind, m.Number)
	if len(data) > MaxCheckpointSize {
		return CheckpointManifest{}, fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrCheckpointTooLarge, key, len(data), MaxCheckpointSize)
	}
	sum := sha256.Sum256(data)
	m.Format = ManifestFormat
	m.Size = int64(len(data))
	m.ChunkSize = ChunkSize
	m.Chunks = int(cptChunkCount(m.Size, ChunkSize))
	gen := inlineGeneration
	if m.Chunks > 1 {
		var err error
		if gen, err = newCPTGeneration(); err != nil {
			return CheckpointManifest{}, err
		}
	}
	m.Generation = gen
	m.SHA256 = hex.EncodeToString(sum[:])
	if fence != nil {
		m.Group, m.Token = fence.Group, fence.Token
	}
	if m.Time.IsZero() {
		m.Time = time.Now().UTC()
	}
	if err := m.validate(); err != nil {
		return CheckpointManifest{}, fmt.Errorf("quorum: checkpoint %s: %w: %v", key, ErrBadManifest, err)
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return CheckpointManifest{}, fmt.Errorf("quorum: encoding manifest of %s: %w", key, err)
	}

	dataPrefix := s.keys.CheckpointData(m.Resource, m.Kind, m.Number)
	genPrefix := dataPrefix + gen + "/"
	var cmps []clientv3.Cmp
	if fence != nil {
		cmps = append(cmps, s.fenceCmp(*fence))
	}
	var ops []clientv3.Op
	switch {
	case m.Chunks == 1:
		ops = append(ops, clientv3.OpPut(cptChunkKey(genPrefix, 0), string(data)))
	case m.Chunks > 1:
		// Immutable chunks first; each Txn is fenced so a deposed owner stops
		// at once. The switch below re-checks that every chunk is still the
		// one written here (ModRevision), which also catches a broken
		// one-writer contract.
		for i := 0; i < m.Chunks; i++ {
			lo := i * ChunkSize
			hi := min(lo+ChunkSize, len(data))
			ck := cptChunkKey(genPrefix, i)
			rev, err := s.putChunk(ctx, fence, key, ck, data[lo:hi])
			if err != nil {
				s.dropGeneration(ctx, genPrefix)
				return CheckpointManifest{}, err
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(ck), "=", rev))
		}
	}
	// The manifest switch; every other generation of this checkpoint (the
	// previous payload and leftovers of interrupted writes) goes in the same
	// Txn. Two ranges because the new generation sits in the middle:
	// [data/, data/<gen>/) and [data/<gen>0, end of data/); '0' follows '/'.
	ops = append(ops,
		clientv3.OpPut(key, string(mj)),
		clientv3.OpDelete(dataPrefix, clientv3.WithRange(genPrefix)),
		clientv3.OpDelete(dataPrefix+gen+"0", clientv3.WithRange(clientv3.GetPrefixRangeEnd(dataPrefix))),
	)
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return CheckpointManifest{}, fmt.Errorf("quorum: writing checkpoint %s: %w", key, err)
	}
	if !resp.Succeeded {
		if m.Chunks > 1 {
			s.dropGeneration(ctx, genPrefix)
		}
		if fence != nil {
			if err := s.fenceFailure(ctx, *fence, key); err != nil {
				return CheckpointManifest{}, err
			}
		}
		return CheckpointManifest{}, fmt.Errorf("%w: checkpoint %s: chunks of generation %s were changed or removed while it was written (two writers?)", ErrConflict, key, gen)
	}
	return m, nil
}

// dropGeneration removes the chunks of a multi-chunk write that will never be
// published: a chunk write failed, or the manifest switch was refused. It is
// never called when the switch's outcome is unknown (a transport error),
// because the switch may have committed. The generation is this writer's own
// random name, so no fence is needed; failures are left to the next put.
func (s *Store) dropGeneration(ctx context.Context, genPrefix string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.cli.Delete(ctx, genPrefix, clientv3.WithPrefix()); err != nil {
		s.log.Debug("leaving chunks of an unpublished checkpoint write to the next put", "prefix", genPrefix, "error", err)
	}
}

// putChunk writes one chunk (fenced when fence is set) and returns the
// revision that wrote it.
func (s *Store) putChunk(ctx context.Context, fence *model.Fence, key, chunkKey string, chunk []byte) (int64, error) {
	if fence == nil {
		resp, err := s.cli.Put(ctx, chunkKey, string(chunk))
		if err != nil {
			return 0, fmt.Errorf("quorum: writing checkpoint chunk %s: %w", chunkKey, err)
		}
		return resp.Header.Revision, nil
	}
	resp, err := s.cli.Txn(ctx).If(s.fenceCmp(*fence)).Then(clientv3.OpPut(chunkKey, string(chunk))).Commit()
	if err != nil {
		return 0, fmt.Errorf("quorum: writing checkpoint chunk %s: %w", chunkKey, err)
	}
	if !resp.Succeeded {
		if err := s.fenceFailure(ctx, *fence, key); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: checkpoint chunk %s", ErrConflict, chunkKey)
	}
	return resp.Header.Revision, nil
}

// fenceFailure explains a failed fenced Txn: ErrFenced naming the current
// ownership if f no longer holds, nil if it does (so another comparison
// failed). It reads the owner key after the fact instead of through the Txn's
// Else branch, which keeps the common, successful write a little cheaper; the
// answer is still exact because a token never becomes current again once
// its owner key is gone.
func (s *Store) fenceFailure(ctx context.Context, f model.Fence, key string) error {
	resp, err := s.cli.Get(ctx, s.keys.Owner(f.Group))
	switch {
	case err != nil:
		return fmt.Errorf("quorum: writing %s with %s: the write was refused and the owner could not be read: %w", key, f, err)
	case len(resp.Kvs) == 0:
		return fmt.Errorf("%w: writing %s with %s: the group has no owner now", model.ErrFenced, key, f)
	case resp.Kvs[0].CreateRevision != f.Token:
		return fmt.Errorf("%w: writing %s with %s: the group is now owned with token %d (%s)",
			model.ErrFenced, key, f, resp.Kvs[0].CreateRevision, resp.Kvs[0].Value)
	}
	return nil
}

// GetCheckpoint reads and verifies a checkpoint. The manifest and its chunks
// are read at one etcd revision. Anything that does not verify (manifest,
// chunk presence, chunk sizes, total size, sha256) yields a
// *CorruptCheckpointError and nil data — corrupt data is never handed out —
// together with the manifest when it at least decoded, so tooling can show
// who wrote it. A missing checkpoint yields ErrNotFound.
func (s *Store) GetCheckpoint(ctx context.Context, id string, kind model.CheckpointKind, number uint32) ([]byte, CheckpointManifest, error) {
	if err := checkCheckpointName(id, kind); err != nil {
		return nil, CheckpointManifest{}, err
	}
	var (
		data []byte
		m    CheckpointManifest
		err  error
	)
	// The chunks are read at the manifest's revision; if compaction removed
	// that revision between the two reads, start over at a newer one.
	for attempt := 0; attempt < 3; attempt++ {
		data, m, err = s.readCheckpoint(ctx, id, kind, number, 0)
		if !errors.Is(err, rpctypes.ErrCompacted) {
			break
		}
	}
	return data, m, err
}

// readCheckpoint reads a checkpoint at revision rev (0: the latest).
func (s *Store) readCheckpoint(ctx context.Context, id string, kind model.CheckpointKind, number uint32, rev int64) ([]byte, CheckpointManifest, error) {
	key := s.keys.Checkpoint(id, kind, number)
	var opts []clientv3.OpOption
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := s.cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, CheckpointManifest{}, fmt.Errorf("quorum: reading checkpoint %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, CheckpointManifest{}, fmt.Errorf("%w: checkpoint %s", ErrNotFound, key)
	}
	if rev == 0 {
		rev = resp.Header.Revision
	}
	m, err := checkManifest(key, id, kind, number, resp.Kvs[0].Value)
	if err != nil {
		return nil, m, err
	}
	data, err := s.readChunks(ctx, key, s.keys.CheckpointData(id, kind, number), m, rev)
	if err != nil {
		return nil, m, err
	}
	return data, m, nil
}

// checkManifest decodes the manifest stored at key for checkpoint number of
// kind of resource id, and checks that it names them.
func checkManifest(key, id string, kind model.CheckpointKind, number uint32, value []byte) (CheckpointManifest, error) {
	m, err := DecodeManifest(value)
	if err != nil {
		return CheckpointManifest{}, newCorruptCheckpoint(key, err, "manifest: %v", err)
	}
	if m.Resource != id || m.Kind != kind || m.Number != number {
		return m, newCorruptCheckpoint(key, nil, "manifest names %s/%s, not the key it is stored under", m.Resource, m.FileName())
	}
	return m, nil
}

// readChunks fetches and verifies the payload m describes, at revision rev.
func (s *Store) readChunks(ctx context.Context, key, dataPrefix string, m CheckpointManifest, rev int64) ([]byte, error) {
	genPrefix := dataPrefix + m.Generation + "/"
	data := make([]byte, 0, m.Size)
	for first := 0; first < m.Chunks; first += chunkReadBatch {
		last := min(first+chunkReadBatch, m.Chunks)
		from, to := cptChunkKey(genPrefix, first), cptChunkKey(genPrefix, last)
		if first == 0 {
			from = genPrefix // so a stray key before chunk 0 is seen
		}
		if last == m.Chunks {
			to = clientv3.GetPrefixRangeEnd(genPrefix) // … and one after the last chunk
		}
		resp, err := s.cli.Get(ctx, from, clientv3.WithRange(to), clientv3.WithRev(rev))
		if err != nil {
			return nil, fmt.Errorf("quorum: reading chunks of checkpoint %s: %w", key, err)
		}
		got := make(map[string][]byte, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = kv.Value
		}
		if data, err = appendChunks(data, key, genPrefix, m, got, first, last); err != nil {
			return nil, err
		}
	}
	return data, checkPayload(key, m, data)
}

// appendChunks appends chunks first to last (exclusive) of the payload m
// describes, from got, the keys read of their range of generation prefix
// genPrefix, after checking each one's presence and size and that got holds
// nothing else.
func appendChunks(data []byte, key, genPrefix string, m CheckpointManifest, got map[string][]byte, first, last int) ([]byte, error) {
	for i := first; i < last; i++ {
		ck := cptChunkKey(genPrefix, i)
		v, ok := got[ck]
		if !ok {
			return nil, newCorruptCheckpoint(key, nil, "chunk %d of %d (generation %s) is missing", i, m.Chunks, m.Generation)
		}
		want := int64(m.ChunkSize)
		if i == m.Chunks-1 {
			want = m.Size - int64(m.Chunks-1)*int64(m.ChunkSize)
		}
		if int64(len(v)) != want {
			return nil, newCorruptCheckpoint(key, nil, "chunk %d (generation %s) has %d bytes, the manifest says %d", i, m.Generation, len(v), want)
		}
		data = append(data, v...)
		delete(got, ck)
	}
	for k := range got {
		return nil, newCorruptCheckpoint(key, nil, "unexpected key %s in generation %s", k, m.Generation)
	}
	return data, nil
}

// checkPayload checks the whole payload against its manifest's sum.
func checkPayload(key string, m CheckpointManifest, data []byte) error {
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != m.SHA256 {
		return newCorruptCheckpoint(key, nil, "payload sha256 is %x, the manifest says %s", sum, m.SHA256)
	}
	return nil
}

// DeleteCheckpoint removes a checkpoint and all of its chunks, fenced by f
// like PutCheckpoint. ErrNotFound if there was no manifest (leftover chunks,
// if any, are removed anyway).
func (s *Store) DeleteCheckpoint(ctx context.Context, f model.Fence, id string, kind model.CheckpointKind, number uint32) error {
	if err := checkCheckpointName(id, kind); err != nil {
		return err
	}
	if err := model.ValidName(f.Group); err != nil {
		return fmt.Errorf("quorum: checkpoint fence group: %v", err)
	}
	key := s.keys.Checkpoint(id, kind, number)
	resp, err := s.cli.Txn(ctx).If(s.fenceCmp(f)).Then(
		clientv3.OpDelete(key),
		clientv3.OpDelete(s.keys.CheckpointData(id, kind, number), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return fmt.Errorf("quorum: deleting checkpoint %s: %w", key, err)
	}
	if !resp.Succeeded {
		if err := s.fenceFailure(ctx, f, key); err != nil {
			return err
		}
		return fmt.Errorf("%w: deleting checkpoint %s", ErrConflict, key)
	}
	if resp.Responses[0].GetResponseDeleteRange().Deleted == 0 {
		return fmt.Errorf("%w: checkpoint %s", ErrNotFound, key)
	}
	return nil
}

// DeleteResourceCheckpoints removes every checkpoint of a resource, unfenced:
// it is the administrative delete that goes with deleting the resource
// (rule 4; the node-local registry keeps its data).
func (s *Store) DeleteResourceCheckpoints(ctx context.Context, id string) error {
	if err := model.ValidName(id); err != nil {
		return fmt.Errorf("quorum: checkpoint resource id: %v", err)
	}
	prefix := s.keys.ResourceCheckpoints(id)
	if _, err := s.cli.Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
		return fmt.Errorf("quorum: deleting checkpoints of resource %s: %w", id, err)
	}
	return nil
}

// ListCheckpoints returns the manifests of one resource's checkpoints, in key
// order, without reading any payload. A manifest that does not decode is left
// out and reported in the error (errors.Is ErrCorruptCheckpoint) while the
// others are still returned.
func (s *Store) ListCheckpoints(ctx context.Context, id string) ([]CheckpointManifest, error) {
	if err := model.ValidName(id); err != nil {
		return nil, fmt.Errorf("quorum: checkpoint resource id: %v", err)
	}
	entries, _, err := s.listManifests(ctx, s.keys.ResourceCheckpoints(id), 0)
	out := make([]CheckpointManifest, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.m)
	}
	return out, err
}

// ListAllCheckpoints returns every checkpoint manifest of the cluster by
// resource id, without reading payloads; undecodable manifests are handled as
// in ListCheckpoints.
func (s *Store) ListAllCheckpoints(ctx context.Context) (map[string][]CheckpointManifest, error) {
	entries, _, err := s.listManifests(ctx, s.keys.Checkpoints(), 0)
	out := make(map[string][]CheckpointManifest)
	for _, e := range entries {
		out[e.m.Resource] = append(out[e.m.Resource], e.m)
	}
	return out, err
}

type manifestEntry struct {
	key string
	m   CheckpointManifest
}

// listManifests finds the manifest keys under prefix with a keys-only scan
// (chunk values are not transferred) and reads the manifests at the scan's
// revision. It returns the entries that decode, the revision, and the joined
// *CorruptCheckpointErrors of those that do not; any other failure is
// returned alone.
func (s *Store) listManifests(ctx context.Context, prefix string, rev int64) ([]manifestEntry, int64, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := s.cli.Get(ctx, prefix, opts...)
	if err != nil {
		return nil, 0, fmt.Errorf("quorum: listing checkpoints under %s: %w", prefix, err)
	}
	if rev == 0 {
		rev = resp.Header.Revision
	}
	var keys []string
	for _, kv := range resp.Kvs {
		if _, _, _, ok := s.parseManifestKey(string(kv.Key)); ok {
			keys = append(keys, string(kv.Key))
		}
	}
	sort.Strings(keys)
	var (
		out  []manifestEntry
		errs []error
	)
	for first := 0; first < len(keys); first += manifestReadBatch {
		batch := keys[first:min(first+manifestReadBatch, len(keys))]
		ops := make([]clientv3.Op, len(batch))
		for i, k := range batch {
			ops[i] = clientv3.OpGet(k, clientv3.WithRev(rev))
		}
		tr, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, rev, fmt.Errorf("quorum: reading checkpoint manifests under %s: %w", prefix, err)
		}
		for i, r := range tr.Responses {
			rr := r.GetResponseRange()
			if rr == nil || len(rr.Kvs) == 0 {
				continue // cannot happen at a fixed revision
			}
			id, kind, number, _ := s.parseManifestKey(batch[i])
			m, err := DecodeManifest(rr.Kvs[0].Value)
			if err != nil {
				errs = append(errs, newCorruptCheckpoint(batch[i], err, "manifest: %v", err))
				continue
			}
			if m.Resource != id || m.Kind != kind || m.Number != number {
				errs = append(errs, newCorruptCheckpoint(batch[i], nil, "manifest names %s/%s, not the key it is stored under", m.Resource, m.FileName()))
				continue
			}
			out = append(out, manifestEntry{key: batch[i], m: m})
		}
	}
	return out, rev, errors.Join(errs...)
}

// parseManifestKey recognises ".../checkpoints/<id>/<8 hex>.<CPT|CPR>" and
// rejects chunk keys and anything else stored under the checkpoints prefix.
func (s *Store) parseManifestKey(key string) (string, model.CheckpointKind, uint32, bool) {
	rel, ok := strings.CutPrefix(key, s.keys.Checkpoints())
	if !ok {
		return "", "", 0, false
	}
	id, name, ok := strings.Cut(rel, "/")
	if !ok || model.ValidName(id) != nil || strings.Contains(name, "/") {
		return "", "", 0, false
	}
	kind, number, err := model.ParseCheckpointFileName(name)
	if err != nil || model.CheckpointFileName(kind, number) != name {
		return "", "", 0, false
	}
	return id, kind, number, true
}
