// Package quorumtest starts real embedded etcd members for tests: one member or
// a node-majority cluster, on free loopback ports, with fast raft timings.
// Members serve TLS with client-certificate authentication and etcd auth on,
// as clusterd's do: each cluster of members has its own PKI, whose operator
// "admin" (read and write under quorum.Root) is the identity of the clients
// made here. Everything it starts is stopped by t.Cleanup.
package quorumtest

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Fast raft timings: start in tens of milliseconds, leases expire within ~1.2 s.
const (
	TickMs     = 10
	ElectionMs = 100
)

// handedOut are the ports FreeURL returned in this process: the kernel may
// offer a port again as soon as its probe listener closes, and two calls in
// a row (client and peer URL) must not get the same one.
var handedOut = struct {
	sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

// FreeURL returns an http URL on a currently free loopback port, never one
// it returned before in this process.
func FreeURL(t testing.TB) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("quorumtest: free port: %v", err)
		}
		addr := l.Addr().String()
		l.Close()
		handedOut.Lock()
		seen := handedOut.ports[addr]
		handedOut.ports[addr] = true
		handedOut.Unlock()
		if !seen {
			return "http://" + addr
		}
	}
	t.Fatal("quorumtest: no fresh free port in 100 tries")
	return ""
}

// FreeTLSURL is FreeURL with https://, for a member that serves TLS (as
// clusterd's embedded member does by default).
func FreeTLSURL(t testing.TB) string {
	t.Helper()
	return "https://" + strings.TrimPrefix(FreeURL(t), "http://")
}

// PKIClientConfig reaches endpoints as the operator "admin" of the PKI in
// dir, the one a single clusterd creates in <data_dir>/pki, with a probe of
// the cluster's prefix, which is all that operator may read.
func PKIClientConfig(dir, cluster string, endpoints ...string) quorum.ClientConfig {
	d := pki.Dir(dir)
	cert, key := d.OperatorFiles(Admin)
	return quorum.ClientConfig{Endpoints: endpoints, CAFile: d.CAFile(), CertFile: cert, KeyFile: key,
		Prefix: quorum.NewKeys(cluster).Prefix(), DialTimeout: 10 * time.Second}
}

// Member is one embedded etcd member started by the test.
type Member struct {
	Config quorum.EmbedConfig
	*quorum.Embedded
	// PKI holds the CA, the members' node certificates (named after the
	// members) and the operator "admin"; empty for a plaintext member.
	PKI        pki.Dir
	authPrefix string
	mu         sync.Mutex
	stopped    bool
}

// Admin is the operator every client of this package acts as. Its role
// reads and writes every key under quorum.Root.
const Admin = "admin"

// AdminFiles are the CA, certificate and key files of the operator
// "admin", for the configuration of a process under test (all empty for a
// plaintext member).
func (m *Member) AdminFiles() (ca, cert, key string) {
	if m.PKI == "" {
		return "", "", ""
	}
	cert, key = m.PKI.OperatorFiles(Admin)
	return m.PKI.CAFile(), cert, key
}

// ClientConfig reaches this member as the operator "admin".
func (m *Member) ClientConfig() quorum.ClientConfig {
	ca, cert, key := m.AdminFiles()
	return quorum.ClientConfig{Endpoints: m.Endpoints(), CAFile: ca, CertFile: cert, KeyFile: key, Prefix: m.authPrefix, DialTimeout: 10 * time.Second}
}

// Issue signs a certificate in the member's PKI: an operator with role
// admin or viewer, or a node with role "node". With register, the etcd user
// of its name is created (as root). It returns the certificate and key files.
func (m *Member) Issue(t testing.TB, name, role string, register bool) (cert, key string) {
	t.Helper()
	ca, err := pki.LoadCA(m.PKI)
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	if role == pki.RoleNode {
		_, err = ca.IssueNode(name, nil, time.Hour)
		cert, key = m.PKI.NodeFiles(name)
	} else {
		_, err = ca.IssueOperator(name, role, time.Hour)
		cert, key = m.PKI.OperatorFiles(name)
	}
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	if register {
		root := RootClient(t, m.PKI, m.Endpoints()...)
		if err := quorum.RegisterUsers(context.Background(), root, quorum.AuthSpec{Prefix: m.authPrefix, Users: []quorum.AuthUser{{Name: name, Role: role}}}); err != nil {
			t.Fatalf("quorumtest: %v", err)
		}
	}
	return cert, key
}

