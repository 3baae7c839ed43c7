package admin_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resmon/resmon/admin"
)

func TestUnixSocketIsMode0600AndRemovedOnStop(t *testing.T) {
	reg := openRegistry(t)
	path := filepath.Join(shortDir(t), "admin.sock")
	ln, err := admin.Listen("unix:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("leftovers next to the socket: %v", entries)
	}
	srv, err := admin.New(admin.Config{Node: "n", Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c, err := admin.Dial(ctx, "unix:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info(ctx); err != nil || info.Node != "n" {
		t.Fatalf("info: %+v %v", info, err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind after stop: %v", err)
	}
}

func TestListenSocketPathChecks(t *testing.T) {
	for _, tt := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr error
		msg     string
	}{
		{"missing", func(*testing.T, string) {}, nil, ""},
		{"stale socket is replaced", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			ln.Close() // the file stays, nobody listens
		}, nil, ""},
		{"live socket is refused", func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, admin.ErrInUse, "a server is listening"},
		{"regular file is refused", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("keep me"), 0o600)
		}, admin.ErrInUse, "is not a socket"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(shortDir(t), "a.sock")
			tt.prepare(t, path)
			ln, err := admin.Listen("unix:"+path, nil)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				ln.Close()
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want %v naming %s and %q", err, tt.wantErr, path, tt.msg)
			}
			if b, err := os.ReadFile(path); err == nil && string(b) != "keep me" {
				t.Fatalf("file changed: %q", b)
			}
		})
	}
}

func TestListenAddressChecks(t *testing.T) {
	p := newPKI(t)
	srvTLS, err := admin.ServerTLS(p.serverCert, p.serverKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	noClientAuth := srvTLS.Clone()
	noClientAuth.ClientAuth = tls.NoClientCert
	for _, tt := range []struct {
		addr    string
		tls     *tls.Config
		wantErr error
	}{
		{"/run/admin.sock", nil, admin.ErrBadAddress},
		{"unix:", nil, admin.ErrBadAddress},
		{"unix:/" + strings.Repeat("x", 120), nil, admin.ErrBadAddress},
		{"tcp:nope", nil, admin.ErrBadAddress},
		{"unix:/tmp/x.sock", srvTLS, admin.ErrBadAddress},
		{"tcp:0.0.0.0:0", nil, admin.ErrInsecure},
		{"tcp:127.0.0.1:0", noClientAuth, admin.ErrInsecure},
		{"tcp:127.0.0.1:0", nil, admin.ErrInsecure}, // loopback too: any local user reaches it
		{"tcp:[::1]:0", nil, admin.ErrInsecure},
		{"tcp:localhost:0", nil, admin.ErrInsecure},
		{"tcp:127.0.0.1:0", srvTLS, nil},
	} {
		ln, err := admin.Listen(tt.addr, tt.tls)
		if ln != nil {
			ln.Close()
		}
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("Listen(%q): %v, want %v", tt.addr, err, tt.wantErr)
		}
	}
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t) // a CA the node does not trust
	srvTLS, err := admin.ServerTLS(p.serverCert, p.serverKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := admin.Listen("tcp:127.0.0.1:0", srvTLS)
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp:" + ln.Addr().String()
	serve(t, openRegistry(t), ln)
	ctx := context.Background()

	good, err := admin.ClientTLS(p.clientCert, p.clientKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := admin.ClientTLS(other.clientCert, other.clientKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	noCert := good.Clone()
	noCert.Certificates = nil
	for _, tt := range []struct {
		name string
		tls  *tls.Config
		ok   bool
	}{
		{"client certificate from the node's CA", good, true},
		{"client certificate from another CA", foreign, false},
		{"no client certificate", noCert, false},
		{"plain HTTP", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := admin.Dial(ctx, addr, tt.tls)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.SetValue(ctx, `SOFTWARE\tls`, mustValue(t, "v", "dword", "7")); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("connection accepted")
			}
			if !errors.Is(err, admin.ErrUnreachable) {
				t.Fatalf("err = %v, want ErrUnreachable", err)
			}
		})
	}
	// The server checks the node certificate's CA too.
	if _, err := admin.Dial(ctx, addr, func() *tls.Config {
		c, _ := admin.ClientTLS(p.clientCert, p.clientKey, other.caFile)
		return c
	}()); !errors.Is(err, admin.ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted node certificate: %v", err)
	}
}

func TestTLSFilesErrorsNameTheFile(t *testing.T) {
	p := newPKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	if _, err := admin.ServerTLS(p.serverCert, p.serverKey, missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing CA: %v", err)
	}
	if _, err := admin.ClientTLS(missing, p.clientKey, p.caFile); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing cert: %v", err)
	}
	if _, err := admin.ServerTLS(p.serverCert, p.serverKey, p.serverKey); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("CA file without a certificate: %v", err)
	}
}
