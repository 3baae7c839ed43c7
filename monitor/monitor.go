package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/sdk"
)

// ErrSelfFenced is returned by Run when the node fenced itself: its lease
// deadline passed without a confirmed keepalive and every resource it hosted
// was terminated.
var ErrSelfFenced = errors.New("monitor: node fenced itself")

// Checkpoints is what the monitor needs of the checkpoint engine
// (checkpoint.Manager satisfies it through a small adapter in clusterd).
type Checkpoints interface {
	// Restore puts the checkpointed data of res into the local registry
	// before it comes online (rule 3).
	Restore(ctx context.Context, res model.Resource, fence model.Fence) error
	// StartOnline starts storing every change, fenced (rule 1).
	StartOnline(ctx context.Context, res model.Resource, fence model.Fence) error
	// Offline stores a last copy and stops (rule 9).
	Offline(ctx context.Context, res model.Resource) error
	// Abandon stops storing without a last copy: the node lost the group.
	Abandon(res model.Resource)
	// Registry is the node-local registry offered to resources.
	Registry() sdk.Registry
	// Control answers the checkpoint control codes.
	Control(ctx context.Context, r model.Ref, code sdk.ControlCode, in, out []byte) (int, error)
}

// DriverFactory builds the driver of one kind of resource type, given the
// host services the monitor offers resources.
type DriverFactory func(plugins.Services) (plugins.Driver, error)

// Config wires a Monitor.
type Config struct {
	Node        string
	Store       *quorum.Store
	Checkpoints Checkpoints
	// Drivers by resource type kind (quorum.KindPlugin, quorum.KindWASM).
	Drivers map[string]DriverFactory
	Log     hclog.Logger
	// Events records cluster events (may be nil).
	Events func(kind, subject, msg string)
	// Resync is how often every group is re-read even without a change
	// notification (a safety net for lost watch events); default 30s.
	Resync time.Duration
	// Now is the clock of failback windows; default time.Now.
	Now func() time.Time
	// Observer is told what happens, for metrics (may be nil).
	Observer Observer
	// StartupGrace is how long after the monitor starts a group that has
	// never run waits for its first preferred owner before another node
	// takes it, so nodes of a cluster started together do not grab groups in
	// the order they happen to come up; default 10s, negative: no wait.
	StartupGrace time.Duration
}

// Monitor is a node's resource monitor: it decides, for every group, whether
// this node should own it, and runs the resources of the groups it owns.
//
// Every node runs the same deterministic rules on the same shared facts, so
// no leader is needed: an unowned group is taken by the node its status
// hands it to, or else the next preferred owner that is up after the last
// owner; the take is a create-if-absent in etcd, so at most one node wins,
// and its fencing token guards everything it writes afterwards.
type Monitor struct {
	cfg     Config
	log     hclog.Logger
	drivers map[string]plugins.Driver
	svc     *services

	mu       sync.Mutex
	up       map[string]bool
	types    map[string]model.ResourceType
	groups   map[string]model.Group
	res      map[string]model.Resource // by id
	runners  map[string]*groupRunner
	byID     map[string]*groupRunner // resource id → runner of its group
	draining bool
	owned    map[string]bool // groups with a tenure on this node
	ownedCh  chan struct{}   // closed and replaced when owned changes
	member   *quorum.Member
	started  time.Time // when Run started
}

// New checks cfg and returns a Monitor. It does no I/O.
func New(cfg Config) (*Monitor, error) {
	switch {
	case cfg.Node == "":
		return nil, errors.New("monitor: Config.Node is empty")
	case cfg.Store == nil:
		return nil, errors.New("monitor: Config.Store is nil")
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
	if cfg.StartupGrace == 0 {
		cfg.StartupGrace = 10 * time.Second
	}
	m := &Monitor{cfg: cfg, log: cfg.Log, drivers: map[string]plugins.Driver{}, ownedCh: make(chan struct{})}
	m.svc = &services{m: m}
	for kind, f := range cfg.Drivers {
		d, err := f(m.svc)
		if err != nil {
			return nil, fmt.Errorf("monitor: the %s driver: %w", kind, err)
		}
		m.drivers[kind] = d
	}
	return m, nil
}

// Services are the host services the monitor offers resources.
func (m *Monitor) Services() plugins.Services { return m.svc }

// Close stops every plugin host. Call it after Run has returned.
func (m *Monitor) Close(ctx context.Context) error {
	var errs []error
	for kind, d := range m.drivers {
		if err := d.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing the %s driver: %w", kind, err))
		}
	}
	return errors.Join(errs...)
}

