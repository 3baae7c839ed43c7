// Package floatingip_test runs the floating-IP walk-through of README.md
// in this folder with the real binaries, as root: three clusterd
// processes in network namespaces, IPaddr2 from Debian's resource-agents,
// the web server as a Generic Application, and a client in a fourth
// namespace.
package floatingip_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/testutil/netns"
	"github.com/resmon/resmon/testutil/testbin"
)

type walk struct {
	t      *testing.T
	dir    string // plays the repository root
	prefix string // the namespaces' prefix, instead of "fip"
	readme string
	mu     sync.Mutex
	logs   map[string]*bytes.Buffer
	proc   map[string]*exec.Cmd
	done   map[string]chan struct{}
}

// step checks that line is a command of README.md, as written, and
// returns it with this run's namespace prefix.
func (w *walk) step(line string) string {
	w.t.Helper()
	if !strings.Contains(w.readme, "\n    "+line+"\n") {
		w.t.Fatalf("README.md has no command line %q", line)
	}
	return strings.ReplaceAll(line, "fip-", w.prefix+"-")
}

// run runs one of the README's command lines with sh from the repository
// root.
func (w *walk) run(line string) (string, error) {
	cmd := exec.Command("sh", "-c", w.step(line))
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "FIP_PREFIX="+w.prefix)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (w *walk) must(line string) string {
	w.t.Helper()
	out, err := w.run(line)
	if err != nil {
		w.t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return out
}

// start runs one of the README's clusterd lines in the background.
func (w *walk) start(node, line string) {
	w.t.Helper()
	cmd := exec.Command("sh", "-c", "exec "+w.step(line))
	cmd.Dir = w.dir
	buf := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &w.mu, w: buf}, &lockedWriter{mu: &w.mu, w: buf}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	w.logs[node], w.proc[node], w.done[node] = buf, cmd, done
	w.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		if w.t.Failed() {
			w.t.Logf("--- %s ---\n%s", node, w.log(node))
		}
	})
}

