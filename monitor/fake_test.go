package monitor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
)

// fakeCluster is an in-memory Cluster and node set that keeps quorum's
// rules: ownership is create-if-absent with a growing token, every owner
// write is fenced, and an answer deletes its request only if the request's
// revision is unchanged. It lets the monitor run without etcd.
type fakeCluster struct {
	mu       sync.Mutex
	rev      int64
	db       model.Database
	nodes    []model.NodeInfo
	owners   map[string]model.Ownership
	status   map[string]model.GroupStatus
	rstatus  map[string]model.ResourceStatus
	requests map[string][]model.Request // by group, oldest first
	replies  map[string]model.Reply     // by request id
	watchers []chan model.Change

	viewReads   map[string]int // GroupView calls, by group
	ownersReads int            // Owners calls
	dbReads     int            // Database calls
	recordReads int            // Records calls
	recordsErr  error          // what Records fails with; nil: it answers
	ownersErr   error          // what Owners fails with; nil: it answers
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{owners: map[string]model.Ownership{}, status: map[string]model.GroupStatus{},
		rstatus: map[string]model.ResourceStatus{}, requests: map[string][]model.Request{}, replies: map[string]model.Reply{},
		viewReads: map[string]int{}}
}

// notify tells the watchers; call with mu held.
func (c *fakeCluster) notify(ch model.Change) {
	c.rev++
	for _, w := range c.watchers {
		select {
		case w <- ch:
		default: // a full watcher gets a resync instead
			select {
			case <-w:
			default:
			}
			w <- model.Change{Kind: model.ChangeResync}
		}
	}
}

func (c *fakeCluster) Database(context.Context) (model.Database, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dbReads++
	db := c.db
	db.Types, db.Groups, db.Resources = slices.Clone(db.Types), slices.Clone(db.Groups), slices.Clone(db.Resources)
	return db, nil
}

func (c *fakeCluster) Nodes(context.Context) ([]model.NodeInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes), nil
}

func (c *fakeCluster) GroupView(_ context.Context, group string) (model.GroupView, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.viewReads[group]++
	v := model.GroupView{Revision: c.rev, Status: c.status[group], Requests: slices.Clone(c.requests[group])}
	v.Ownership, v.Owned = c.owners[group]
	return v, nil
}

// GroupViews makes the fake a ViewReader, as quorum.Store is.
func (c *fakeCluster) GroupViews(ctx context.Context, groups []string) ([]model.GroupView, error) {
	out := make([]model.GroupView, len(groups))
	for i, g := range groups {
		out[i], _ = c.GroupView(ctx, g)
	}
	return out, nil
}

// Owners makes the fake an OwnerLister, as quorum.Store is.
func (c *fakeCluster) Owners(context.Context) (map[string]model.Ownership, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ownersReads++
	if c.ownersErr != nil {
		return nil, c.ownersErr
	}
	return maps.Clone(c.owners), nil
}

// reads returns how many times each group's view and the owners were read.
func (c *fakeCluster) reads() (views map[string]int, owners int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.viewReads), c.ownersReads
}

func (c *fakeCluster) Watch(ctx context.Context) <-chan model.Change {
	ch := make(chan model.Change, 256)
	c.mu.Lock()
	c.watchers = append(c.watchers, ch)
	c.mu.Unlock()
	out := make(chan model.Change)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				c.mu.Lock()
				c.watchers = slices.DeleteFunc(c.watchers, func(w chan model.Change) bool { return w == ch })
				c.mu.Unlock()
				return
			case x := <-ch:
				select {
				case out <- x:
				case <-ctx.Done():
				}
			}
		}
	}()
	return out
}

// Records makes the fake a RecordReader, as quorum.Store is.
func (c *fakeCluster) Records(_ context.Context, refs []model.RecordRef) (model.Records, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recordReads++
	if c.recordsErr != nil {
		return model.Records{}, c.recordsErr
	}
	recs := model.Records{Revision: c.rev, Types: map[string]model.ResourceType{}, Groups: map[string]model.Group{}, Resources: map[string]model.Resource{}}
	for _, ref := range refs {
		switch ref.Kind {
		case model.RecordType:
			if i := slices.IndexFunc(c.db.Types, func(t model.ResourceType) bool { return t.Name == ref.Name }); i >= 0 {
				recs.Types[ref.Name] = c.db.Types[i]
			}
		case model.RecordGroup:
			if i := slices.IndexFunc(c.db.Groups, func(g model.Group) bool { return g.Name == ref.Name }); i >= 0 {
				recs.Groups[ref.Name] = c.db.Groups[i]
			}
		case model.RecordResource:
			if i := slices.IndexFunc(c.db.Resources, func(r model.Resource) bool { return r.ID == ref.Name }); i >= 0 {
				recs.Resources[ref.Name] = c.db.Resources[i]
			}
		default:
			return model.Records{}, fmt.Errorf("fake: record kind %d", ref.Kind)
		}
	}
	return recs, nil
}

// putGroup writes one group record and tells the watchers which, as
// quorum.Store's watch does.
func (c *fakeCluster) putGroup(g model.Group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	groups := slices.DeleteFunc(slices.Clone(c.db.Groups), func(o model.Group) bool { return o.Name == g.Name })
	c.db.Groups = append(groups, g)
	c.notify(model.Change{Kind: model.ChangeDatabase, Record: model.RecordRef{Kind: model.RecordGroup, Name: g.Name}})
}

