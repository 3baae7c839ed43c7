package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/sdk"
)

// DefaultSaveInterval is the shortest time between the starts of two saves
// of one checkpoint in a burst of changes. A change after a quiet period is
// saved at once; changes that keep coming are coalesced into at most one save
// per interval, and the last change is always saved.
const DefaultSaveInterval = 10 * time.Millisecond

// Config is what a Manager works with.
type Config struct {
	Node     string             // this node's name, recorded in every checkpoint
	Store    *quorum.Store      // the cluster's etcd
	Registry *registry.Registry // the node-local registry
	Keystore *Keystore          // the node-local key containers; nil: no crypto checkpoints
	// CryptoKey is the cluster key (config.Config.CryptoKey, 32 bytes) that
	// seals crypto checkpoints; nil: crypto checkpoints are refused with
	// ErrNoCryptoKey.
	CryptoKey []byte
	Log       hclog.Logger
	// SaveInterval: see DefaultSaveInterval (0 selects it; negative: no pause).
	SaveInterval time.Duration
	// OnStore, when set, is told of every checkpoint write to etcd (its
	// duration and error), for metrics. It must not block.
	OnStore func(d time.Duration, err error)
	// RetryInterval is the pause before retrying a save that failed for a
	// reason other than fencing (etcd unreachable…); default 250ms, doubling
	// up to 5s.
	RetryInterval time.Duration
}

// Manager runs the checkpoints of the resources of one node. It is safe for
// concurrent use; calls for one resource are serialised.
//
// The monitor calls, for each resource it brings online on this node,
// Restore (before Online), StartOnline (then every change is stored, fenced
// by the group's token) and Offline (a last copy, then stop), and
// DeleteResource when the resource is deleted. The checkpoint control codes
// arrive through Control, which a resource may call from inside any entry
// point: the manager never calls into a resource. Recover re-creates a
// resource's checkpoints for the group's owner (the monitor calls it when
// it answers a recovery request). Serve follows checkpoint lists that
// operators change while a resource is online.
type Manager struct {
	cfg    Config
	base   context.Context // ends at Close; bounds the savers
	cancel context.CancelFunc

	mu     sync.Mutex
	res    map[string]*resState
	closed bool

	// beforeStore and afterStore, when set (tests, benchmarks), run around
	// every checkpoint write; afterStore gets the registry revision stored.
	beforeStore func(d Document, cpt []byte)
	afterStore  func(d Document, cpt []byte, rev uint64)
}

// resState is what the manager knows of one resource on this node.
type resState struct {
	mu       sync.Mutex // serialises the lifecycle calls and control codes of the resource
	id, name string
	group    string
	fence    model.Fence
	restored bool // Restore succeeded with fence
	online   bool // StartOnline succeeded; savers run
	// suspended: online, but the resource's record was deleted; savers
	// stopped until it comes back (a backup restore rewrites it).
	suspended bool
	cps       map[string]*cpState
}

// cpState is one checkpoint of a restored resource.
type cpState struct {
	entry   quorum.CheckpointEntry
	seq     uint64   // seq of the document last stored or restored
	sum     [32]byte // payload sum of that document
	haveSum bool
	saver   *saver // while online
}

func cpKey(e quorum.CheckpointEntry) string {
	return string(e.Kind) + "\x00" + registry.Fold(e.Path)
}

// NewManager checks cfg and returns a Manager. It does no I/O.
func NewManager(cfg Config) (*Manager, error) {
	switch {
	case cfg.Node == "":
		return nil, fmt.Errorf("checkpoint: Config.Node is empty")
	case cfg.Store == nil:
		return nil, fmt.Errorf("checkpoint: Config.Store is nil")
	case cfg.Registry == nil:
		return nil, fmt.Errorf("checkpoint: Config.Registry is nil")
	case cfg.CryptoKey != nil && len(cfg.CryptoKey) != CryptoKeyLen:
		return nil, fmt.Errorf("checkpoint: the cluster key has %d bytes, want %d", len(cfg.CryptoKey), CryptoKeyLen)
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.SaveInterval == 0 {
		cfg.SaveInterval = DefaultSaveInterval
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 250 * time.Millisecond
	}
	base, cancel := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, base: base, cancel: cancel, res: map[string]*resState{}}, nil
}

