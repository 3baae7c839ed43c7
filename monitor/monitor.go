package monitor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
)

// ErrSelfFenced is returned by Run when the node fenced itself: its lease
// deadline passed without a confirmed keepalive and every resource it
// hosted was terminated.
var ErrSelfFenced = errors.New("monitor: node fenced itself")

// Config wires a Monitor.
type Config struct {
	Node        string
	Cluster     Cluster
	Checkpoints Checkpoints
	// Drivers host the resource types, by kind (model.KindPlugin,
	// model.KindWASM). The caller builds them with host services that
	// report to Hosted, and closes them after Run returns.
	Drivers map[string]plugins.Driver
	// Hosted is the register the drivers' host services look resources
	// up in; default a new one.
	Hosted *Hosted
	Log    hclog.Logger
	// Events records cluster events (may be nil).
	Events func(kind, subject, msg string)
	// Resync is how often the monitor looks at groups without a change
	// notification (a safety net); default 30s. A resync wakes the
	// executor of every group this node owns; when the Cluster is an
	// OwnerLister it reads the owner of every group in one request and
	// wakes, of the other groups, only those nobody owns. A group another
	// node owns needs nothing of this node until its ownership changes,
	// and the watch reports that (after an interruption, with a resync of
	// everything). Waking every executor made each node read the view of
	// every group of the cluster at each resync, nodes × groups reads
	// (853 a second at rest with 16 nodes and 1,600 groups); now a node's
	// resync costs one read plus one per group it owns (and per group
	// nobody owns). Without the capability, or when that read fails,
	// every executor is woken as before.
	Resync time.Duration
	// Now is the clock of every decision; default time.Now.
	Now func() time.Time
	// Observer is told what happens, for metrics (may be nil).
	Observer Observer
	// MaxReads bounds how many views of groups it does not own this node
	// reads from etcd at once; default 32. A node's departure wakes the
	// executor of every group on every node at the same moment: unbounded,
	// their thousands of reads queue in etcd together and delay everything
	// behind them, the acquisitions and the nodes' lease keepalives
	// included. The owners' own reads are not held back: they are the ones
	// bringing groups online. A Cluster that is a ViewReader is asked for
	// the views waiting together instead (viewReaders requests in flight,
	// MaxViewReads views each), and MaxReads does not apply.
	MaxReads int
	// StartupGrace is how long after the monitor starts a group that has
	// never run waits for its first preferred owner before another node
	// takes it, so nodes of a cluster started together do not grab groups in
	// the order they happen to come up; default 10s, negative: no wait.
	StartupGrace time.Duration
}

// Monitor is a node's resource monitor: for every group it runs an
// executor that decides whether this node should own it and runs its
// resources when it does.
//
// Every node runs the same deterministic rules on the same shared facts,
// so no leader is needed: an unowned group is taken by the node its status
// hands it to, or else the next preferred owner that is up after the last
// owner; the take is a create-if-absent in etcd, so at most one node wins,
// and its fencing token guards everything it writes afterwards.
type Monitor struct {
	cfg    Config
	log    hclog.Logger
	hosted *Hosted

	// view is what the Run loop last read of the database and the node
	// set; it replaces it whole, executors read it.
	view     atomic.Pointer[clusterView]
	draining atomic.Bool
	pokeAll  chan struct{}

	mu      sync.Mutex // guards owned, ownedCh
	owned   map[string]bool
	ownedCh chan struct{} // closed and replaced when owned changes

	// doing is what each group's executor is busy with (group → string),
	// for the logs of a drain that waits.
	doing sync.Map

	reads chan struct{} // a slot per unowned group's view read in flight (MaxReads)
	views viewBatch     // with a ViewReader: the views waiting to be read together
}

// viewBatch gathers the view reads of groups this node does not own while
// earlier ones are in flight, so that they go to etcd together.
type viewBatch struct {
	mu      sync.Mutex
	waiting []*viewWait
	readers int // goroutines reading batches (at most viewReaders)
}

