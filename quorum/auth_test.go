package quorum_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestAuthRolesConfineEachIdentity: on a member whose roles cover one
// cluster's prefix, a node and an admin read and write it, a viewer only
// reads it, none of them reaches another cluster's keys, a certificate
// without a user is refused at Connect, and a client without a
// certificate does not get through the TLS handshake.
func TestAuthRolesConfineEachIdentity(t *testing.T) {
	prefix := quorum.NewKeys("c1").Prefix()
	m, _ := quorumtest.StartWith(t, quorumtest.Options{AuthPrefix: prefix})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func(cert, key string) (*clientv3.Client, error) {
		return quorum.Connect(ctx, quorum.ClientConfig{Endpoints: m.Endpoints(), CAFile: m.PKI.CAFile(), CertFile: cert, KeyFile: key, Prefix: prefix, DialTimeout: 5 * time.Second})
	}
	idents := map[string][2]string{}
	for _, id := range []struct{ name, role string }{{"n9", pki.RoleNode}, {"alice", pki.RoleAdmin}, {"vic", pki.RoleViewer}} {
		c, k := m.Issue(t, id.name, id.role, true)
		idents[id.name] = [2]string{c, k}
	}
	for _, c := range []struct {
		who           string
		write, others bool
	}{
		{"n9", true, false},
		{"alice", true, false},
		{"vic", false, false},
	} {
		cli, err := connect(idents[c.who][0], idents[c.who][1])
		if err != nil {
			t.Fatalf("%s: %v", c.who, err)
		}
		defer cli.Close()
		if _, err := cli.Get(ctx, prefix, clientv3.WithPrefix()); err != nil {
			t.Errorf("%s cannot read its cluster: %v", c.who, err)
		}
		_, err = cli.Put(ctx, prefix+"db/x-"+c.who, "v")
		if c.write && err != nil {
			t.Errorf("%s cannot write its cluster: %v", c.who, err)
		}
		if !c.write && !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("%s wrote its cluster: %v", c.who, err)
		}
		if _, err := cli.Get(ctx, quorum.NewKeys("c2").Prefix(), clientv3.WithPrefix()); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("%s read another cluster: %v", c.who, err)
		}
		if _, err := cli.Put(ctx, "/elsewhere", "v"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("%s wrote outside the prefix: %v", c.who, err)
		}
		if _, err := cli.UserAdd(ctx, "mallory", "pw"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("%s added a user: %v", c.who, err)
		}
	}
	// A certificate of the CA whose name etcd does not know.
	c, k := m.Issue(t, "eve", pki.RoleAdmin, false)
	if _, err := connect(c, k); !errors.Is(err, quorum.ErrDenied) || !strings.Contains(err.Error(), `"eve"`) {
		t.Fatalf("unregistered certificate: %v", err)
	}
	// No certificate at all.
	if _, err := quorum.Connect(ctx, quorum.ClientConfig{Endpoints: m.Endpoints(), CAFile: m.PKI.CAFile(), Prefix: prefix, DialTimeout: 2 * time.Second}); !errors.Is(err, quorum.ErrUnreachable) {
		t.Fatalf("no certificate: %v", err)
	}
	// Reissued as a viewer, alice loses her write access.
	c, k = m.Issue(t, "alice", pki.RoleViewer, true)
	cli, err := connect(c, k)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, prefix+"db/x-alice", "v2"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("alice reissued as a viewer still writes: %v", err)
	}
}

