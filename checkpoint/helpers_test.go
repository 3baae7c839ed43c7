package checkpoint_test

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/sdk"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const testCluster = "test"

// cluster is one embedded etcd with a database holding the resource of the
// French seed: "Network Name DATA" in group "onyone".
type cluster struct {
	t         testing.TB
	endpoints []string
	tls       [3]string        // CA, certificate and key of the test's etcd identity
	admin     *quorum.Store    // what an operator's CLI would use
	raw       *clientv3.Client // etcd itself, to write around the store
	res       model.Resource
	key       []byte // the cluster key
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	etcd, cli := quorumtest.Start(t)
	st, err := quorum.NewStore(cli, testCluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key := etcd.AdminFiles()
	c := &cluster{t: t, endpoints: etcd.Endpoints(), tls: [3]string{ca, cert, key}, admin: st, raw: cli, key: make([]byte, checkpoint.CryptoKeyLen)}
	rand.Read(c.key)
	ctx := ctxT(t)
	if err := st.CreateType(ctx, model.ResourceType{Name: "Network Name", Kind: model.KindPlugin, Path: "bin/netname", Defaults: model.DefaultProperties()}); err != nil {
		t.Fatal(err)
	}
	c.res = c.resource("Network Name DATA", "onyone")
	return c
}

// resource creates a resource (and its group if needed).
func (c *cluster) resource(name, group string) model.Resource {
	c.t.Helper()
	ctx := ctxT(c.t)
	if err := c.admin.CreateGroup(ctx, model.DefaultGroup(group)); err != nil && !errors.Is(err, quorum.ErrExists) {
		c.t.Fatal(err)
	}
	r, err := c.admin.CreateResource(ctx, model.Resource{Name: name, Type: "Network Name", Group: group, Properties: model.DefaultProperties()})
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// node is one simulated cluster node: its own etcd client and membership,
// its own registry file and keystore, and a Manager serving requests.
type node struct {
	t      testing.TB
	c      *cluster
	name   string
	store  *quorum.Store
	member *quorum.Member
	reg    *registry.Registry
	ks     *checkpoint.Keystore
	mgr    *checkpoint.Manager
	dir    string

	mu  sync.Mutex
	own map[string]model.Ownership
}

type nodeOpt func(*checkpoint.Config)

func noCryptoKey(c *checkpoint.Config)     { c.CryptoKey = nil }
func saveInterval(d time.Duration) nodeOpt { return func(c *checkpoint.Config) { c.SaveInterval = d } }
func withLog(l hclog.Logger) nodeOpt       { return func(c *checkpoint.Config) { c.Log = l } }
func withKey(k []byte) nodeOpt             { return func(c *checkpoint.Config) { c.CryptoKey = k } }
func (c *cluster) node(name string, opts ...nodeOpt) *node {
	t := c.t
	t.Helper()
	st, err := quorum.NewStore(quorumtest.Client(t, c.endpoints...), testCluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	life, cancel := context.WithCancel(context.Background())
	member, err := st.Join(life, quorum.MemberConfig{Node: name})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	reg, err := registry.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := checkpoint.OpenKeystore(filepath.Join(dir, "keystore"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := checkpoint.Config{Node: name, Store: st, Registry: reg, Keystore: ks, CryptoKey: c.key}
	for _, o := range opts {
		o(&cfg)
	}
	mgr, err := checkpoint.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{}, 2)
	go func() { defer func() { served <- struct{}{} }(); mgr.Serve(life) }()
	n := &node{t: t, c: c, name: name, store: st, member: member, reg: reg, ks: ks, mgr: mgr, dir: dir, own: map[string]model.Ownership{}}
	go func() { defer func() { served <- struct{}{} }(); n.answerRecoveries(life) }()
	t.Cleanup(func() {
		mgr.Close()
		cancel()
		<-served
		<-served
		ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		member.Leave(ctx)
		done()
		reg.Close()
	})
	return n
}

// answerRecoveries plays the monitor's part in recovery for the groups the
// node owns: it answers their recover requests with Manager.Recover under
// the tenure's fence, through the same request/reply keys.
func (n *node) answerRecoveries(ctx context.Context) {
	for range n.store.Watch(ctx) {
		n.mu.Lock()
		owned := maps.Clone(n.own)
		n.mu.Unlock()
		for group, o := range owned {
			v, err := n.store.GroupView(ctx, group)
			if err != nil {
				continue
			}
			var answers []model.Answer
			for _, req := range v.Requests {
				if req.Action != model.RequestRecover {
					continue
				}
				rep := model.Reply{Request: req.ID, Group: group, Action: req.Action, Code: model.ResultDone, Node: n.name, Token: o.Token, Time: time.Now()}
				all, _ := n.store.Resources(ctx)
				for _, r := range all {
					if r.Value.Group == group && (req.Resource == "" || req.Resource == r.Value.ID) {
						rep.Recovered = append(rep.Recovered, n.mgr.Recover(ctx, r.Value, o.Fence()))
					}
				}
				answers = append(answers, model.Answer{Request: req, Reply: rep})
			}
			if len(answers) > 0 {
				n.store.Publish(ctx, o.Fence(), model.Publication{Answers: answers})
			}
		}
	}
}

func (n *node) acquire(group string) model.Ownership {
	n.t.Helper()
	o, err := n.store.Acquire(ctxT(n.t), n.member, group)
	if err != nil {
		n.t.Fatalf("%s: acquire %q: %v", n.name, group, err)
	}
	n.mu.Lock()
	n.own[group] = o
	n.mu.Unlock()
	return o
}

func (n *node) release(group string) {
	n.t.Helper()
	n.mu.Lock()
	o := n.own[group]
	delete(n.own, group)
	n.mu.Unlock()
	if err := n.store.Release(ctxT(n.t), o); err != nil {
		n.t.Fatalf("%s: release %q: %v", n.name, group, err)
	}
}

// online does what the monitor does before and around Online.
func (n *node) online(r model.Resource) model.Fence {
	n.t.Helper()
	f := n.acquire(r.Group).Fence()
	if err := n.mgr.Restore(ctxT(n.t), r, f); err != nil {
		n.t.Fatalf("%s: restore %q: %v", n.name, r.Name, err)
	}
	if err := n.mgr.StartOnline(ctxT(n.t), r, f); err != nil {
		n.t.Fatalf("%s: start online %q: %v", n.name, r.Name, err)
	}
	return f
}

// offline does what the monitor does after Offline: last save, release.
func (n *node) offline(r model.Resource) {
	n.t.Helper()
	if err := n.mgr.Offline(ctxT(n.t), r); err != nil {
		n.t.Fatalf("%s: offline %q: %v", n.name, r.Name, err)
	}
	n.release(r.Group)
}

func (n *node) control(r model.Resource, code sdk.ControlCode, in string) error {
	_, err := n.mgr.Control(ctxT(n.t), model.Ref{ID: r.ID, Name: r.Name}, code, []byte(in), nil)
	return err
}

func (n *node) addCheckpoint(r model.Resource, path string) {
	n.t.Helper()
	if err := n.control(r, sdk.AddRegistryCheckpoint, path); err != nil {
		n.t.Fatalf("%s: add checkpoint %q: %v", n.name, path, err)
	}
}

func (n *node) set(key, name string, v sdk.Value) {
	n.t.Helper()
	if err := n.reg.SetValue(ctxT(n.t), key, name, v); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) str(key, name string) string {
	n.t.Helper()
	v, err := n.reg.GetValue(ctxT(n.t), key, name)
	if errors.Is(err, sdk.ErrNotFound) {
		return "<missing>"
	}
	if err != nil {
		n.t.Fatal(err)
	}
	return v.Str
}

// stored reads and decodes checkpoint number of kind of resource r from etcd.
func (c *cluster) stored(r model.Resource, kind model.CheckpointKind, number uint32) (checkpoint.Document, quorum.CheckpointManifest, error) {
	data, m, err := c.admin.GetCheckpoint(ctxT(c.t), r.ID, kind, number)
	if err != nil {
		return checkpoint.Document{}, m, err
	}
	d, err := checkpoint.Decode(data, c.key)
	return d, m, err
}

// storedStr is the string value name at rel (below the checkpoint root) in
// the stored registry checkpoint number of r.
func (c *cluster) storedStr(r model.Resource, number uint32, rel, name string) string {
	d, _, err := c.stored(r, model.RegistryCheckpoint, number)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	v, ok := d.Tree.Value(rel, name)
	if !ok {
		return "<missing>"
	}
	return v.Str
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func events(t testing.TB, st *quorum.Store, kind string) []quorum.Event {
	t.Helper()
	all, err := st.Events(ctxT(t), time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []quorum.Event
	for _, e := range all {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