// Registry is the node-local registry, as plugins.Services.Registry offers it.
func (m *Manager) Registry() sdk.Registry { return m.cfg.Registry }

// Close stops every saver without a last save (call Offline first for
// that). Further calls fail with ErrClosed.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	states := make([]*resState, 0, len(m.res))
	for _, rs := range m.res {
		states = append(states, rs)
	}
	m.mu.Unlock()
	m.cancel()
	for _, rs := range states {
		rs.mu.Lock()
		rs.stopSavers()
		rs.online = false
		rs.mu.Unlock()
	}
	return nil
}

// lock returns the state of resource id, creating it, with its mutex held.
func (m *Manager) lock(id, name, group string) (*resState, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	rs := m.res[id]
	if rs == nil {
		rs = &resState{id: id, cps: map[string]*cpState{}}
		m.res[id] = rs
	}
	m.mu.Unlock()
	rs.mu.Lock()
	if name != "" {
		rs.name = name
	}
	if group != "" {
		rs.group = group
	}
	return rs, nil
}

func (rs *resState) stopSavers() {
	for _, cp := range rs.cps {
		if cp.saver != nil {
			cp.saver.stopNow()
			cp.saver = nil
		}
	}
}

func (m *Manager) event(kind, subject, msg string, fields map[string]string) {
	ctx, cancel := context.WithTimeout(m.base, 5*time.Second)
	defer cancel()
	if err := m.cfg.Store.AppendEvent(ctx, quorum.Event{Node: m.cfg.Node, Kind: kind, Subject: subject, Message: msg, Fields: fields}); err != nil {
		m.cfg.Log.Warn("could not append an event", "kind", kind, "subject", subject, "error", err)
	}
}

// corruptError is the error of a restore that met corrupt data: it names the
// checkpoint, the reason and the command that re-creates it.
func (m *Manager) corruptError(rs *resState, e quorum.CheckpointEntry, cause error) error {
	err := &HoldError{Resource: rs.name, Checkpoint: e.FileName(), Path: e.Path, Problem: ErrCorrupt,
		Detail: "it failed verification and was not restored: " + cause.Error(), Cause: cause}
	m.cfg.Log.Error("corrupt checkpoint; the resource cannot come online until it is recovered or accepted",
		"resource", rs.name, "checkpoint", e.FileName(), "path", e.Path, "reason", cause, "recover", RecoverCommand(rs.name))
	m.event("checkpoint.corrupt", rs.name, err.Error(), map[string]string{
		"resource_id": rs.id, "checkpoint": e.FileName(), "path": e.Path, "recover": RecoverCommand(rs.name),
	})
	return err
}

// loaded is one checkpoint read and verified by Restore, not yet applied.
type loaded struct {
	entry   quorum.CheckpointEntry
	missing bool
	doc     Document
	sum     [32]byte
	stale   *quorum.CheckpointManifest
}

