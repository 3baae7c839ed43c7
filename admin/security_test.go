package admin_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/resmon/resmon/admin"
	"github.com/resmon/resmon/checkpoint/registry"
)

// changes collects what a server reports through Config.OnChange, and its
// log.
type changes struct {
	mu   sync.Mutex
	list []admin.Change
	log  bytes.Buffer
}

func (c *changes) add(ch admin.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, ch)
}

func (c *changes) all() ([]admin.Change, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]admin.Change(nil), c.list...), c.log.String()
}

// Write lets changes be the server's log output.
func (c *changes) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.Write(b)
}

// serveRecorded serves reg on ln, recording changes and the log.
func serveRecorded(t *testing.T, reg admin.Registry, ln net.Listener) *changes {
	t.Helper()
	rec := &changes{}
	srv, err := admin.New(admin.Config{Node: "node1", Registry: reg, OnChange: rec.add,
		Log: hclog.New(&hclog.LoggerOptions{Output: rec, Level: hclog.Info})})
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
	return rec
}

// A request with a body that is not JSON is refused before it reaches a
// handler: a web page can post form, multipart or text bodies cross-origin
// without the browser asking the server first, but not JSON.
func TestNonJSONRequestsRefused(t *testing.T) {
	reg := openRegistry(t)
	dir := shortDir(t)
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	rec := serveRecorded(t, reg, ln)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	set := `{"key":"SOFTWARE\\Web","value":{"name":"n","type":"string","data":"x"}}`
	imp := `{"name":"x.reg","data":"` + "V2luZG93cyBSZWdpc3RyeSBFZGl0b3IgVmVyc2lvbiA1LjAwDQoNCltIS0VZX0xPQ0FMX01BQ0hJTkVcU09GVFdBUkVcV2ViXQ0KIm4iPSJ4Ig0K" + `"}`
	for _, tt := range []struct {
		path, ctype, body string
	}{
		{"/v1/registry/set", "text/plain", set},
		{"/v1/registry/set", "application/x-www-form-urlencoded", set},
		{"/v1/registry/set", "multipart/form-data; boundary=x", set},
		{"/v1/registry/set", "", set},
		{"/v1/registry/set", "application/jsonx", set},
		{"/v1/registry/delete-key", "text/plain", `{"key":"SOFTWARE"}`},
		{"/v1/registry/import", "text/plain", imp},
		{"/v1/registry/get", "text/plain", `{"key":"SOFTWARE","name":"n"}`},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://admin"+tt.path, strings.NewReader(tt.body))
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ae struct{ Error, Code string }
		json.Unmarshal(b, &ae)
		if resp.StatusCode != http.StatusUnsupportedMediaType || ae.Code != "unsupported_media_type" ||
			!strings.Contains(ae.Error, "application/json") || !strings.Contains(ae.Error, tt.path) {
			t.Errorf("%s with Content-Type %q: %d %s, want 415 naming application/json", tt.path, tt.ctype, resp.StatusCode, b)
		}
	}
	if subs, err := reg.SubKeys(context.Background(), ""); err != nil || len(subs) != 0 {
		t.Fatalf("the registry changed: %q %v", subs, err)
	}
	if got, _ := rec.all(); len(got) != 0 {
		t.Fatalf("changes reported: %+v", got)
	}
	// JSON with a charset is JSON; a GET has no body to check.
	for _, tt := range []struct{ method, path, ctype, body string }{
		{http.MethodPost, "/v1/registry/set", "application/json; charset=utf-8", set},
		{http.MethodPost, "/v1/registry/import", "Application/JSON", imp},
		{http.MethodGet, "/v1/info", "", ""},
	} {
		req, _ := http.NewRequest(tt.method, "http://admin"+tt.path, strings.NewReader(tt.body))
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s (%s): %d %s", tt.method, tt.path, tt.ctype, resp.StatusCode, b)
		}
	}
}