type viewWait struct {
	ctx   context.Context
	group string
	done  chan struct{} // closed when view and err are set
	view  model.GroupView
	err   error
}

// viewReaders is how many batched view reads a node has in flight: enough
// to overlap round trips, few enough that the views waiting meanwhile make
// batches.
const viewReaders = 4

// clusterView is an immutable copy of the database and the node set.
type clusterView struct {
	types     map[string]model.ResourceType
	groups    map[string]model.Group
	resources map[string][]model.Resource // by group, sorted by name
	up        []string                    // up and not draining, sorted
	ops       model.Ops                   // maintenance and paused nodes
	started   time.Time
}

// eligible are the nodes of up that may take groups: not paused, not in
// node maintenance.
func (v *clusterView) eligible() []string {
	out := make([]string, 0, len(v.up))
	for _, n := range v.up {
		if !v.ops.IsPaused(n) && !v.ops.Maintenance.NodeInMaintenance(n) {
			out = append(out, n)
		}
	}
	return out
}

// New checks cfg and returns a Monitor. It does no I/O.
func New(cfg Config) (*Monitor, error) {
	switch {
	case cfg.Node == "":
		return nil, errors.New("monitor: Config.Node is empty")
	case cfg.Cluster == nil:
		return nil, errors.New("monitor: Config.Cluster is nil")
	case cfg.Checkpoints == nil:
		return nil, errors.New("monitor: Config.Checkpoints is nil")
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.Events == nil {
		cfg.Events = func(string, string, string) {}
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.MaxReads <= 0 {
		cfg.MaxReads = 32
	}
	if cfg.StartupGrace == 0 {
		cfg.StartupGrace = 10 * time.Second
	}
	if cfg.Hosted == nil {
		cfg.Hosted = NewHosted()
	}
	m := &Monitor{cfg: cfg, log: cfg.Log, hosted: cfg.Hosted, pokeAll: make(chan struct{}, 1),
		owned: map[string]bool{}, ownedCh: make(chan struct{}), reads: make(chan struct{}, cfg.MaxReads)}
	m.view.Store(&clusterView{})
	return m, nil
}

// Run runs the monitor for one session of the node until ctx ends or the
// session fences itself. On a fence it terminates every resource it hosts
// at once (within the session's margin, before any other node can see the
// lease expire) and returns ErrSelfFenced; the caller joins again and calls
// Run with the new session. When ctx ends, resources still hosted are
// terminated too: call Drain first for a graceful stop.
func (m *Monitor) Run(ctx context.Context, s Session) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.hosted.reset()
	m.draining.Store(false)
	started := m.cfg.Now()

	// Watch first, then read, so no change falls between the two.
	changes := m.cfg.Cluster.Watch(rctx)
	if err := m.readDatabase(rctx, started); err != nil {
		return err
	}
	if err := m.readNodes(rctx); err != nil {
		return err
	}
	executors := map[string]*executor{}
	var wg sync.WaitGroup
	stop := func(why string) {
		m.hosted.terminate("", why, m.log)
		cancel()
		wg.Wait()
	}
	syncExecutors := func() {
		v := m.view.Load()
		for name := range v.groups {
			if executors[name] == nil {
				xctx, xcancel := context.WithCancel(rctx)
				x := newExecutor(m, s, name, xcancel)
				executors[name] = x
				wg.Add(1)
				go func() {
					defer wg.Done()
					x.run(xctx)
				}()
			}
		}
		for name, x := range executors {
			if _, ok := v.groups[name]; !ok {
				x.cancel()
				delete(executors, name)
			}
		}
	}
	pokeAll := func() {
		for _, x := range executors {
			x.poke()
		}
	}
	// A resync wakes the groups this node owns and those nobody owns
	// (Config.Resync). The read of the owners runs beside the loop, so
	// that a slow or unreachable etcd holds up neither a fence, nor a
	// change, nor a stop; owners is its answer while it is on its way.
	lister, _ := m.cfg.Cluster.(OwnerLister)
	var owners <-chan ownersRead
	resyncPoke := func(r ownersRead) {
		if r.err != nil {
			if rctx.Err() != nil {
				return // stopping
			}
			m.log.Warn("resync: reading the owners of the groups failed; looking at every group", "error", r.err)
			pokeAll()
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		for name, x := range executors {
			if _, held := r.owners[name]; !held || m.owned[name] {
				x.poke()
			}
		}
	}
	syncExecutors()
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.preload(rctx)
	}()
	// stale: the last read of database changes failed, so the view may
	// miss them; the next change or resync reads the whole database.
	stale := false
	resync := time.NewTicker(m.cfg.Resync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			stop("clusterd is stopping")
			return nil
		case <-s.Fenced():
			m.log.Error("self-fenced: terminating every resource of this node")
			stop("the node fenced itself")
			m.cfg.Events("node.fenced", m.cfg.Node, "lease deadline passed without a confirmed keepalive; every resource was terminated")
			return ErrSelfFenced
		case <-m.pokeAll:
			pokeAll()
		case <-resync.C:
			if stale {
				// A change could not be read: read the whole database
				// now rather than wait for the next change.
				if _, _, err := m.readChanges(rctx, started, true, nil); err == nil {
					stale = false
					syncExecutors()
					pokeAll()
					continue
				}
			}
			switch {
			case lister == nil:
				pokeAll()
			case owners == nil: // else the last tick's read is still on its way
				owners = m.readOwners(rctx, lister, &wg)
			}
		case r := <-owners:
			owners = nil
			resyncPoke(r)
		case c, ok := <-changes:
			if !ok {
				stop("clusterd is stopping")
				return ctx.Err()
			}
			// Changes that arrived together are handled together: one
			// read of the database and of the node set, made after all of
			// them, sees each, and a burst (a node's groups released at
			// once) wakes each executor once rather than once per change.
			var db, wholeDB, nodes, interrupted bool
			var groups []string
			var records []model.RecordRef
			for more := true; more; {
				switch c.Kind {
				case model.ChangeGroup:
					if !m.knownTake(c) {
						groups = append(groups, c.Name)
					}
				case model.ChangeDatabase:
					db = true
					if c.Record.Kind == model.RecordNone {
						wholeDB = true
					} else if !slices.Contains(records, c.Record) {
						records = append(records, c.Record)
					}
				case model.ChangeNodes:
					nodes = true
				case model.ChangeResync:
					db, wholeDB, nodes, interrupted = true, true, true, true
				}
				select {
				case c, ok = <-changes:
					more = ok
				default:
					more = false
				}
			}
			// A database change wakes only the executors of the groups
			// whose records it changed (new groups start their own):
			// waking every executor made each of them read its group's
			// view, so creating G groups on N nodes cost N × G² reads.
			all := interrupted
			if db {
				everyGroup, touched, err := m.readChanges(rctx, started, wholeDB || stale, records)
				if stale = err != nil; stale {
					m.log.Warn("reading the cluster database; reading it whole at the next resync", "error", err)
				}
				all = all || everyGroup
				groups = append(groups, touched...)
			}
			if nodes {
				if err := m.readNodes(rctx); err != nil {
					m.log.Warn("reading the node set", "error", err)
				}
				// A node that came or went changes nothing for a group
				// another node owns (its owner decides; a dead owner's
				// groups are announced one by one as its ownerships
				// expire): the groups this node owns and those nobody
				// owns are looked at, as at a resync. Waking every
				// executor had every node read every group's view at
				// each join and each crash.
				switch {
				case all:
				case lister == nil:
					all = true
				case owners == nil: // else the one on its way will do
					owners = m.readOwners(rctx, lister, &wg)
				}
			}
			if db {
				syncExecutors()
			}
			if all {
				pokeAll()
				continue
			}
			for _, g := range groups {
				if x := executors[g]; x != nil {
					x.poke()
				}
			}
		}
	}
}

