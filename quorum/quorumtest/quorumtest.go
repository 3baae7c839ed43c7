// Package quorumtest starts real embedded etcd members for tests: one member or
// a node-majority cluster, on free loopback ports, with fast raft timings.
// Everything it starts is stopped by t.Cleanup.
package quorumtest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

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

// Member is one embedded etcd member started by the test.
type Member struct {
	Config quorum.EmbedConfig
	*quorum.Embedded
	mu      sync.Mutex
	stopped bool
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

// StartIn is Start with a chosen data directory (to test restarts).
func StartIn(t testing.TB, dir string) (*Member, *clientv3.Client) {
	t.Helper()
	cfg := quorum.EmbedConfig{
		Name: "m1", DataDir: dir, ClientURL: FreeURL(t), PeerURL: FreeURL(t),
		TickMs: TickMs, ElectionMs: ElectionMs, StartTimeout: 30 * time.Second,
	}
	e, err := quorum.StartEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	m := &Member{Config: cfg, Embedded: e}
	t.Cleanup(m.Stop)
	return m, Client(t, m.Endpoints()...)
}

// StartCluster runs an n-member node-majority cluster in one process. The
// members start concurrently because each waits for a majority of the others.
func StartCluster(t testing.TB, n int) ([]*Member, *clientv3.Client) {
	t.Helper()
	peers := map[string]string{}
	cfgs := make([]quorum.EmbedConfig, n)
	token := fmt.Sprintf("quorumtest-%d", time.Now().UnixNano())
	for i := range cfgs {
		name := fmt.Sprintf("m%d", i+1)
		cfgs[i] = quorum.EmbedConfig{
			Name: name, DataDir: t.TempDir(), ClientURL: FreeURL(t), PeerURL: FreeURL(t),
			ClusterToken: token, TickMs: TickMs, ElectionMs: ElectionMs, StartTimeout: 60 * time.Second,
		}
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
				members[i] = &Member{Config: cfgs[i], Embedded: e}
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
	return members, Client(t, endpoints...)
}

// Client connects to endpoints and closes the client at cleanup.
func Client(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := quorum.Connect(context.Background(), quorum.ClientConfig{Endpoints: endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("quorumtest: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