// Every change is recorded with its operator: on the unix socket the uid
// (and pid) of the process that connected, on TCP the client certificate's
// CN; in the log and through OnChange.
func TestOperatorRecorded(t *testing.T) {
	ctx := context.Background()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	wantUnix := fmt.Sprintf("uid=%s(%s)", me.Uid, me.Username)

	addr := "unix:" + filepath.Join(shortDir(t), "admin.sock")
	ln, err := admin.Listen(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := serveRecorded(t, openRegistry(t), ln)
	c, err := admin.Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.SetValue(ctx, `SOFTWARE\Audit`, mustValue(t, "Port", "dword", "7000")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteValue(ctx, `SOFTWARE\Audit`, "Port"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Import(ctx, "audit.reg", []byte(registry.RegHeader+"\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Audit\\Sub]\n\"x\"=\"1\"\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteKey(ctx, `SOFTWARE\Audit`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, ""); err != nil { // a read: not a change
		t.Fatal(err)
	}
	got, log := rec.all()
	actions := []string{"registry.set", "registry.delete-value", "registry.import", "registry.delete-key"}
	if len(got) != len(actions) {
		t.Fatalf("changes %+v, want %d", got, len(actions))
	}
	for i, ch := range got {
		if ch.Action != actions[i] || ch.Operator != wantUnix || ch.PID != os.Getpid() || ch.Message == "" {
			t.Errorf("change %d: %+v, want %s by %s pid %d", i, ch, actions[i], wantUnix, os.Getpid())
		}
	}
	if n := strings.Count(log, `operator="`+wantUnix+`"`); n != len(actions) {
		t.Errorf("the log names the operator %d times, want %d:\n%s", n, len(actions), log)
	}

	// TCP: the client certificate's CN.
	p := newPKI(t)
	srvTLS, err := admin.ServerTLS(p.serverCert, p.serverKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	tln, err := admin.Listen("tcp:127.0.0.1:0", srvTLS)
	if err != nil {
		t.Fatal(err)
	}
	trec := serveRecorded(t, openRegistry(t), tln)
	cliTLS, err := admin.ClientTLS(p.clientCert, p.clientKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := admin.Dial(ctx, "tcp:"+tln.Addr().String(), cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.SetValue(ctx, `SOFTWARE\Audit`, mustValue(t, "Port", "dword", "7000")); err != nil {
		t.Fatal(err)
	}
	got, log = trec.all()
	if len(got) != 1 || got[0].Operator != "cn=operator" || got[0].PID != 0 || got[0].Key != `SOFTWARE\Audit` {
		t.Fatalf("TCP change: %+v", got)
	}
	if !strings.Contains(log, "operator=cn=operator") {
		t.Fatalf("the log does not name the certificate:\n%s", log)
	}
}

// On loopback TCP, a client without a certificate from the node's CA gets
// nothing, not even /v1/info.
func TestLoopbackTCPNeedsClientCertificate(t *testing.T) {
	p := newPKI(t)
	srvTLS, err := admin.ServerTLS(p.serverCert, p.serverKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Listen("tcp:127.0.0.1:0", nil); !errors.Is(err, admin.ErrInsecure) {
		t.Fatalf("loopback without TLS: %v, want ErrInsecure", err)
	}
	ln, err := admin.Listen("tcp:127.0.0.1:0", srvTLS)
	if err != nil {
		t.Fatal(err)
	}
	reg := openRegistry(t)
	rec := serveRecorded(t, reg, ln)
	noCert, err := admin.ClientTLS(p.clientCert, p.clientKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	noCert.Certificates = nil
	ctx := context.Background()
	for name, cfg := range map[string]*tls.Config{"no client certificate": noCert, "plain HTTP": nil} {
		if c, err := admin.Dial(ctx, "tcp:"+ln.Addr().String(), cfg); err == nil {
			c.Close()
			t.Errorf("%s: connected", name)
		} else if !errors.Is(err, admin.ErrUnreachable) {
			t.Errorf("%s: %v, want ErrUnreachable", name, err)
		}
	}
	// Raw: a POST over plain TCP reaches no handler either.
	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/registry/set", "application/json",
		strings.NewReader(`{"key":"SOFTWARE\\X","value":{"name":"n","type":"string","data":"x"}}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP POST answered %s", resp.Status)
		}
	}
	if subs, _ := reg.SubKeys(ctx, ""); len(subs) != 0 {
		t.Fatalf("the registry changed: %q", subs)
	}
	if got, _ := rec.all(); len(got) != 0 {
		t.Fatalf("changes: %+v", got)
	}
}

// helperEnv tells the test binary, run as another user, to dial the socket
// named in it and report (TestHelperDialAsOtherUser).
const helperEnv = "RESMON_ADMIN_HELPER_SOCKET"

// TestHelperDialAsOtherUser is not a test of its own: TestSocketIsOwnerOnly
// runs the test binary as an unprivileged user to execute it.
func TestHelperDialAsOtherUser(t *testing.T) {
	addr := os.Getenv(helperEnv)
	if addr == "" {
		t.Skip("run by TestSocketIsOwnerOnly")
	}
	ctx := context.Background()
	c, err := admin.Dial(ctx, addr, nil)
	if err != nil {
		fmt.Printf("RESULT dial: %v\n", err)
		return
	}
	defer c.Close()
	_, err = c.SetValue(ctx, `SOFTWARE\FromOtherUser`, mustValue(t, "n", "string", "x"))
	fmt.Printf("RESULT set: %v\n", err)
}

// The unix socket is 0600: a local user other than clusterd's cannot
// connect to it (the directory above it is open to them; only the socket's
// mode keeps them out). Given access, the same user connects and is
// recorded by uid.
func TestSocketIsOwnerOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates an unprivileged user with useradd and runs a process as that user")
	}
	useradd, err := exec.LookPath("useradd")
	if err != nil {
		t.Skipf("useradd not found: %v", err)
	}
	name := fmt.Sprintf("rmadm%d", os.Getpid()%100000)
	if out, err := exec.Command(useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	// A directory everyone may enter, holding the socket and a copy of
	// this test binary the user can run.
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "admin.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "admin.sock")
	ln, err := admin.Listen("unix:"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := openRegistry(t)
	rec := serveRecorded(t, reg, ln)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	asUser := func() string {
		cmd := exec.Command(bin, "-test.run=^TestHelperDialAsOtherUser$", "-test.count=1")
		cmd.Dir = dir
		cmd.Env = []string{helperEnv + "=unix:" + sock, "PATH=/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("running the helper as %s: %v\n%s", name, err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(l, "RESULT "); ok {
				return r
			}
		}
		t.Fatalf("the helper said nothing:\n%s", out)
		return ""
	}

	if got := asUser(); !strings.Contains(got, "permission denied") {
		t.Fatalf("user %s dialing the 0600 socket: %s; want permission denied", name, got)
	}
	if subs, _ := reg.SubKeys(context.Background(), ""); len(subs) != 0 {
		t.Fatalf("the registry changed: %q", subs)
	}
	if got, _ := rec.all(); len(got) != 0 {
		t.Fatalf("changes: %+v", got)
	}

	// The control: with the socket open to them, the same process gets in,
	// and its change is recorded under its uid.
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	if got := asUser(); got != "set: <nil>" {
		t.Fatalf("user %s with access: %s", name, got)
	}
	got, _ := rec.all()
	if want := fmt.Sprintf("uid=%d(%s)", uid, name); len(got) != 1 || got[0].Operator != want {
		t.Fatalf("changes %+v, want one by %s", got, want)
	}
}
