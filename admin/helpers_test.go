package admin_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/resmon/resmon/admin"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/testutil/testpki"
)

// shortDir is a temporary directory with a path short enough for sockets
// (t.TempDir() paths grow with the test name).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "adm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func openRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	r, err := registry.Open(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// serve runs a server for reg on ln until the test ends.
func serve(t *testing.T, reg admin.Registry, ln net.Listener) {
	t.Helper()
	srv, err := admin.New(admin.Config{Node: "node1", Version: "test", Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// unixServer serves a fresh registry on a unix socket and returns a client.
func unixServer(t *testing.T) (*registry.Registry, *admin.Client, string) {
	t.Helper()
	reg := openRegistry(t)
	addr := "unix:" + filepath.Join(shortDir(t), "admin.sock")
	ln, err := admin.Listen(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, reg, ln)
	c, err := admin.Dial(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return reg, c, addr
}

// pki is a throwaway CA with one node and one operator certificate.
type pki struct {
	caFile                string
	serverCert, serverKey string
	clientCert, clientKey string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca := testpki.NewCA(t, t.TempDir(), "test")
	p := &pki{caFile: ca.File}
	p.serverCert, p.serverKey = ca.Issue(t, "node1")
	p.clientCert, p.clientKey = ca.Issue(t, "operator")
	return p
}

func mustValue(t *testing.T, name, typ string, data ...string) sdk.Value {
	t.Helper()
	v, err := admin.ValueFromText(name, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
