package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// Recovery (rule 10) re-creates the CPT/CPR of resources from the registry
// of the node that owns each resource's group, whatever the resource's state
// (online, offline or failed): after etcd lost the data, a backup restore put
// back stale copies, someone deleted it, or it is corrupt. Only the owner
// has the registry to recover from, so the request travels as an operator
// request to the group's owner (model.RequestRecover, quorum's one
// request/reply mechanism); its monitor calls Manager.Recover under the
// tenure's fence and answers with a model.CheckpointRecovery per resource.

// RecoverResult is the outcome of recovery for one resource.
type RecoverResult = model.CheckpointRecovery

// Recover re-creates the checkpoints of the named resource, or of every
// resource when resource is "", from the registry (and keystore) of the node
// that owns each resource's group. It returns one result per resource,
// sorted by name; the error is for failures of the whole operation (the
// resource does not exist, etcd is unreachable). A resource whose group has
// no owner, or whose owner does not answer before ctx ends, gets a result
// with an error. It needs only a Store, so the CLI can call it; operator
// names who asks, for the event log.
func Recover(ctx context.Context, st *quorum.Store, resource, operator string) ([]RecoverResult, error) {
	var resources []model.Resource
	if resource != "" {
		r, err := st.ResourceByName(ctx, resource)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: recover %q: %w", resource, err)
		}
		resources = append(resources, r.Value)
	} else {
		all, err := st.Resources(ctx)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: recover: %w", err)
		}
		for _, r := range all {
			resources = append(resources, r.Value)
		}
	}
	owners, err := st.Owners(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: recover: %w", err)
	}
	nodes, err := st.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: recover: %w", err)
	}
	up := map[string]bool{}
	for _, n := range nodes {
		up[n.Node] = true
	}
	var results []RecoverResult
	byGroup := map[string][]model.Resource{}
	for _, r := range resources {
		if len(r.RegistryCheckpoints)+len(r.CryptoCheckpoints) == 0 {
			results = append(results, RecoverResult{Resource: r.Name, ID: r.ID})
			continue
		}
		own, ok := owners[r.Group]
		switch {
		case !ok:
			results = append(results, RecoverResult{Resource: r.Name, ID: r.ID,
				Error: fmt.Sprintf("group %q has no owner: recovery reads the registry of the node that owns the group; start clusterd on it or move the group to a running node", r.Group)})
		case !up[own.Node]:
			results = append(results, RecoverResult{Resource: r.Name, ID: r.ID, Node: own.Node,
				Error: fmt.Sprintf("node %q owns group %q but is not running", own.Node, r.Group)})
		default:
			byGroup[r.Group] = append(byGroup[r.Group], r)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, rs := range byGroup {
		for _, r := range rs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := askOwner(ctx, st, r, operator)
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool {
		return strings.ToLower(results[i].Resource) < strings.ToLower(results[j].Resource)
	})
	return results, nil
}

// askOwner files a recovery request for r with its group's owner and waits
// for the answer.
func askOwner(ctx context.Context, st *quorum.Store, r model.Resource, operator string) RecoverResult {
	fail := func(format string, args ...any) RecoverResult {
		return RecoverResult{Resource: r.Name, ID: r.ID, Error: fmt.Sprintf(format, args...)}
	}
	req, err := st.File(ctx, model.Request{Group: r.Group, Resource: r.ID, Action: model.RequestRecover, Operator: operator})
	if err != nil {
		return fail("filing the request: %v", err)
	}
	rep, err := st.AwaitReply(ctx, req)
	if err != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if withdrawn, _ := st.Withdraw(wctx, req); withdrawn {
			return fail("the owner of group %q did not answer (%v); the request was withdrawn", r.Group, err)
		}
		return fail("the owner of group %q took the request but its answer was not read (%v)", r.Group, err)
	}
	for _, res := range rep.Recovered {
		if res.ID == r.ID {
			return res
		}
	}
	if rep.Code == model.ResultRefused || rep.Code == model.ResultFailed {
		return RecoverResult{Resource: r.Name, ID: r.ID, Node: rep.Node, Error: rep.Message}
	}
	return RecoverResult{Resource: r.Name, ID: r.ID, Node: rep.Node}
}