// RootClient connects as etcd's root, with a certificate made in memory
// from the CA key of d.
func RootClient(t testing.TB, d pki.Dir, endpoints ...string) *clientv3.Client {
	t.Helper()
	ca, err := pki.LoadCA(d)
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	rc, err := ca.RootCertificate(pki.RootValidity)
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool, Certificates: []tls.Certificate{rc}}
	cli, err := quorum.Connect(context.Background(), quorum.ClientConfig{Endpoints: endpoints, TLSConfig: tc, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// byEndpoint finds the member serving an endpoint, for Client.
var byEndpoint = struct {
	sync.Mutex
	m map[string]*Member
}{m: map[string]*Member{}}

func register(m *Member) {
	byEndpoint.Lock()
	defer byEndpoint.Unlock()
	for _, ep := range m.Endpoints() {
		byEndpoint.m[ep] = m
	}
}

// Stop stops the member (idempotent).
func (m *Member) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.stopped {
		m.stopped = true
		m.Embedded.Close()
	}
}

// Restart starts a stopped member again on the same data directory.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := quorum.StartEmbedded(context.Background(), m.Config)
	if err != nil {
		t.Fatalf("quorumtest: restart %s: %v", m.Config.Name, err)
	}
	m.Embedded, m.stopped = e, false
}

// Start runs a single-member etcd in t.TempDir() and returns it with a client.
func Start(t testing.TB) (*Member, *clientv3.Client) {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn is Start with a chosen data directory (to test restarts); the
// PKI lives in dir/pki.
func StartIn(t testing.TB, dir string) (*Member, *clientv3.Client) {
	t.Helper()
	return StartWith(t, Options{Dir: dir})
}

// Options change what StartWith starts.
type Options struct {
	Dir string // the data directory; default t.TempDir()
	// Plaintext starts a member on http:// without TLS or auth, as a node
	// with quorum.insecure_plaintext runs.
	Plaintext bool
	// NoAuth leaves etcd auth off (TLS stays on): any certificate of the
	// CA may do anything, as before a node has turned auth on.
	NoAuth bool
	// AuthPrefix is the prefix the roles cover; default quorum.Root.
	AuthPrefix string
	// TickMs and ElectionMs are the raft timings; default the fast ones
	// above. etcd grants no lease shorter than 1.5 election timeouts.
	TickMs, ElectionMs uint
}

// StartWith runs a single-member etcd as o says.
func StartWith(t testing.TB, o Options) (*Member, *clientv3.Client) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	cfg := quorum.EmbedConfig{
		Name: "m1", DataDir: o.Dir, ClientURL: FreeURL(t), PeerURL: FreeURL(t),
		TickMs: cmp.Or(o.TickMs, TickMs), ElectionMs: cmp.Or(o.ElectionMs, ElectionMs), StartTimeout: 30 * time.Second,
	}
	var d pki.Dir
	if !o.Plaintext {
		d = newPKI(t, filepath.Join(o.Dir, "pki"), "m1")
		secure(&cfg, d)
	}
	e, err := quorum.StartEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	m := &Member{Config: cfg, Embedded: e, PKI: d, authPrefix: cmp.Or(o.AuthPrefix, quorum.Root)}
	t.Cleanup(m.Stop)
	register(m)
	if !o.Plaintext && !o.NoAuth {
		enableAuth(t, m, o.AuthPrefix, "m1")
	}
	return m, Client(t, m.Endpoints()...)
}