// Run runs the monitor for one membership of the node until ctx ends or the
// member fences itself. On a fence it terminates every resource it hosts at
// once (within the member's margin, before any other node can see the lease
// expire) and returns ErrSelfFenced; the caller rejoins and calls Run again with
// the new member. When ctx ends, resources still hosted are terminated too:
// call Drain first for a graceful stop.
func (m *Monitor) Run(ctx context.Context, member *quorum.Member) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	m.member, m.draining, m.started = member, false, time.Now()
	m.up, m.runners, m.byID, m.owned = map[string]bool{}, map[string]*groupRunner{}, map[string]*groupRunner{}, map[string]bool{}
	m.mu.Unlock()

	// Watch first, then load, so no change falls between the two.
	nodes := m.cfg.Store.WatchNodes(rctx)
	db := m.cfg.Store.WatchDB(rctx)
	groups := m.cfg.Store.WatchGroups(rctx)
	if err := m.loadDB(rctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	m.syncRunners(rctx, &wg)
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.preload(rctx)
	}()
	resync := time.NewTicker(m.cfg.Resync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			m.terminateAll("clusterd is stopping")
			return nil
		case <-member.Fenced():
			m.log.Error("self-fenced: terminating every resource of this node")
			m.terminateAll("the node fenced itself")
			m.cfg.Events("node.fenced", m.cfg.Node, "lease deadline passed without a confirmed keepalive; every resource was terminated")
			return ErrSelfFenced
		case ev, ok := <-nodes:
			if !ok {
				return ctx.Err()
			}
			m.mu.Lock()
			if ev.Up && !ev.Info.Draining {
				m.up[ev.Node] = true
			} else {
				delete(m.up, ev.Node)
			}
			m.mu.Unlock()
			m.pokeAll()
		case _, ok := <-db:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				db = m.cfg.Store.WatchDB(rctx)
			}
			if err := m.loadDB(rctx); err != nil {
				m.log.Warn("reloading the cluster database", "error", err)
			}
			m.syncRunners(rctx, &wg)
			m.pokeAll()
		case g, ok := <-groups:
			if !ok {
				return ctx.Err()
			}
			if g == "" {
				m.pokeAll()
				continue
			}
			m.mu.Lock()
			r := m.runners[g]
			m.mu.Unlock()
			if r != nil {
				r.poke()
			}
		case <-resync.C:
			m.pokeAll()
		}
	}
}

// Drain hands every group this node owns to its next owner (or, with no
// other node up, takes it offline and lets it go) and stops taking groups.
// It returns when the node owns nothing or ctx ends.
func (m *Monitor) Drain(ctx context.Context) error {
	m.mu.Lock()
	m.draining = true
	member := m.member
	m.mu.Unlock()
	if member != nil {
		if err := member.SetDraining(ctx); err != nil {
			m.log.Warn("could not mark this node draining; other nodes may choose it for a moment", "error", err)
		}
	}
	m.pokeAll()
	for {
		m.mu.Lock()
		n, ch := len(m.owned), m.ownedCh
		m.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("monitor: draining: %d groups still owned: %w", n, ctx.Err())
		}
	}
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

