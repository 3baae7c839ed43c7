package daemon_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An unprivileged local user against a single node started as the README
// starts it: with TLS and etcd auth, its PKI made on its first start.

const unprivConfig = `
[cluster]
name = "sec"
pki_dir = %q
[node]
name = "node1"
data_dir = %q
[quorum]
lease_ttl = "2s"
[quorum.embedded]
client_url = %q
peer_url = %q
heartbeat = "10ms"
election = "100ms"

[[resource_type]]
name = "Generic Application"
kind = "plugin"
path = "/usr/lib/resmon/genapp"

[[group]]
name = "g"
`

// unprivEnv carries the child's task: the attempts it makes as the user.
const unprivEnv = "RESMON_UNPRIVILEGED_CHILD"

type unprivSpec struct {
	Client, Peer string    // the member's client and peer URLs
	CA           string    // a copy of ca.pem the user may read
	Viewer       [2]string // a viewer's certificate and key, handed to the user
	Files        []string  // the PKI's files, which the user must not read
	Prefix       string
}

// attempt is one try the child made, and what came of it.
type attempt struct {
	What string `json:"what"`
	Err  string `json:"err"` // "" when it worked
}

func TestUnprivilegedUserGetsNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it creates a local user with useradd and runs commands as that user")
	}
	uid, gid := newLocalUser(t)

	// A directory everyone may traverse, so that what refuses the user is
	// the PKI's own modes, not a parent directory's.
	dir, err := os.MkdirTemp("", "unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	pkiDir := pki.Dir(filepath.Join(dir, "pki"))
	clientURL, peerURL := quorumtest.FreeTLSURL(t), quorumtest.FreeTLSURL(t)
	cfgPath := filepath.Join(dir, "cluster.toml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(unprivConfig, pkiDir, filepath.Join(dir, "data"), clientURL, peerURL)), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(clusterdBinary(t), "-config", cfgPath)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("--- clusterd ---\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var admin *clientv3.Client
	waitFor(t, "the node's etcd", 60*time.Second, func() bool {
		cc := quorumtest.PKIClientConfig(string(pkiDir), "sec", clientURL)
		cc.DialTimeout = 200 * time.Millisecond
		c, err := quorum.Connect(ctx, cc)
		if err == nil {
			admin = c
		}
		return err == nil && strings.Contains(logs.String(), "node joined")
	})
	defer admin.Close()
	prefix := quorum.NewKeys("sec").Prefix()

	// The tools the user runs, and what the user is handed: the CA
	// certificate (public) and a viewer's certificate.
	tools := filepath.Join(dir, "tools")
	os.Mkdir(tools, 0o755)
	etcdctl := copyFile(t, testbin.Build(t, "go.etcd.io/etcd/etcdctl/v3"), filepath.Join(tools, "etcdctl"), 0o755, -1, -1)
	clusterCLI := copyFile(t, testbin.Build(t, "github.com/resmon/resmon/cmd/cluster"), filepath.Join(tools, "cluster"), 0o755, -1, -1)
	self := copyFile(t, os.Args[0], filepath.Join(tools, "daemon.test"), 0o755, -1, -1)
	ca := copyFile(t, pkiDir.CAFile(), filepath.Join(tools, "ca.pem"), 0o644, -1, -1)
	mustRun(t, exec.Command(clusterCLI, "-config", cfgPath, "pki", "issue", "operator", "watcher", "-role", "viewer"), "Registered etcd user")
	vc, vk := pkiDir.OperatorFiles("watcher")
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o700)
	os.Chown(home, uid, gid)
	viewer := [2]string{copyFile(t, vc, filepath.Join(home, "watcher.pem"), 0o600, uid, gid), copyFile(t, vk, filepath.Join(home, "watcher-key.pem"), 0o600, uid, gid)}

	before := snapshot(t, ctx, admin, prefix)
	var files []string
	filepath.Walk(string(pkiDir), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	// The node's database as the user would like it: a resource type that
	// runs a shell as root.
	evil := prefix + "db/types/evil"
	evilValue := `{"name":"evil","kind":"plugin","path":"/bin/sh"}`
	host := strings.TrimPrefix(clientURL, "https://")

	as := func(name string, args ...string) (string, error) {
		c := exec.Command(name, args...)
		c.Dir, c.Env = home, []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
		out, err := c.CombinedOutput()
		return string(out), err
	}
	// refused checks that an attempt failed, and for the reason given, if any.
	refused := func(what string, out string, err error, why ...string) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s: not refused:\n%s", what, out)
		case len(why) > 0 && !strings.Contains(out, why[0]):
			t.Errorf("%s: refused, but not for %q:\n%s", what, why[0], out)
		default:
			t.Logf("%s: refused: %s", what, lastLine(out, err))
		}
	}
	ctl := func(extra ...string) []string {
		return append([]string{"--endpoints", clientURL, "--cacert", ca, "--dial-timeout", "2s", "--command-timeout", "3s"}, extra...)
	}
	// Real commands an intruder would type.
	out, err := as(etcdctl, ctl("get", "--prefix", "/resmon/")...)
	refused("etcdctl get without a certificate", out, err)
	out, err = as(etcdctl, ctl("put", evil, evilValue)...)
	refused("etcdctl put without a certificate", out, err)
	out, err = as(etcdctl, "--endpoints", "http://"+host, "--dial-timeout", "2s", "--command-timeout", "3s", "put", evil, evilValue)
	refused("etcdctl put in plaintext", out, err)
	out, err = as("/usr/bin/curl", "-sS", "--max-time", "3", "--cacert", ca, "-X", "POST", "-d", `{"key":"L3Jlc21vbi8="}`, "https://"+host+"/v3/kv/range")
	refused("curl to the client port without a certificate", out, err)
	out, err = as("/usr/bin/curl", "-sS", "--max-time", "3", "-f", "-X", "POST", "-d", `{"key":"L3Jlc21vbi8="}`, "http://"+host+"/v3/kv/range")
	refused("curl to the client port in plaintext", out, err)
	// etcd's HTTP endpoints, on a socket in the root-only data directory.
	sock := filepath.Join(dir, "data", "etcd", "etcd-http.sock")
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("etcd's HTTP socket: %v %v", fi, err)
	}
	out, err = as("/usr/bin/curl", "-sS", "--max-time", "3", "--unix-socket", sock, "--cacert", ca, "--cert", viewer[0], "--key", viewer[1], "https://127.0.0.1/metrics")
	refused("curl to etcd's HTTP socket, even with a viewer's certificate", out, err)
	out, err = as(etcdctl, ctl("--cert", viewer[0], "--key", viewer[1], "put", evil, evilValue)...)
	refused("etcdctl put with a viewer's certificate", out, err, "permission denied")
	out, err = as(etcdctl, ctl("--cert", viewer[0], "--key", viewer[1], "auth", "disable")...)
	refused("etcdctl auth disable with a viewer's certificate", out, err, "permission denied")
	out, err = as(etcdctl, ctl("--cert", viewer[0], "--key", viewer[1], "user", "add", "intruder", "--new-user-password", "x")...)
	refused("etcdctl user add with a viewer's certificate", out, err, "permission denied")
	out, err = as(clusterCLI, "-config", cfgPath, "-timeout", "5s", "groups")
	refused("cluster -config as the user (the operator's key is not readable)", out, err)
	for _, f := range files {
		out, err = as("/bin/cat", f)
		refused("cat "+f, out, err, "Permission denied")
	}
	// With the directories opened (a careless chmod), the files' own 0600 still refuses.
	for _, d := range []string{string(pkiDir), filepath.Join(string(pkiDir), "nodes"), filepath.Join(string(pkiDir), "operators")} {
		os.Chmod(d, 0o711)
	}
	for _, f := range files {
		out, err = as("/bin/cat", f)
		refused("cat "+f+" (directories opened)", out, err, "Permission denied")
	}
	for _, d := range []string{string(pkiDir), filepath.Join(string(pkiDir), "nodes"), filepath.Join(string(pkiDir), "operators")} {
		os.Chmod(d, pki.DirMode)
	}

	// The same and the peer port, from a program of the user's own.
	spec, _ := json.Marshal(unprivSpec{Client: clientURL, Peer: peerURL, CA: ca, Viewer: viewer, Files: files, Prefix: prefix})
	c := exec.Command(self, "-test.run=^TestUnprivilegedChild$", "-test.v")
	c.Dir, c.Env = home, []string{unprivEnv + "=" + string(spec), "HOME=" + home}
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	childOut, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, childOut)
	}
	var n int
	sc := bufio.NewScanner(strings.NewReader(string(childOut)))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "ATTEMPT ")
		if !ok {
			continue
		}
		var a attempt
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		n++
		if a.Err == "" {
			t.Errorf("child: %s: not refused", a.What)
		} else {
			t.Logf("child: %s: refused: %s", a.What, a.Err)
		}
	}
	if n < 6+len(files) {
		t.Fatalf("the child reported %d attempts:\n%s", n, childOut)
	}

	// Nothing changed: the database as it was, auth on, no new user.
	if after := snapshot(t, ctx, admin, prefix); after != before {
		t.Fatalf("the cluster database changed:\nbefore %s\nafter  %s", before, after)
	}
	if on, err := quorum.AuthEnabled(ctx, admin); err != nil || !on {
		t.Fatalf("etcd auth: %v %v", on, err)
	}
	root := quorumtest.RootClient(t, pkiDir, clientURL)
	users, err := root.UserList(ctx)
	if err != nil || strings.Contains(fmt.Sprint(users.Users), "intruder") {
		t.Fatalf("users: %v %v", users, err)
	}
}