// readDatabase replaces the view's database part.
func (m *Monitor) readDatabase(ctx context.Context, started time.Time) error {
	db, err := m.cfg.Cluster.Database(ctx)
	if err != nil {
		return err
	}
	old := m.view.Load()
	v := &clusterView{types: map[string]model.ResourceType{}, groups: map[string]model.Group{},
		resources: map[string][]model.Resource{}, up: old.up, ops: db.Ops, started: started}
	for _, t := range db.Types {
		v.types[t.Name] = t
	}
	for _, g := range db.Groups {
		v.groups[g.Name] = g
	}
	for _, r := range db.Resources {
		v.resources[r.Group] = append(v.resources[r.Group], r)
	}
	for _, rs := range v.resources {
		slices.SortFunc(rs, func(a, b model.Resource) int { return strings.Compare(a.Name, b.Name) })
	}
	m.view.Store(v)
	// A resource deleted while an entry point of its runs (a long Online)
	// is taken down now; its executor closes it when the call returns.
	m.hosted.terminateDeleted(v.resourceIDs(), m.log)
	return nil
}

// readChanges brings the view's database part up to date after database
// changes: it reads the records named (when the Cluster is a RecordReader
// and they are few) or else the whole database, and says which groups'
// executors to wake: every says all of them (also when the read failed:
// what changed is unknown).
func (m *Monitor) readChanges(ctx context.Context, started time.Time, whole bool, records []model.RecordRef) (every bool, groups []string, err error) {
	reader, ok := m.cfg.Cluster.(RecordReader)
	before := m.view.Load()
	if whole || !ok || len(records) > MaxRecordReads {
		if err := m.readDatabase(ctx, started); err != nil {
			return true, nil, err
		}
		every, groups = databaseChanges(before, m.view.Load())
		return every, groups, nil
	}
	recs, err := reader.Records(ctx, records)
	if err != nil {
		return true, nil, err
	}
	after, every, groups := applyRecords(before, records, recs)
	m.view.Store(after)
	for _, ref := range records {
		if _, ok := recs.Resources[ref.Name]; ref.Kind == model.RecordResource && !ok {
			m.hosted.terminateDeleted(after.resourceIDs(), m.log)
			break
		}
	}
	return every, groups, nil
}