// Restore puts the checkpointed data of res into this node's registry and
// keystore, before the resource comes online (rule 3), replacing each
// checkpointed subtree or container entirely (rule 2). Every checkpoint is
// read and verified before anything is written: one that fails verification
// stops the restore with ErrCorrupt naming the recovery command, and appends
// a "checkpoint.corrupt" event (rule 10). A checkpoint that has no data in
// etcd yet takes the node's current local state, stored under fence. A
// checkpoint restored from a backup and not saved since is restored, logged
// and reported as a "checkpoint.stale" event (rule 5).
//
// The list of checkpoints comes from the cluster database; a list written
// there from cluster.toml is numbered (and checked for overlap) here.
func (m *Manager) Restore(ctx context.Context, res model.Resource, fence model.Fence) error {
	if fence.Group != res.Group {
		return fmt.Errorf("checkpoint: resource %q is in group %q, the fence is for %s", res.Name, res.Group, fence)
	}
	rs, err := m.lock(res.ID, res.Name, res.Group)
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	if rs.online {
		return fmt.Errorf("%w: restore of resource %q refused; take it offline first", ErrOnline, res.Name)
	}
	rs.restored = false
	read, err := m.cfg.Store.LoadCheckpoints(ctx, res.ID)
	if err != nil {
		if errors.Is(err, quorum.ErrCheckpointOverlap) {
			return fmt.Errorf("%w: resource %q: %w", ErrOverlap, res.Name, err)
		}
		return fmt.Errorf("checkpoint: restoring resource %q: %w", res.Name, err)
	}
	var plan []loaded
	for _, lc := range read {
		l, err := m.verify(rs, lc)
		if err != nil {
			return err
		}
		if err := m.holdProblem(rs, l); err != nil {
			return err
		}
		plan = append(plan, l)
	}
	cps := map[string]*cpState{}
	for _, l := range plan {
		e := l.entry
		src, err := m.source(e.Kind)
		if err != nil {
			return fmt.Errorf("checkpoint: resource %q, %s (%s): %w", res.Name, e.FileName(), e.Path, err)
		}
		cp := &cpState{entry: e}
		if l.missing {
			// No data in etcd yet: the local state becomes the checkpoint.
			if err := m.store(ctx, rs, fence, cp, src, true); err != nil {
				return err
			}
			m.cfg.Log.Info("checkpoint had no data; stored the local state", "resource", res.Name, "checkpoint", e.FileName(), "path", e.Path)
		} else {
			if err := src.write(ctx, l.doc); err != nil {
				return fmt.Errorf("checkpoint: restoring %s (%s) of resource %q: %w", e.FileName(), e.Path, res.Name, err)
			}
			cp.seq, cp.sum, cp.haveSum = l.doc.Seq, l.sum, true
			m.cfg.Log.Info("restored checkpoint into the local registry", "resource", res.Name, "checkpoint", e.FileName(), "path", e.Path,
				"written_by", l.doc.Node, "written_at", l.doc.Time)
		}
		cps[cpKey(e)] = cp
	}
	rs.cps, rs.fence, rs.restored = cps, fence, true
	return nil
}

// load reads and verifies one checkpoint.
func (m *Manager) load(ctx context.Context, rs *resState, e quorum.CheckpointEntry) (loaded, error) {
	lc := quorum.LoadedCheckpoint{Entry: e}
	lc.Data, lc.Manifest, lc.Err = m.cfg.Store.GetCheckpoint(ctx, rs.id, e.Kind, e.Number)
	return m.verify(rs, lc)
}

// verify checks one checkpoint as read from etcd and decodes it.
func (m *Manager) verify(rs *resState, lc quorum.LoadedCheckpoint) (loaded, error) {
	e, data, man, err := lc.Entry, lc.Data, lc.Manifest, lc.Err
	l := loaded{entry: e}
	if e.Kind == model.CryptoCheckpoint && (m.cfg.CryptoKey == nil || m.cfg.Keystore == nil) {
		return l, fmt.Errorf("%w (resource %q, %s, container %q)", ErrNoCryptoKey, rs.name, e.FileName(), e.Path)
	}
	switch {
	case errors.Is(err, quorum.ErrNotFound):
		l.missing = true
		return l, nil
	case errors.Is(err, quorum.ErrCorruptCheckpoint):
		return l, m.corruptError(rs, e, err)
	case err != nil:
		return l, fmt.Errorf("checkpoint: reading %s of resource %q: %w", e.FileName(), rs.name, err)
	}
	doc, tree, err := decode(data, m.cfg.CryptoKey)
	if errors.Is(err, ErrCorrupt) {
		return l, m.corruptError(rs, e, err)
	}
	if err != nil {
		return l, fmt.Errorf("checkpoint: resource %q: %w", rs.name, err)
	}
	if doc.Resource != rs.id || doc.Kind != e.Kind || doc.Number != e.Number || registry.Fold(doc.Path) != registry.Fold(e.Path) {
		return l, m.corruptError(rs, e, fmt.Errorf("it holds %s %q of resource %s", doc.FileName(), doc.Path, doc.Resource))
	}
	l.doc, l.sum = doc, payloadSum(doc.Absent, tree, doc.Material)
	if man.Restored {
		l.stale = &man
	}
	return l, nil
}