// newPKI makes a CA in dir with node certificates for the members and
// the operator "admin" (existing files are kept, for a restart).
func newPKI(t testing.TB, dir string, members ...string) pki.Dir {
	t.Helper()
	d := pki.Dir(dir)
	if d.HasCA() {
		return d
	}
	ca, err := pki.Init(d, "quorumtest")
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	for _, n := range members {
		if _, err := ca.IssueNode(n, nil, 24*time.Hour); err != nil {
			t.Fatalf("quorumtest: %v", err)
		}
	}
	if _, err := ca.IssueOperator(Admin, pki.RoleAdmin, 24*time.Hour); err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	return d
}

// secure turns cfg's URLs to https and gives it its node certificate.
func secure(cfg *quorum.EmbedConfig, d pki.Dir) {
	cert, key := d.NodeFiles(cfg.Name)
	cfg.TLS = &quorum.MemberTLS{CAFile: d.CAFile(), CertFile: cert, KeyFile: key, PeerHostname: pki.NodeMarker}
	cfg.ClientURL = "https://" + strings.TrimPrefix(cfg.ClientURL, "http://")
	cfg.PeerURL = "https://" + strings.TrimPrefix(cfg.PeerURL, "http://")
}

// enableAuth turns etcd auth on as clusterd does, with the roles covering
// prefix, by default every cluster (quorum.Root) so that tests may name
// their clusters freely.
func enableAuth(t testing.TB, m *Member, prefix string, members ...string) {
	t.Helper()
	if prefix == "" {
		prefix = quorum.Root
	}
	users := []quorum.AuthUser{{Name: Admin, Role: pki.RoleAdmin}}
	for _, n := range members {
		users = append(users, quorum.AuthUser{Name: n, Role: pki.RoleNode})
	}
	cli, err := quorum.Connect(context.Background(), m.ClientConfig())
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := quorum.EnableAuth(ctx, cli, quorum.AuthSpec{Prefix: prefix, Users: users}); err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
}

// StartCluster runs an n-member node-majority cluster in one process. The
// members start concurrently because each waits for a majority of the others.
func StartCluster(t testing.TB, n int) ([]*Member, *clientv3.Client) {
	t.Helper()
	peers := map[string]string{}
	cfgs := make([]quorum.EmbedConfig, n)
	token := fmt.Sprintf("quorumtest-%d", time.Now().UnixNano())
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i+1)
	}
	d := newPKI(t, filepath.Join(t.TempDir(), "pki"), names...)
	for i, name := range names {
		cfgs[i] = quorum.EmbedConfig{
			Name: name, DataDir: t.TempDir(), ClientURL: FreeURL(t), PeerURL: FreeURL(t),
			ClusterToken: token, TickMs: TickMs, ElectionMs: ElectionMs, StartTimeout: 60 * time.Second,
		}
		secure(&cfgs[i], d)
		peers[name] = cfgs[i].PeerURL
	}
	members := make([]*Member, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].Peers = peers
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, err := quorum.StartEmbedded(context.Background(), cfgs[i])
			if err == nil {
				members[i] = &Member{Config: cfgs[i], Embedded: e, PKI: d, authPrefix: quorum.Root}
				register(members[i])
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	var endpoints []string
	for i, m := range members {
		if m != nil {
			t.Cleanup(m.Stop)
			endpoints = append(endpoints, m.Endpoints()...)
		}
		if errs[i] != nil {
			t.Fatalf("quorumtest: member %d: %v", i+1, errs[i])
		}
	}
	enableAuth(t, members[0], "", names...)
	return members, Client(t, endpoints...)
}

// Client connects to endpoints of members started here, as the operator
// "admin", and closes the client at cleanup.
func Client(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cc := quorum.ClientConfig{Endpoints: endpoints, DialTimeout: 10 * time.Second}
	byEndpoint.Lock()
	m := byEndpoint.m[endpoints[0]]
	byEndpoint.Unlock()
	if m != nil {
		cc.CAFile, cc.CertFile, cc.KeyFile = m.AdminFiles()
		cc.Prefix = m.authPrefix
	}
	cli, err := quorum.Connect(context.Background(), cc)
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