// Serve runs this node's side of the cluster's checkpoint traffic until ctx
// ends: when an operator changes the checkpoint list of a resource that is
// online here (or deletes the resource), it starts or stops the
// corresponding savers. It returns nil when ctx ends.
func (m *Manager) Serve(ctx context.Context) error {
	m.followDB(ctx)
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Recover re-creates every checkpoint of res from this node's local state
// under fence (the monitor calls it for the group's owner, rule 10).
func (m *Manager) Recover(ctx context.Context, r model.Resource, fence model.Fence) RecoverResult {
	res := RecoverResult{ID: r.ID, Resource: r.Name, Node: m.cfg.Node}
	entries, err := m.cfg.Store.SyncCheckpoints(ctx, r.ID)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	rs, err := m.lock(r.ID, r.Name, r.Group)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer rs.mu.Unlock()
	var errs []string
	for _, e := range entries {
		if err := m.recoverOne(ctx, rs, fence, e); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		res.Checkpoints = append(res.Checkpoints, e.String())
	}
	res.Error = strings.Join(errs, "; ")
	msg := fmt.Sprintf("re-created %d checkpoint(s) of resource %q from the registry of node %q", len(res.Checkpoints), r.Name, m.cfg.Node)
	if res.Error != "" {
		msg += "; failed: " + res.Error
	}
	m.cfg.Log.Info(msg)
	m.event("checkpoint.recovered", r.Name, msg, map[string]string{"resource_id": r.ID, "checkpoints": strings.Join(res.Checkpoints, ", ")})
	return res
}

func (m *Manager) recoverOne(ctx context.Context, rs *resState, fence model.Fence, e quorum.CheckpointEntry) error {
	cp := rs.cps[cpKey(e)]
	if cp != nil && cp.entry.Number == e.Number && cp.saver != nil && rs.fence == fence {
		// Online here: the saver is the checkpoint's only writer.
		return cp.saver.request(ctx, true, false)
	}
	src, err := m.source(e.Kind)
	if err != nil {
		return fmt.Errorf("%s (%s): %w", e.FileName(), e.Path, err)
	}
	if cp == nil || cp.entry.Number != e.Number {
		cp = &cpState{entry: e}
		// Continue the sequence of what is stored, if it can be read.
		if data, _, err := m.cfg.Store.GetCheckpoint(ctx, rs.id, e.Kind, e.Number); err == nil {
			if d, err := Decode(data, m.cfg.CryptoKey); err == nil {
				cp.seq = d.Seq
			}
		}
	}
	if err := m.store(ctx, rs, fence, cp, src, true); err != nil {
		return err
	}
	if rs.restored && rs.fence == fence {
		rs.cps[cpKey(e)] = cp
	}
	return nil
}

// followDB keeps the savers of online resources in line with their
// checkpoint lists when operators change them in the database.
func (m *Manager) followDB(ctx context.Context) {
	for ev := range m.cfg.Store.WatchDB(ctx) {
		// A backup restore rewrites the database piece by piece: follow
		// none of it until it is complete, then take stock of everything.
		if ev.Resync || ev.Kind == "restore" {
			if m.restoring(ctx) {
				// Whatever the savers store now, the restore may overwrite:
				// stop them, so that no flush confirms such a save.
				m.suspendAll(ctx)
			} else {
				m.resyncAll(ctx, ev.Kind == "restore")
			}
			continue
		}
		if ev.Kind != "resource" || m.restoring(ctx) {
			continue
		}
		m.mu.Lock()
		rs := m.res[ev.Name]
		m.mu.Unlock()
		if rs != nil {
			m.resync(ctx, rs, ev.Deleted, false)
		}
	}
}

// restoring reports whether a backup restore is writing the database.
func (m *Manager) restoring(ctx context.Context) bool {
	mk, err := m.cfg.Store.LastRestore(ctx)
	return err == nil && mk.Status == quorum.RestoreInProgress
}

// suspendAll stops storing the checkpoints of every resource online here
// until their records are back (resync).
func (m *Manager) suspendAll(ctx context.Context) {
	for _, rs := range m.resStates() {
		m.resync(ctx, rs, true, false)
	}
}

func (m *Manager) resStates() []*resState {
	m.mu.Lock()
	defer m.mu.Unlock()
	all := make([]*resState, 0, len(m.res))
	for _, rs := range m.res {
		all = append(all, rs)
	}
	return all
}

// resyncAll looks at every resource online here after changes may have
// been missed; after a restore (restored) it stores every checkpoint afresh
// from this node's registry, whose data is newer than the backup's.
func (m *Manager) resyncAll(ctx context.Context, restored bool) {
	for _, rs := range m.resStates() {
		_, err := m.cfg.Store.Resource(ctx, rs.id)
		m.resync(ctx, rs, errors.Is(err, quorum.ErrNotFound), restored)
	}
}

func (m *Manager) resync(ctx context.Context, rs *resState, deleted, refresh bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.online {
		return
	}
	if deleted || refresh {
		// The record is gone, but the resource may still run here: deleted
		// for good (the monitor takes it offline next) or rewritten by a
		// backup restore. Stop storing until the record is back.
		rs.stopSavers()
		rs.cps, rs.suspended = map[string]*cpState{}, true
		if deleted {
			return
		}
	}
	if rs.suspended {
		// The record is back (a restore wrote it again): every checkpoint
		// of the list is stored afresh from this node's registry, whose
		// data is newer than the backup's, and followed again below. It
		// stays suspended until that worked (Offline then stores directly).
		m.cfg.Log.Info("resource record back while online; storing its checkpoints again", "resource", rs.name)
	}
	entries, err := m.cfg.Store.SyncCheckpoints(ctx, rs.id)
	if err != nil {
		m.cfg.Log.Warn("following a checkpoint list change", "resource", rs.name, "error", err)
		return
	}
	want := map[string]quorum.CheckpointEntry{}
	for _, e := range entries {
		want[cpKey(e)] = e
	}
	for k, cp := range rs.cps {
		if e, ok := want[k]; !ok || e.Number != cp.entry.Number {
			if cp.saver != nil {
				cp.saver.stopNow()
			}
			delete(rs.cps, k)
			// The saver may have stored once more after the removal deleted
			// the data; delete it again now that nothing writes it.
			e := cp.entry
			if err := m.cfg.Store.DeleteCheckpoint(ctx, rs.fence, rs.id, e.Kind, e.Number); err != nil && !errors.Is(err, quorum.ErrNotFound) {
				m.cfg.Log.Warn("removing the data of a checkpoint removed while online", "resource", rs.name, "checkpoint", e.FileName(), "error", err)
			}
			m.cfg.Log.Info("checkpoint removed while online", "resource", rs.name, "checkpoint", e.FileName(), "path", e.Path)
		}
	}
	for k, e := range want {
		if rs.cps[k] != nil {
			continue
		}
		src, err := m.source(e.Kind)
		if err != nil {
			m.cfg.Log.Warn("checkpoint added while online cannot be saved here", "resource", rs.name, "checkpoint", e.FileName(), "error", err)
			continue
		}
		cp := &cpState{entry: e}
		if err := m.store(ctx, rs, rs.fence, cp, src, true); err != nil {
			m.cfg.Log.Warn("storing a checkpoint added while online", "resource", rs.name, "checkpoint", e.FileName(), "error", err)
		}
		rs.cps[k] = cp
		if err := m.startSaver(rs, cp); err != nil {
			m.cfg.Log.Warn("watching a checkpoint added while online", "resource", rs.name, "checkpoint", e.FileName(), "error", err)
		}
		m.cfg.Log.Info("checkpoint added while online", "resource", rs.name, "checkpoint", e.FileName(), "path", e.Path)
	}
	rs.suspended = false
}

// StaleCheckpoint is a checkpoint put back by a backup restore and not saved
// or recovered since: its data is as old as the backup.
type StaleCheckpoint struct {
	ResourceID string
	Resource   string // name ("" if the resource record is missing)
	Kind       model.CheckpointKind
	Number     uint32
	Path       string // "" if the index has no entry for it
	BackupTime time.Time
	RestoredAt time.Time
}

// FileName is the checkpoint's Windows-style name.
func (s StaleCheckpoint) FileName() string { return model.CheckpointFileName(s.Kind, s.Number) }

// StaleCheckpoints lists the checkpoints of the cluster that a backup restore
// marked and that nothing has saved since (rule 5), sorted by resource name
// and file name. Recover (or the resource going online and changing its
// data, or offline) clears the mark. Checkpoints whose manifest is corrupt
// are reported in the error, the others are still returned.
func StaleCheckpoints(ctx context.Context, st *quorum.Store) ([]StaleCheckpoint, error) {
	all, listErr := st.ListAllCheckpoints(ctx)
	if listErr != nil && !errors.Is(listErr, quorum.ErrCorruptCheckpoint) {
		return nil, listErr
	}
	var out []StaleCheckpoint
	for id, ms := range all {
		var stale []quorum.CheckpointManifest
		for _, m := range ms {
			if m.Restored {
				stale = append(stale, m)
			}
		}
		if len(stale) == 0 {
			continue
		}
		name := ""
		if r, err := st.Resource(ctx, id); err == nil {
			name = r.Value.Name
		}
		entries, err := st.CheckpointEntries(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, m := range stale {
			s := StaleCheckpoint{ResourceID: id, Resource: name, Kind: m.Kind, Number: m.Number, BackupTime: m.BackupTime, RestoredAt: m.RestoredAt}
			for _, e := range entries {
				if e.Kind == m.Kind && e.Number == m.Number {
					s.Path = e.Path
				}
			}
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := strings.ToLower(out[i].Resource), strings.ToLower(out[j].Resource); a != b {
			return a < b
		}
		return out[i].FileName() < out[j].FileName()
	})
	if errors.Is(listErr, quorum.ErrCorruptCheckpoint) {
		return out, listErr
	}
	return out, nil
}