// applyRecords is before with the records named by refs replaced by those
// read (recs; a record named and not read was deleted), and which groups'
// facts that changed: every when a resource type did, else the groups
// whose record or resources did (both groups of a resource that moved),
// as databaseChanges would say.
func applyRecords(before *clusterView, refs []model.RecordRef, recs model.Records) (after *clusterView, every bool, groups []string) {
	v := *before
	v.types, v.groups, v.resources = maps.Clone(before.types), maps.Clone(before.groups), maps.Clone(before.resources)
	touch := func(g string) {
		// A group new in after has an executor that starts afresh.
		if _, existed := before.groups[g]; existed && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	for _, ref := range refs {
		switch ref.Kind {
		case model.RecordType:
			every = true
			if t, ok := recs.Types[ref.Name]; ok {
				v.types[ref.Name] = t
			} else {
				delete(v.types, ref.Name)
			}
		case model.RecordGroup:
			if g, ok := recs.Groups[ref.Name]; ok {
				v.groups[ref.Name] = g
			} else {
				delete(v.groups, ref.Name)
			}
			touch(ref.Name)
		case model.RecordResource:
			for g, rs := range v.resources {
				if i := slices.IndexFunc(rs, func(r model.Resource) bool { return r.ID == ref.Name }); i >= 0 {
					if rs = slices.Delete(slices.Clone(rs), i, i+1); len(rs) == 0 {
						delete(v.resources, g)
					} else {
						v.resources[g] = rs
					}
					touch(g)
				}
			}
			if r, ok := recs.Resources[ref.Name]; ok {
				rs := append(slices.Clone(v.resources[r.Group]), r)
				slices.SortFunc(rs, func(a, b model.Resource) int { return strings.Compare(a.Name, b.Name) })
				v.resources[r.Group] = rs
				touch(r.Group)
			}
		}
	}
	if every {
		groups = nil
	}
	// A group deleted has no executor any more.
	groups = slices.DeleteFunc(groups, func(g string) bool { _, ok := v.groups[g]; return !ok })
	slices.Sort(groups)
	return &v, every, groups
}

// resourceIDs is the set of the ids of v's resources.
func (v *clusterView) resourceIDs() map[string]bool {
	ids := map[string]bool{}
	for _, rs := range v.resources {
		for _, r := range rs {
			ids[r.ID] = true
		}
	}
	return ids
}

// databaseChanges compares two views' database parts: every says every
// group's facts may have changed (the resource types or the operations
// state did), else groups are the groups whose record or resources differ.
// Groups only in after are not named: their executors start afresh.
func databaseChanges(before, after *clusterView) (every bool, groups []string) {
	if !reflect.DeepEqual(before.types, after.types) || !reflect.DeepEqual(before.ops, after.ops) {
		return true, nil
	}
	for name, g := range after.groups {
		old, ok := before.groups[name]
		if !ok {
			continue
		}
		if !reflect.DeepEqual(old, g) || !reflect.DeepEqual(before.resources[name], after.resources[name]) {
			groups = append(groups, name)
		}
	}
	slices.Sort(groups)
	return false, groups
}

// ownersRead is the answer of an OwnerLister.
type ownersRead struct {
	owners map[string]model.Ownership
	err    error
}

// readOwners reads the owner of every group in a goroutine of wg, bounded
// by ctx and by the next resync, and sends the answer on the channel it
// returns.
func (m *Monitor) readOwners(ctx context.Context, l OwnerLister, wg *sync.WaitGroup) <-chan ownersRead {
	ch := make(chan ownersRead, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		rctx, cancel := context.WithTimeout(ctx, m.cfg.Resync)
		defer cancel()
		owners, err := l.Owners(rctx)
		ch <- ownersRead{owners: owners, err: err}
	}()
	return ch
}

// readNodes replaces the view's node set.
func (m *Monitor) readNodes(ctx context.Context) error {
	nodes, err := m.cfg.Cluster.Nodes(ctx)
	if err != nil {
		return err
	}
	var up []string
	for _, n := range nodes {
		if !n.Draining {
			up = append(up, n.Node)
		}
	}
	slices.Sort(up)
	v := *m.view.Load()
	v.up = up
	m.view.Store(&v)
	return nil
}

// Drain hands every group this node owns to its next owner (or, with no
// other node up, takes it offline and lets it go) and stops taking groups.
// It returns when the node owns nothing or ctx ends.
func (m *Monitor) Drain(ctx context.Context, s Session) error {
	m.draining.Store(true)
	select {
	case m.pokeAll <- struct{}{}:
	default:
	}
	if s != nil {
		// Bounded: with etcd unreachable the mark cannot be written, and
		// the groups go on moving (or the node fences) without it.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s.SetDraining(sctx); err != nil {
			m.log.Warn("could not mark this node draining; other nodes may choose it for a moment", "error", err)
		}
		cancel()
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		m.mu.Lock()
		n, ch := len(m.owned), m.ownedCh
		owned := make([]string, 0, n)
		for g := range m.owned {
			owned = append(owned, g)
		}
		m.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
			slices.Sort(owned)
			for _, g := range owned {
				doing, _ := m.doing.Load(g)
				m.log.Info("draining: still waiting for a group", "group", g, "doing", doing)
			}
		case <-ctx.Done():
			return fmt.Errorf("monitor: draining: %d groups still owned (%s): %w", n, strings.Join(owned, ", "), ctx.Err())
		}
	}
}