// dbReadCounts returns how many times the whole database and single
// records were read.
func (c *fakeCluster) dbReadCounts() (whole, records int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dbReads, c.recordReads
}

func (c *fakeCluster) setDB(db model.Database) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.db = db
	c.notify(model.Change{Kind: model.ChangeDatabase})
}

func (c *fakeCluster) setNodes(names ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = nil
	for _, n := range names {
		c.nodes = append(c.nodes, model.NodeInfo{Node: n})
	}
	c.notify(model.Change{Kind: model.ChangeNodes})
}

// expire deletes every ownership of node, as a lease expiry does.
func (c *fakeCluster) expire(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for g, o := range c.owners {
		if o.Node == node {
			delete(c.owners, g)
			c.notify(model.Change{Kind: model.ChangeGroup, Name: g})
		}
	}
}

func (c *fakeCluster) file(r model.Request) model.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.ID = fmt.Sprintf("req-%d", c.rev+1)
	r.Revision = c.rev + 1
	c.requests[r.Group] = append(c.requests[r.Group], r)
	c.notify(model.Change{Kind: model.ChangeGroup, Name: r.Group})
	return r
}

func (c *fakeCluster) reply(id string) (model.Reply, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.replies[id]
	return r, ok
}

func (c *fakeCluster) groupStatus(g string) model.GroupStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status[g]
}

// fakeSession is one node's membership of a fakeCluster.
type fakeSession struct {
	c      *fakeCluster
	node   string
	fenced chan struct{}
}

func (c *fakeCluster) session(node string) *fakeSession {
	return &fakeSession{c: c, node: node, fenced: make(chan struct{})}
}

func (s *fakeSession) Fenced() <-chan struct{}           { return s.fenced }
func (s *fakeSession) SetDraining(context.Context) error { return nil }

func (s *fakeSession) Acquire(_ context.Context, group string) (Tenure, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.owners[group]; ok {
		return nil, &model.OwnedError{Group: group, Node: o.Node, Token: o.Token}
	}
	c.notify(model.Change{Kind: model.ChangeGroup, Name: group, TakenBy: s.node})
	o := model.Ownership{Group: group, Node: s.node, Token: c.rev}
	c.owners[group] = o
	return &fakeTenure{c: c, own: o, done: make(chan struct{})}, nil
}

type fakeTenure struct {
	c    *fakeCluster
	own  model.Ownership
	done chan struct{}
	once sync.Once
}

func (t *fakeTenure) Fence() model.Fence    { return t.own.Fence() }
func (t *fakeTenure) Done() <-chan struct{} { return t.done }

func (t *fakeTenure) write(p model.Publication, release bool) error {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.owners[t.own.Group]; !ok || o.Token != t.own.Token {
		return fmt.Errorf("%w: %v", model.ErrFenced, t.own)
	}
	if p.Group != nil {
		c.status[t.own.Group] = *p.Group
	}
	for _, r := range p.Resources {
		c.rstatus[r.ID] = r
	}
	for _, a := range p.Answers {
		reqs := c.requests[t.own.Group]
		i := slices.IndexFunc(reqs, func(r model.Request) bool { return r.ID == a.Request.ID && r.Revision == a.Request.Revision })
		if i < 0 {
			continue
		}
		c.requests[t.own.Group] = slices.Delete(reqs, i, i+1)
		c.replies[a.Request.ID] = a.Reply
	}
	if release {
		delete(c.owners, t.own.Group)
		t.once.Do(func() { close(t.done) })
	}
	c.notify(model.Change{Kind: model.ChangeGroup, Name: t.own.Group})
	return nil
}

func (t *fakeTenure) Publish(_ context.Context, p model.Publication) error { return t.write(p, false) }
func (t *fakeTenure) HandOff(_ context.Context, p model.Publication) error { return t.write(p, true) }

// fakeCheckpoints is a checkpoint engine with nothing to store.
type fakeCheckpoints struct{}

func (fakeCheckpoints) Restore(context.Context, model.Resource, model.Fence) error     { return nil }
func (fakeCheckpoints) StartOnline(context.Context, model.Resource, model.Fence) error { return nil }
func (fakeCheckpoints) Offline(context.Context, model.Resource) error                  { return nil }
func (fakeCheckpoints) Abandon(model.Resource)                                         {}
func (fakeCheckpoints) Recover(_ context.Context, r model.Resource, _ model.Fence) model.CheckpointRecovery {
	return model.CheckpointRecovery{Resource: r.Name, ID: r.ID}
}

func (fakeCheckpoints) Accept(context.Context, model.Resource, model.Fence) ([]string, error) {
	return nil, nil
}

// runN1 runs a monitor for n1 of c on cluster (c, or c with fewer
// capabilities) with StartupGrace off, until the test ends.
func runN1(t *testing.T, c *fakeCluster, cluster Cluster, resync time.Duration) *Monitor {
	t.Helper()
	m, err := New(Config{Node: "n1", Cluster: cluster, Checkpoints: fakeCheckpoints{}, StartupGrace: -1, Resync: resync})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, c.session("n1")) }()
	t.Cleanup(func() { stop(); <-done })
	return m
}
