// Package threenodes_test runs the Onyone walk-through of README.md in this
// folder with the real binaries: three clusterd processes sharing a
// node-majority etcd, the cluster CLI, and the onyone server and client.
package threenodes_test

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
)

// freePort is a free loopback port, never one handed out before.
func freePort(t *testing.T) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(quorumtest.FreeURL(t), "http://"))
	return port
}

type walk struct {
	t    *testing.T
	dir  string // plays the repository root
	cfg  string // examples/three-nodes/node1.toml, relative to dir
	port string // the onyone server's port
	mu   sync.Mutex
	logs map[string]*bytes.Buffer
	proc map[string]*exec.Cmd
}

// run runs one of the walk-through's commands from the repository root.
func (w *walk) run(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(w.dir, args[0]), args[1:]...)
	cmd.Dir = w.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (w *walk) must(args ...string) string {
	w.t.Helper()
	out, err := w.run(args...)
	if err != nil {
		w.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (w *walk) cluster(args ...string) string {
	w.t.Helper()
	return w.must(append([]string{"bin/cluster", "-config", w.cfg}, args...)...)
}

func (w *walk) waitFor(what string, d time.Duration, ok func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// group reads the group as `cluster group onyone -o json` shows it.
func (w *walk) group() (state, owner string) {
	out, err := w.run("bin/cluster", "-config", w.cfg, "-o", "json", "group", "onyone")
	if err != nil {
		return "", ""
	}
	var g struct {
		State string `json:"state"`
		Owner string `json:"owner"`
	}
	json.Unmarshal([]byte(out), &g)
	return g.State, g.Owner
}

func (w *walk) start(node string) {
	cmd := exec.Command(filepath.Join(w.dir, "bin/clusterd"), "-config", "examples/three-nodes/"+node+".toml")
	cmd.Dir = w.dir
	buf := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &w.mu, w: buf}, &lockedWriter{mu: &w.mu, w: buf}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.logs[node], w.proc[node] = buf, cmd
	w.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if w.t.Failed() {
			w.mu.Lock()
			w.t.Logf("--- %s ---\n%s", node, buf.String())
			w.mu.Unlock()
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestOnyoneWalkthrough(t *testing.T) {
	dir, err := os.MkdirTemp("", "onyone-") // short: admin sockets live under it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &walk{t: t, dir: dir, cfg: "examples/three-nodes/node1.toml", logs: map[string]*bytes.Buffer{}, proc: map[string]*exec.Cmd{}}

	// 1. Build: the binaries the README builds, into dir/bin.
	for _, pkg := range []string{"cmd/clusterd", "cmd/cluster", "examples/genapp/cmd/genapp", "examples/onyone/cmd/onyone-server", "examples/onyone/cmd/onyone-client"} {
		src := testbin.Build(t, "github.com/resmon/resmon/"+pkg)
		os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
		if err := os.Symlink(src, filepath.Join(dir, "bin", filepath.Base(pkg))); err != nil {
			t.Fatal(err)
		}
	}
	// The README's configurations, on free ports.
	var pairs []string
	for _, p := range []string{"2379", "2380", "2479", "2480", "2579", "2580", "9464", "9465", "9466", "7000"} {
		pairs = append(pairs, "127.0.0.1:"+p, "127.0.0.1:"+freePort(t))
	}
	repl := strings.NewReplacer(pairs...)
	w.port = strings.TrimPrefix(repl.Replace("127.0.0.1:7000"), "127.0.0.1:")
	os.MkdirAll(filepath.Join(dir, "examples/three-nodes"), 0o755)
	for _, n := range []string{"node1", "node2", "node3"} {
		b, err := os.ReadFile(n + ".toml")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "examples/three-nodes", n+".toml"), []byte(repl.Replace(string(b))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	server := "127.0.0.1:" + w.port

	// 2. The cluster's certificates: the CA, the three nodes, the operator.
	out := w.cluster("pki", "init")
	for _, want := range []string{"Issued node node1", "Issued node node2", "Issued node node3", "Issued operator admin (admin)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pki init lacks %q:\n%s", want, out)
		}
	}

	// 3. Start the three nodes; the group comes online on node1.
	for _, n := range []string{"node1", "node2", "node3"} {
		w.start(n)
	}
	w.waitFor("onyone online on node1", 60*time.Second, func() bool { s, o := w.group(); return s == "Online" && o == "node1" })
	if out := w.cluster("groups"); !strings.Contains(out, "onyone") || !strings.Contains(out, "node1") {
		t.Fatalf("groups:\n%s", out)
	}

	// The members speak TLS to each other and to their clients: etcd lists
	// https peer and client URLs, and refuses a client without a certificate.
	pkiDir := filepath.Join(dir, "examples/three-nodes/pki")
	etcdctl := func(args ...string) (string, error) {
		full := append([]string{"tool", "etcdctl", "--endpoints", "https://" + repl.Replace("127.0.0.1:2379"),
			"--cacert", filepath.Join(pkiDir, "ca.pem"), "--cert", filepath.Join(pkiDir, "operators/admin.pem"),
			"--key", filepath.Join(pkiDir, "operators/admin-key.pem")}, args...)
		out, err := exec.Command("go", full...).CombinedOutput()
		return string(out), err
	}
	members, err := etcdctl("member", "list")
	if err != nil || strings.Count(members, ", https://127.0.0.1:") != 6 || strings.Contains(members, "http://") {
		t.Fatalf("etcd members are not all on TLS: %v\n%s", err, members)
	}
	if out, err := exec.Command("go", "tool", "etcdctl", "--endpoints", "https://"+repl.Replace("127.0.0.1:2379"),
		"--cacert", filepath.Join(pkiDir, "ca.pem"), "--dial-timeout", "2s", "--command-timeout", "3s", "get", "/resmon/").CombinedOutput(); err == nil {
		t.Fatalf("etcd answered a client without a certificate:\n%s", out)
	}

	// 4. Checkpoint the settings with the cluster.exe syntax.
	out = w.cluster("resource", "Network Name DATA", `/addcheckpoints:SOFTWARE\Microsoft\onyone`)
	if !strings.Contains(out, `Adding registry checkpoint 'SOFTWARE\Microsoft\onyone' for resource 'Network Name DATA'...`) {
		t.Fatalf("addcheckpoints:\n%s", out)
	}
	w.cluster("resource", "Network Name DATA", `/addcheckpoints:SOFTWARE\Microsoft\onyone2`)
	out = w.cluster(".", "resource", "/checkpoints")
	if !strings.Contains(out, `'SOFTWARE\Microsoft\onyone'`) || !strings.Contains(out, `'SOFTWARE\Microsoft\onyone2'`) {
		t.Fatalf("checkpoint listing:\n%s", out)
	}
	t.Logf("cluster . resource /checkpoints:\n%s", out)

	// 5. Settings on the owner; the server answers with them.
	w.cluster("reg", "set", "-node", "node1", `SOFTWARE\Microsoft\onyone`, "Greeting", "Bonjour")
	w.cluster("reg", "set", "-node", "node1", `SOFTWARE\Microsoft\onyone2`, "Color", "blue")
	ask := func(want string) {
		t.Helper()
		var last string
		w.waitFor("the server to answer "+want, 30*time.Second, func() bool {
			last, _ = w.run("bin/onyone-client", "-server", server)
			return strings.TrimSpace(last) == want
		})
	}
	ask("Bonjour (color blue) from node1")
	// The checkpointed settings are in etcd, readable with etcdctl.
	w.waitFor("the settings in etcd", 30*time.Second, func() bool {
		out, err := etcdctl("get", "--prefix", "/resmon/onyone-demo/checkpoints/")
		return err == nil && strings.Contains(out, "Bonjour") && strings.Contains(out, ".CPT")
	})

	// 6. Move the group: the settings follow.
	out = w.cluster("group", "onyone", "move", "-node", "node2")
	if !strings.Contains(out, "node2") {
		t.Fatalf("move:\n%s", out)
	}
	ask("Bonjour (color blue) from node2")
	if out := w.cluster("reg", "get", "-node", "node2", `SOFTWARE\Microsoft\onyone`, "Greeting"); !strings.Contains(out, "Bonjour") {
		t.Fatalf("reg get on node2:\n%s", out)
	}

	// 7. Kill the owner: node3, next in preferred order, takes over with the settings.
	w.proc["node2"].Process.Signal(syscall.SIGKILL)
	w.proc["node2"].Wait()
	w.waitFor("onyone online on node3", 60*time.Second, func() bool { s, o := w.group(); return s == "Online" && o == "node3" })
	ask("Bonjour (color blue) from node3")
}