// TestEnableAuthConcurrentlyAndAgain: three members' worth of callers
// turn auth on at once; exactly one does it, none fails, every user they
// asked for exists, and calling again changes nothing.
func TestEnableAuthConcurrentlyAndAgain(t *testing.T) {
	m, _ := quorumtest.StartWith(t, quorumtest.Options{NoAuth: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := quorum.AuthSpec{Prefix: quorum.NewKeys("c1").Prefix()}
	names := []string{"node1", "node2", "node3"}
	for _, n := range names {
		spec.Users = append(spec.Users, quorum.AuthUser{Name: n, Role: pki.RoleNode})
	}
	clis := make([]*clientv3.Client, len(names))
	for i, n := range names {
		cert, key := m.Issue(t, n, pki.RoleNode, false)
		cli, err := quorum.Connect(ctx, quorum.ClientConfig{Endpoints: m.Endpoints(), CAFile: m.PKI.CAFile(), CertFile: cert, KeyFile: key})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		clis[i] = cli
	}
	var wg sync.WaitGroup
	enabled := make([]bool, len(clis))
	errs := make([]error, len(clis))
	for i, cli := range clis {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enabled[i], errs[i] = quorum.EnableAuth(ctx, cli, spec)
		}()
	}
	wg.Wait()
	count := 0
	for i := range clis {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		}
		if enabled[i] {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d callers enabled auth, want 1", count)
	}
	for i, cli := range clis {
		// Each node reads as itself now, through its own user.
		if _, err := cli.Get(ctx, spec.Prefix+"probe"); err != nil {
			t.Errorf("node%d after auth: %v", i+1, err)
		}
		if again, err := quorum.EnableAuth(ctx, cli, spec); again || err != nil {
			t.Errorf("second EnableAuth: %v, %v", again, err)
		}
	}
	root := quorumtest.RootClient(t, m.PKI, m.Endpoints()...)
	users, err := root.UserList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(users.Users); got != "[node1 node2 node3 root]" {
		t.Fatalf("users %s", got)
	}
}

// TestPeerPortTakesOnlyNodeCertificates: the peer port speaks to a node
// certificate, and refuses an operator's (even an admin's) and a client
// without one, before any request is read.
func TestPeerPortTakesOnlyNodeCertificates(t *testing.T) {
	m, _ := quorumtest.Start(t)
	peer, _ := url.Parse(m.Config.PeerURL)
	pool, err := pki.LoadPool(m.PKI)
	if err != nil {
		t.Fatal(err)
	}
	nodeCert, nodeKey := m.PKI.NodeFiles("m1")
	adminCert, adminKey := m.PKI.OperatorFiles(quorumtest.Admin)
	for _, c := range []struct {
		who       string
		cert, key string
		ok        bool
	}{
		{"node certificate", nodeCert, nodeKey, true},
		{"admin operator certificate", adminCert, adminKey, false},
		{"no certificate", "", "", false},
	} {
		tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if c.cert != "" {
			pair, err := pki.LoadKeyPair(c.cert, c.key)
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		status, err := tlsGet("tcp", peer.Host, tc, "/version")
		if c.ok && (err != nil || status != http.StatusOK) {
			t.Errorf("%s: %d %v", c.who, status, err)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: the peer port answered %d", c.who, status)
		}
	}
}

// tlsGet asks for path over TLS on network and addr.
func tlsGet(network, addr string, tc *tls.Config, path string) (int, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, network, addr, tc)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	// With TLS 1.3 the server judges the client's certificate after the
	// client's handshake returns: its verdict arrives with the first read.
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestClientPortServesGRPCAlone: etcd's HTTP endpoints answer on a socket
// in the member's data directory, behind the same TLS and certificate
// check as the client port, which serves gRPC alone (through gRPC's own
// server rather than net/http's: the cheaper path).
func TestClientPortServesGRPCAlone(t *testing.T) {
	m, cli := quorumtest.Start(t)
	sock := m.Config.HTTPSocket()
	if sock == "" || filepath.Dir(sock) != m.Config.DataDir {
		t.Fatalf("HTTP socket %q; want one in the data directory %s", sock, m.Config.DataDir)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("HTTP socket: %v %v", fi, err)
	}
	pool, err := pki.LoadPool(m.PKI)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := m.PKI.OperatorFiles(quorumtest.Admin)
	pair, err := pki.LoadKeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{pair}}
	if status, err := tlsGet("unix", sock, withCert, "/health"); err != nil || status != http.StatusOK {
		t.Fatalf("/health on the socket: %d %v", status, err)
	}
	if status, err := tlsGet("unix", sock, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, "/health"); err == nil {
		t.Fatalf("/health on the socket without a certificate answered %d", status)
	}
	client, _ := url.Parse(m.Config.ClientURL)
	if status, err := tlsGet("tcp", client.Host, withCert, "/health"); err == nil && status == http.StatusOK {
		t.Fatal("the client port still serves /health")
	}
	ctx := ctxT(t)
	if _, err := cli.Put(ctx, quorum.Root+"grpc-alone", "yes"); err != nil {
		t.Fatalf("gRPC on the client port: %v", err)
	}

	long := quorum.EmbedConfig{DataDir: "/" + strings.Repeat("d", 120), ClientURL: m.Config.ClientURL, TLS: m.Config.TLS}
	if got := long.HTTPSocket(); got != "" {
		t.Fatalf("a socket path of %d bytes was chosen: %q", len(got), got)
	}
	if got := (quorum.EmbedConfig{DataDir: m.Config.DataDir, ClientURL: quorumtest.FreeURL(t)}).HTTPSocket(); got != "" {
		t.Fatalf("a plaintext member got an HTTP socket: %q", got)
	}
}

func TestEmbeddedRefusesHTTPSWithoutTLSFiles(t *testing.T) {
	_, err := quorum.StartEmbedded(context.Background(), quorum.EmbedConfig{Name: "m1", DataDir: t.TempDir(),
		ClientURL: strings.Replace(quorumtest.FreeURL(t), "http", "https", 1), PeerURL: quorumtest.FreeURL(t)})
	if !errors.Is(err, quorum.ErrEmbeddedStart) || !strings.Contains(err.Error(), "no TLS files") {
		t.Fatalf("https without TLS: %v", err)
	}
}