// store saves the local state of cp under fence as its next document.
// Unless force is set, a state equal to the last stored one is not written
// again. It returns the revision of the state it considered.
func (m *Manager) store(ctx context.Context, rs *resState, fence model.Fence, cp *cpState, src source, force bool) error {
	_, _, err := m.storeRev(ctx, rs.id, rs.name, fence, cp, src, force)
	return err
}

// storeRev is store for resource id (named name in errors); it also returns
// the revision of the local state it considered.
func (m *Manager) storeRev(ctx context.Context, id, name string, fence model.Fence, cp *cpState, src source, force bool) (rev uint64, wrote bool, err error) {
	e := cp.entry
	snap, err := src.read(ctx, e.Path)
	if err != nil {
		return 0, false, fmt.Errorf("checkpoint: reading %q for %s of resource %q: %w", e.Path, e.FileName(), name, err)
	}
	d := Document{Kind: e.Kind, Resource: id, Number: e.Number, Path: e.Path, Seq: cp.seq + 1,
		Node: m.cfg.Node, Time: time.Now(), Absent: snap.absent, Material: snap.material}
	b, sum, err := encode(d, snap.treeJSON, m.cfg.CryptoKey)
	if err != nil {
		return 0, false, err
	}
	if !force && cp.haveSum && sum == cp.sum {
		return snap.rev, false, nil
	}
	if m.beforeStore != nil {
		m.beforeStore(d, b)
	}
	start := time.Now()
	_, err = m.cfg.Store.PutCheckpoint(ctx, fence, id, e.Kind, e.Number, m.cfg.Node, b)
	if m.cfg.OnStore != nil {
		m.cfg.OnStore(time.Since(start), err)
	}
	if err != nil {
		if errors.Is(err, model.ErrFenced) {
			return 0, false, fmt.Errorf("checkpoint: saving %s (%s) of resource %q: %w: %w", e.FileName(), e.Path, name, sdk.ErrFenced, err)
		}
		return 0, false, fmt.Errorf("checkpoint: saving %s (%s) of resource %q: %w", e.FileName(), e.Path, name, err)
	}
	cp.seq, cp.sum, cp.haveSum = d.Seq, sum, true
	if !cp.entry.Saved {
		// Once stored, data that goes missing later is a loss, not a first
		// start (holdProblem).
		if err := m.cfg.Store.MarkCheckpointSaved(ctx, id, e.Kind, e.Number); err != nil {
			m.cfg.Log.Warn("recording that a checkpoint was saved", "resource", name, "checkpoint", e.FileName(), "error", err)
		} else {
			cp.entry.Saved = true
		}
	}
	if m.afterStore != nil {
		m.afterStore(d, b, snap.rev)
	}
	return snap.rev, true, nil
}

// StartOnline starts copying every change of the checkpoints of res to etcd
// (rule 1), each write fenced by fence. It needs a successful Restore of res
// with the same fence on this node (ErrNotRestored otherwise), which is what
// guarantees rule 3. ctx bounds this call only; the copying goes on until
// Offline, DeleteResource or Close.
func (m *Manager) StartOnline(ctx context.Context, res model.Resource, fence model.Fence) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rs, err := m.lock(res.ID, res.Name, res.Group)
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	if !rs.restored || rs.fence != fence {
		return fmt.Errorf("%w: resource %q, %s", ErrNotRestored, res.Name, fence)
	}
	if rs.online {
		return nil
	}
	for _, cp := range rs.cps {
		if err := m.startSaver(rs, cp); err != nil {
			rs.stopSavers()
			return err
		}
	}
	rs.online = true
	return nil
}

func (m *Manager) startSaver(rs *resState, cp *cpState) error {
	src, err := m.source(cp.entry.Kind)
	if err != nil {
		return fmt.Errorf("checkpoint: resource %q, %s (%s): %w", rs.name, cp.entry.FileName(), cp.entry.Path, err)
	}
	s, err := newSaver(m, rs, rs.fence, cp, src)
	if err != nil {
		return err
	}
	cp.saver = s
	return nil
}

// Flush waits until every change of the checkpoints of res committed before
// the call is stored in etcd (or a save failed), without waiting for the
// save interval. It does nothing for a resource that is not online here,
// nor for a checkpoint whose saver stops meanwhile (the checkpoint was
// removed, or the resource let go: nothing is this node's to store).
func (m *Manager) Flush(ctx context.Context, res model.Resource) error {
	return m.flush(ctx, res.ID, res.Name, res.Group, false)
}