// TestUnprivilegedChild runs as the unprivileged user, started by
// TestUnprivilegedUserGetsNothing, and reports each attempt.
func TestUnprivilegedChild(t *testing.T) {
	raw := os.Getenv(unprivEnv)
	if raw == "" {
		t.Skip("runs only as the child of TestUnprivilegedUserGetsNothing")
	}
	var s unprivSpec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	report := func(what string, err error) {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		b, _ := json.Marshal(attempt{What: what, Err: msg})
		fmt.Printf("ATTEMPT %s\n", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pki.LoadPool(pki.Dir(filepath.Dir(s.CA)))
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := pki.LoadKeyPair(s.Viewer[0], s.Viewer[1])
	if err != nil {
		t.Fatal(err)
	}
	// Client port, no certificate: the handshake fails.
	_, err = quorum.Connect(ctx, quorum.ClientConfig{Endpoints: []string{s.Client}, CAFile: s.CA, DialTimeout: 2 * time.Second})
	report("client port without a certificate", err)
	// Client port, a viewer's certificate: reads, but writes nothing.
	cli, err := quorum.Connect(ctx, quorum.ClientConfig{Endpoints: []string{s.Client}, CAFile: s.CA, CertFile: s.Viewer[0], KeyFile: s.Viewer[1], Prefix: s.Prefix, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("a viewer cannot even read: %v", err)
	}
	_, err = cli.Put(ctx, s.Prefix+"db/types/evil", "{}")
	report("put with a viewer's certificate", err)
	_, err = cli.Txn(ctx).Then(clientv3.OpDelete(s.Prefix, clientv3.WithPrefix())).Commit()
	report("delete the cluster with a viewer's certificate", err)
	_, err = cli.AuthDisable(ctx)
	report("auth disable with a viewer's certificate", err)
	cli.Close()
	// Peer port: neither without a certificate nor with an operator's.
	peer, _ := url.Parse(s.Peer)
	for _, c := range []struct {
		what  string
		certs []tls.Certificate
	}{{"peer port without a certificate", nil}, {"peer port with a viewer's certificate", []tls.Certificate{viewer}}} {
		report(c.what, peerVersion(peer.Host, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: c.certs}))
	}
	// The PKI's files.
	for _, f := range s.Files {
		_, err := os.ReadFile(f)
		report("read "+f, err)
	}
}

// peerVersion asks a member's peer port for its version; nil only when it
// answers 200.
func peerVersion(addr string, tc *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /version HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// newLocalUser creates a local user for the test and removes it after.
func newLocalUser(t *testing.T) (uid, gid int) {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "resmon-t" + hex.EncodeToString(b)
	if out, err := exec.Command("useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if uid == 0 {
		t.Fatal("the test user is root")
	}
	return uid, gid
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode, uid, gid int) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dst, mode)
	if uid >= 0 {
		os.Chown(dst, uid, gid)
	}
	return dst
}

func mustRun(t *testing.T, c *exec.Cmd, want string) {
	t.Helper()
	out, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("%s: %v\n%s", strings.Join(c.Args, " "), err, out)
	}
}

// snapshot is the cluster's database keys with their versions.
func snapshot(t *testing.T, ctx context.Context, cli *clientv3.Client, prefix string) string {
	t.Helper()
	r, err := cli.Get(ctx, prefix+"db/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, kv := range r.Kvs {
		fmt.Fprintf(&b, "%s@%d ", kv.Key, kv.ModRevision)
	}
	return b.String()
}

func lastLine(out string, err error) string {
	s := strings.TrimSpace(out)
	if s == "" {
		return err.Error()
	}
	line := s[strings.LastIndex(s, "\n")+1:]
	if len(line) > 160 {
		line = line[:160] + "…"
	}
	return line
}