func (w *walk) log(node string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.logs[node].String()
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

func (w *walk) waitFor(what string, d time.Duration, ok func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// group reads the group web as the client's namespace sees it.
func (w *walk) group() (state, owner string) {
	cmd := exec.Command("ip", "netns", "exec", w.prefix+"-client", "bin/cluster", "-config", "examples/floating-ip/node3.toml", "-o", "json", "group", "web")
	cmd.Dir = w.dir
	out, err := cmd.Output()
	if err != nil {
		return "", ""
	}
	var g struct{ State, Owner string }
	json.Unmarshal(out, &g)
	return g.State, g.Owner
}

func TestFloatingIPWalkthrough(t *testing.T) {
	netns.Need(t)
	if _, err := os.Stat("/usr/lib/ocf/resource.d/heartbeat/IPaddr2"); err != nil {
		t.Skip("Debian's resource-agents is not installed (apt-get install resource-agents)")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (apt-get install curl)")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "fip-") // short: admin sockets live under it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &walk{t: t, dir: dir, prefix: fmt.Sprintf("fip%d", os.Getpid()), readme: string(readme),
		logs: map[string]*bytes.Buffer{}, proc: map[string]*exec.Cmd{}, done: map[string]chan struct{}{}}

	// 1. Install and build: the packages are checked above; the binaries
	// the README builds go into dir/bin.
	w.step("apt-get install -y resource-agents iproute2 curl")
	w.step("go build -o bin/ ./cmd/... ./types/ocf/cmd/ocf ./examples/genapp/cmd/genapp ./examples/onyone/cmd/...")
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	for _, pkg := range []string{"cmd/clusterd", "cmd/cluster", "types/ocf/cmd/ocf", "examples/genapp/cmd/genapp", "examples/onyone/cmd/onyone-server"} {
		if err := os.Symlink(testbin.Build(t, "github.com/resmon/resmon/"+pkg), filepath.Join(dir, "bin", filepath.Base(pkg))); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "examples/floating-ip"), 0o755)
	for _, f := range []string{"node1.toml", "node2.toml", "node3.toml", "netns.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "examples/floating-ip", f), b, 0o700); err != nil {
			t.Fatal(err)
		}
	}

	// 2. The network; the namespaces go when the test ends.
	t.Cleanup(func() { w.run("examples/floating-ip/netns.sh down") })
	w.must("examples/floating-ip/netns.sh up")

	// 3. The certificates.
	if out := w.must("bin/cluster -config examples/floating-ip/node1.toml pki init"); !strings.Contains(out, "Issued node node3") {
		t.Fatalf("pki init:\n%s", out)
	}

	// 4. The three nodes; web comes online on node1, with the address.
	for _, n := range []string{"node1", "node2", "node3"} {
		w.start(n, fmt.Sprintf("ip netns exec fip-%s bin/clusterd -config examples/floating-ip/%s.toml", n, n))
	}
	w.waitFor("web online on node1", 90*time.Second, func() bool { s, o := w.group(); return s == "Online" && o == "node1" })
	if out := w.must("ip netns exec fip-client bin/cluster -config examples/floating-ip/node3.toml groups"); !strings.Contains(out, "web") || !strings.Contains(out, "node1") {
		t.Fatalf("groups:\n%s", out)
	}
	if out := w.must("ip -n fip-node1 -br addr show eth0"); !strings.Contains(out, "10.213.0.100/24") {
		t.Fatalf("node1's eth0 lacks the address:\n%s", out)
	}

	// 5. The settings, and the page through the floating address.
	w.must(`bin/cluster -config examples/floating-ip/node1.toml reg set 'SOFTWARE\Microsoft\onyone' Greeting Bonjour`)
	w.must(`bin/cluster -config examples/floating-ip/node1.toml reg set 'SOFTWARE\Microsoft\onyone2' Color blue`)
	ask := func(line, want string) {
		t.Helper()
		var out string
		w.waitFor("the page to say "+want, 60*time.Second, func() bool { out, _ = w.run(line); return out == want+"\n" })
	}
	ask("ip netns exec fip-client curl -s http://10.213.0.100:8080/", "Bonjour (color blue) from node1")

	// 6. Kill the owner. The README's pkill would match a copy of this
	// test running beside it: kill this run's own node1 instead.
	w.step("pkill -9 -f 'clusterd -config examples/floating-ip/node1.toml'")
	w.proc["node1"].Process.Signal(syscall.SIGKILL)
	<-w.done["node1"]
	// node2 is the next preferred owner; node3 takes the group instead
	// when node2 lost its own lease while etcd chose a new leader (node1's
	// member died too), as the README says.
	out := w.must("ip netns exec fip-client curl -s --connect-timeout 1 --retry 30 --retry-all-errors --retry-delay 1 http://10.213.0.100:8080/")
	owner := strings.TrimPrefix(strings.TrimSpace(out), "Bonjour (color blue) from ")
	if owner != "node2" && owner != "node3" {
		t.Fatalf("after the kill the page says %q", out)
	}
	if owner != "node2" {
		t.Logf("node3 took the group after the kill:\n%s", w.log("node2"))
	}
	if out := w.must("ip -n fip-node1 -br addr show eth0"); strings.Contains(out, "10.213.0.100") {
		t.Fatalf("the address is still on node1:\n%s", out)
	}
	if out := w.must("ip -n fip-node2 -br addr show eth0"); strings.Contains(out, "10.213.0.100/24") != (owner == "node2") {
		t.Fatalf("node2's eth0 with %s the owner:\n%s", owner, out)
	}
	w.waitFor(owner+"'s log of the restore", 10*time.Second, func() bool {
		l := w.log(owner)
		return strings.Contains(l, "restored checkpoint into the local registry") && strings.Contains(l, `path=SOFTWARE\Microsoft\onyone2`)
	})

	// 7. Move the group to node3. (A node of a loaded machine may have
	// stepped back to renew its lease: the move waits for node3 to be up,
	// as an operator would look before moving.)
	w.waitFor("node3 up", 60*time.Second, func() bool {
		cmd := exec.Command("ip", "netns", "exec", w.prefix+"-client", "bin/cluster", "-config", "examples/floating-ip/node3.toml", "nodes")
		cmd.Dir = w.dir
		out, err := cmd.Output()
		return err == nil && strings.Contains(string(out), "node3")
	})
	if out := w.must("ip netns exec fip-client bin/cluster -config examples/floating-ip/node3.toml group web move -node node3"); !strings.Contains(out, "node3") && owner == "node2" {
		t.Fatalf("move:\n%s", out)
	}
	ask("ip netns exec fip-client curl -s http://10.213.0.100:8080/", "Bonjour (color blue) from node3")
	if out := w.must("ip -n fip-node2 -br addr show eth0"); strings.Contains(out, "10.213.0.100") {
		t.Fatalf("the address is still on node2:\n%s", out)
	}

	// 8. A control code through the owner.
	if out := w.must(`ip netns exec fip-client bin/cluster -config examples/floating-ip/node3.toml resource "Cluster IP" control 0x01200009`); out != "monitor (OCF_CHECK_LEVEL 0): success (0)\n" {
		t.Fatalf("control:\n%s", out)
	}

	// Clean up, as the README says (the nodes are killed by the test's
	// cleanup; the directories are the test's own).
	w.step("examples/floating-ip/netns.sh down")
	w.step("rm -rf examples/floating-ip/data examples/floating-ip/pki")
}