// flush is Flush; with onlineOnly (FLUSH_CHECKPOINTS) a resource whose
// checkpoints this node is not storing is refused with sdk.ErrFenced, so
// that a nil error always means stored.
func (m *Manager) flush(ctx context.Context, id, name, group string, onlineOnly bool) error {
	rs, err := m.lock(id, name, group)
	if err != nil {
		return err
	}
	online, fence, suspended := rs.online, rs.fence, rs.suspended
	var savers []*saver
	for _, cp := range rs.cps {
		if cp.saver != nil {
			savers = append(savers, cp.saver)
		}
	}
	rs.mu.Unlock()
	if onlineOnly && !online {
		return fmt.Errorf("checkpoint: %s for resource %q: its checkpoints are not being stored from node %s (not online here): %w",
			sdk.FlushCheckpoints, name, m.cfg.Node, sdk.ErrFenced)
	}
	if suspended {
		// Nothing stores the checkpoints right now (the record is away,
		// a restore rewrote it): confirming would promise what is not so.
		return fmt.Errorf("checkpoint: flush for resource %q: %w", name, ErrSuspended)
	}
	var errs []error
	for _, s := range savers {
		err := s.request(ctx, false, false)
		if errors.Is(err, errSaverStopped) {
			if !onlineOnly {
				continue
			}
			// Stopped between the lock and the request: the node let go.
			err = fmt.Errorf("%w (%w)", err, sdk.ErrFenced)
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		if onlineOnly {
			return fmt.Errorf("checkpoint: %s for resource %q under %s: %w", sdk.FlushCheckpoints, name, fence, err)
		}
		return err
	}
	return nil
}

// Offline saves a last copy of every checkpoint of res while this node still
// owns the group (rule 9), then stops watching. Call it after the
// resource's Offline (or Terminate, or failure) and before releasing the
// group. A save that fails (fenced: the group has moved on) is returned but
// the watching stops anyway.
func (m *Manager) Offline(ctx context.Context, res model.Resource) error {
	rs, err := m.lock(res.ID, res.Name, res.Group)
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	var errs []error
	if rs.online && rs.suspended {
		// Its savers were stopped (the record went away, a restore rewrote
		// it): the last copy is stored from the registry directly.
		errs = append(errs, m.storeAll(ctx, rs))
	}
	for _, cp := range rs.cps {
		if cp.saver == nil {
			continue
		}
		errs = append(errs, cp.saver.request(ctx, true, true))
		cp.saver.stopNow()
		cp.saver = nil
	}
	rs.online, rs.restored, rs.suspended = false, false, false
	return errors.Join(errs...)
}

// Abandon stops storing the checkpoints of res on this node without a last
// save: the node has lost the group (it fenced itself, or another node owns
// it now), so its registry may no longer be the truth. A later Restore
// starts over.
func (m *Manager) Abandon(res model.Resource) {
	rs, err := m.lock(res.ID, res.Name, res.Group)
	if err != nil {
		return
	}
	rs.stopSavers()
	rs.online, rs.restored, rs.suspended = false, false, false
	rs.mu.Unlock()
}

// DeleteResource stops the checkpoints of res on this node, without a last
// save, and deletes the resource from the cluster database with all its
// checkpoint data (rule 4). The node-local registry and keystore keep their
// data.
func (m *Manager) DeleteResource(ctx context.Context, res model.Resource) error {
	rs, err := m.lock(res.ID, res.Name, res.Group)
	if err != nil {
		return err
	}
	rs.stopSavers()
	rs.online, rs.restored, rs.suspended, rs.cps = false, false, false, map[string]*cpState{}
	rs.mu.Unlock()
	if err := m.cfg.Store.DeleteResource(ctx, res.ID); err != nil {
		return fmt.Errorf("checkpoint: deleting resource %q: %w", res.Name, err)
	}
	m.mu.Lock()
	delete(m.res, res.ID)
	m.mu.Unlock()
	return nil
}

// holdProblem reports a loaded checkpoint the resource must not come online
// with until an operator decides: data a backup restore put back, or data
// that was saved once and is gone. Corrupt data never loads (load reports
// it).
func (m *Manager) holdProblem(rs *resState, l loaded) error {
	e := l.entry
	var err *HoldError
	switch {
	case l.missing && e.Saved:
		err = &HoldError{Resource: rs.name, Checkpoint: e.FileName(), Path: e.Path, Problem: ErrLost}
		m.event("checkpoint.lost", rs.name, err.Error(), map[string]string{"resource_id": rs.id, "checkpoint": e.FileName(), "path": e.Path})
	case l.stale != nil:
		err = &HoldError{Resource: rs.name, Checkpoint: e.FileName(), Path: e.Path, Problem: ErrStale,
			Detail: "backup of " + l.stale.BackupTime.UTC().Format(time.RFC3339)}
		m.event("checkpoint.stale", rs.name, err.Error(), map[string]string{"resource_id": rs.id, "checkpoint": e.FileName(), "path": e.Path})
	default:
		return nil
	}
	m.cfg.Log.Error("checkpoint held for an operator", "resource", rs.name, "checkpoint", e.FileName(), "problem", err.Problem,
		"recover", RecoverCommand(rs.name), "accept", AcceptCommand(rs.name))
	return err
}

// Accept takes the checkpoints of res that hold it as they are, under
// fence, so that it can come online: data a backup restore put back becomes
// the current copy; checkpoints whose data is lost or corrupt get this
// node's registry as it is. It returns the checkpoints it changed.
func (m *Manager) Accept(ctx context.Context, res model.Resource, fence model.Fence) ([]string, error) {
	rs, err := m.lock(res.ID, res.Name, res.Group)
	if err != nil {
		return nil, err
	}
	defer rs.mu.Unlock()
	entries, err := m.cfg.Store.SyncCheckpoints(ctx, res.ID)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: accepting the checkpoints of resource %q: %w", res.Name, err)
	}
	var done []string
	for _, e := range entries {
		l, lerr := m.load(ctx, rs, e)
		var what string
		switch {
		case errors.Is(lerr, ErrCorrupt):
			what = "corrupt data replaced by this node's registry"
		case lerr != nil:
			return done, lerr
		case l.missing && e.Saved:
			what = "lost data replaced by this node's registry"
		case l.stale != nil:
			data, _, err := m.cfg.Store.GetCheckpoint(ctx, res.ID, e.Kind, e.Number)
			if err == nil {
				_, err = m.cfg.Store.PutCheckpoint(ctx, fence, res.ID, e.Kind, e.Number, m.cfg.Node, data)
			}
			if err != nil {
				return done, fmt.Errorf("checkpoint: accepting the restored %s of resource %q: %w", e.FileName(), res.Name, err)
			}
			done = append(done, e.String()+": the restored copy is now current")
			continue
		default:
			continue
		}
		src, err := m.source(e.Kind)
		if err != nil {
			return done, fmt.Errorf("checkpoint: resource %q, %s (%s): %w", res.Name, e.FileName(), e.Path, err)
		}
		if err := m.store(ctx, rs, fence, &cpState{entry: e}, src, true); err != nil {
			return done, err
		}
		done = append(done, e.String()+": "+what)
	}
	if len(done) > 0 {
		msg := fmt.Sprintf("accepted the checkpoints of resource %q on node %q: %s", res.Name, m.cfg.Node, strings.Join(done, "; "))
		m.cfg.Log.Info(msg)
		m.event("checkpoint.accepted", res.Name, msg, map[string]string{"resource_id": res.ID})
	}
	return done, nil
}

// storeAll stores every checkpoint of rs's record from this node's state
// under rs's fence, without savers.
func (m *Manager) storeAll(ctx context.Context, rs *resState) error {
	entries, err := m.cfg.Store.SyncCheckpoints(ctx, rs.id)
	if err != nil {
		return fmt.Errorf("checkpoint: last copy of resource %q: %w", rs.name, err)
	}
	var errs []error
	for _, e := range entries {
		src, err := m.source(e.Kind)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, m.store(ctx, rs, rs.fence, &cpState{entry: e}, src, true))
	}
	return errors.Join(errs...)
}