func (m *Monitor) loadDB(ctx context.Context) error {
	types, err := m.cfg.Store.Types(ctx)
	if err != nil {
		return err
	}
	groups, err := m.cfg.Store.Groups(ctx)
	if err != nil {
		return err
	}
	res, err := m.cfg.Store.Resources(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.types = map[string]model.ResourceType{}
	for _, t := range types {
		m.types[t.Value.Name] = t.Value
	}
	m.groups = map[string]model.Group{}
	for _, g := range groups {
		m.groups[g.Value.Name] = g.Value
	}
	m.res = map[string]model.Resource{}
	for _, r := range res {
		m.res[r.Value.ID] = r.Value
	}
	return nil
}

// preload loads every resource type whose driver can load ahead of use, so
// a failover to this node does not wait for a module to compile.
func (m *Monitor) preload(ctx context.Context) {
	m.mu.Lock()
	types := make([]model.ResourceType, 0, len(m.types))
	for _, t := range m.types {
		types = append(types, t)
	}
	m.mu.Unlock()
	for _, t := range types {
		l, ok := m.drivers[t.Kind].(plugins.Loader)
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

// syncRunners starts a runner for every group and stops those of deleted groups.
func (m *Monitor) syncRunners(ctx context.Context, wg *sync.WaitGroup) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.groups {
		if m.runners[name] != nil {
			continue
		}
		gctx, cancel := context.WithCancel(ctx)
		r := newGroupRunner(m, name, cancel)
		m.runners[name] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(gctx)
		}()
	}
	for name, r := range m.runners {
		if _, ok := m.groups[name]; !ok {
			r.deleted()
			delete(m.runners, name)
		}
	}
}

func (m *Monitor) pokeAll() {
	m.mu.Lock()
	rs := make([]*groupRunner, 0, len(m.runners))
	for _, r := range m.runners {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	for _, r := range rs {
		r.poke()
	}
}

// terminateAll takes every hosted resource down at once, concurrently.
func (m *Monitor) terminateAll(why string) {
	m.mu.Lock()
	rs := make([]*groupRunner, 0, len(m.runners))
	for _, r := range m.runners {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.terminateAll(why)
		}()
	}
	wg.Wait()
}

// facts is a consistent copy of what the runners decide from.
type facts struct {
	up        []string
	group     model.Group
	resources []model.Resource // of the group, by name
	types     map[string]model.ResourceType
	draining  bool
	member    *quorum.Member
}

func (m *Monitor) facts(group string) (facts, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.groups[group]
	if !ok {
		return facts{}, false
	}
	f := facts{group: g, types: m.types, draining: m.draining, member: m.member}
	for n := range m.up {
		f.up = append(f.up, n)
	}
	slices.Sort(f.up)
	for _, r := range m.res {
		if r.Group == group {
			f.resources = append(f.resources, r)
		}
	}
	slices.SortFunc(f.resources, func(a, b model.Resource) int { return strings.Compare(a.Name, b.Name) })
	return f, true
}

// knownNodes counts the nodes of the cluster for FailoverThresholdAuto: the
// nodes up now and every preferred owner.
func (f facts) knownNodes() int {
	seen := map[string]bool{}
	for _, n := range f.up {
		seen[strings.ToLower(n)] = true
	}
	for _, n := range f.group.PreferredOwners {
		seen[strings.ToLower(n)] = true
	}
	return len(seen)
}

// possibleOwners is the intersection of the resources' PossibleOwners
// (nil: every node).
func (f facts) possibleOwners() []string {
	var out []string
	restricted := false
	for _, r := range f.resources {
		if len(r.PossibleOwners) == 0 {
			continue
		}
		if !restricted {
			out, restricted = slices.Clone(r.PossibleOwners), true
			continue
		}
		out = slices.DeleteFunc(out, func(n string) bool {
			return !slices.ContainsFunc(r.PossibleOwners, func(p string) bool { return strings.EqualFold(p, n) })
		})
	}
	if restricted && len(out) == 0 {
		return []string{"\x00none"} // no node can own every resource
	}
	return out
}

func (f facts) isUp(n string) bool {
	return slices.ContainsFunc(f.up, func(u string) bool { return strings.EqualFold(u, n) })
}

func (f facts) canOwn(n string) bool {
	p := f.possibleOwners()
	return len(p) == 0 || slices.ContainsFunc(p, func(x string) bool { return strings.EqualFold(x, n) })
}

// target is the node that should take an unowned group: the node the last
// owner handed it to, if that node is up and may own it; else the next
// preferred owner after the last owner (NextOwner), the last owner itself
// included when nobody else qualifies.
func (f facts) target(st model.GroupStatus) string {
	if h := st.Handoff; h != nil && h.To != "" && f.isUp(h.To) && f.canOwn(h.To) {
		return h.To
	}
	return NextOwner(f.group.PreferredOwners, st.Owner, f.up, f.possibleOwners(), true)
}

// services are the host services of the node's resources: progress and the
// fencing token come from the monitor, the registry and the checkpoint codes
// from the checkpoint engine.
type services struct{ m *Monitor }

var _ plugins.Services = (*services)(nil)

func (s *services) Log(r model.Ref, level sdk.LogLevel, msg string, kv ...any) {
	l := s.m.log.With("resource", r.Name)
	switch level {
	case sdk.LevelDebug:
		l.Debug(msg, kv...)
	case sdk.LevelWarn:
		l.Warn(msg, kv...)
	case sdk.LevelError:
		l.Error(msg, kv...)
	default:
		l.Info(msg, kv...)
	}
}

func (s *services) runner(id string) *groupRunner {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.byID[id]
}

func (s *services) Progress(ctx context.Context, r model.Ref, msg string) error {
	if g := s.runner(r.ID); g != nil {
		g.progress(r.ID)
	}
	if msg != "" {
		s.m.log.Debug("progress", "resource", r.Name, "message", msg)
	}
	return nil
}

func (s *services) Registry() sdk.Registry { return s.m.cfg.Checkpoints.Registry() }

func (s *services) Control(ctx context.Context, r model.Ref, code sdk.ControlCode, in, out []byte) (int, error) {
	return s.m.cfg.Checkpoints.Control(ctx, r, code, in, out)
}

func (s *services) FencingToken(ctx context.Context, r model.Ref) (int64, error) {
	if g := s.runner(r.ID); g != nil {
		if tok := g.token(); tok != 0 {
			return tok, nil
		}
	}
	return 0, fmt.Errorf("%w: resource %q is not hosted by this node", sdk.ErrFenced, r.Name)
}