// knownTake reports whether c is an ownership taken that leaves this
// node nothing to decide: another node took a group this node does not
// own, or this node took one it knows it owns. Waking the executors of a
// dead node's groups on every survivor each time one of them was taken
// doubled the reads of a mass failover.
func (m *Monitor) knownTake(c model.Change) bool {
	if c.TakenBy == "" {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.EqualFold(c.TakenBy, m.cfg.Node) == m.owned[c.Name]
}

func (m *Monitor) setOwned(group string, owned bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if owned == m.owned[group] {
		return
	}
	if owned {
		m.owned[group] = true
	} else {
		delete(m.owned, group)
	}
	close(m.ownedCh)
	m.ownedCh = make(chan struct{})
}

// Owned lists the groups this node currently owns.
func (m *Monitor) Owned() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.owned))
	for g := range m.owned {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

// groupView reads the view of a group this node does not own, at most
// MaxReads at a time.
func (m *Monitor) groupView(ctx context.Context, group string) (model.GroupView, error) {
	if vr, ok := m.cfg.Cluster.(ViewReader); ok {
		return m.batchedView(ctx, vr, group)
	}
	select {
	case m.reads <- struct{}{}:
	case <-ctx.Done():
		return model.GroupView{}, ctx.Err()
	}
	defer func() { <-m.reads }()
	return m.cfg.Cluster.GroupView(ctx, group)
}

// batchedView reads the view of group together with the others waiting:
// it joins the batch and, if fewer than viewReaders read, starts one.
func (m *Monitor) batchedView(ctx context.Context, vr ViewReader, group string) (model.GroupView, error) {
	w := &viewWait{ctx: ctx, group: group, done: make(chan struct{})}
	b := &m.views
	b.mu.Lock()
	b.waiting = append(b.waiting, w)
	if b.readers < viewReaders {
		b.readers++
		go m.readViews(vr)
	}
	b.mu.Unlock()
	select {
	case <-w.done:
		return w.view, w.err
	case <-ctx.Done():
		return model.GroupView{}, ctx.Err()
	}
}

// readViews reads the waiting views, MaxViewReads at a time, until none
// wait. A batch is read under the context of its first waiter still
// there, without its cancellation (the others still wait), and bounded.
func (m *Monitor) readViews(vr ViewReader) {
	b := &m.views
	for {
		b.mu.Lock()
		var batch []*viewWait
		for len(b.waiting) > 0 && len(batch) < MaxViewReads {
			w := b.waiting[0]
			b.waiting = b.waiting[1:]
			if w.ctx.Err() == nil {
				batch = append(batch, w)
			}
		}
		if len(batch) == 0 {
			b.readers--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		groups := make([]string, len(batch))
		for i, w := range batch {
			groups[i] = w.group
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), 30*time.Second)
		views, err := vr.GroupViews(ctx, groups)
		cancel()
		if err == nil && len(views) != len(groups) {
			err = fmt.Errorf("monitor: %d views read for %d groups", len(views), len(groups))
		}
		for i, w := range batch {
			if w.err = err; err == nil {
				w.view = views[i]
			}
			close(w.done)
		}
	}
}

// preload loads every resource type whose driver can load ahead of use, so
// a failover to this node does not wait for a module to compile.
func (m *Monitor) preload(ctx context.Context) {
	for _, t := range m.view.Load().types {
		l, ok := m.cfg.Drivers[t.Kind].(plugins.Loader)
		if !ok {
			continue
		}
		start := time.Now()
		if err := l.Load(ctx, typeSpec(t)); err != nil {
			if ctx.Err() == nil {
				m.log.Warn("resource type cannot be loaded; its resources will fail to open", "type", t.Name, "error", err)
			}
			continue
		}
		m.log.Debug("resource type loaded", "type", t.Name, "took", time.Since(start))
	}
}

func typeSpec(t model.ResourceType) plugins.TypeSpec {
	return plugins.TypeSpec{
		Name: t.Name, Kind: t.Kind, Path: t.Path, SHA256: t.SHA256,
		MemoryLimitPages: t.MemoryLimitPages, Commands: t.Capabilities.Commands, Dirs: t.Capabilities.Dirs,
	}
}
