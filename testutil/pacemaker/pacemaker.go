// Package pacemaker builds a three-node Pacemaker + Corosync cluster from
// Debian's packages on this one machine, for reports that measure it beside
// ours. Each node is a network namespace on a bridge (testutil/netns) and a
// mount namespace of its own, held open by a sleeping process: per-node
// directories are bind-mounted over /etc/corosync, /var/lib/corosync,
// /var/lib/pacemaker, /var/log/pacemaker and /run, and /dev/shm is a
// private tmpfs. libqb's IPC goes through abstract unix sockets, which
// belong to the network namespace, and shared memory under /dev/shm, so
// every command for a node (its daemons and the command-line tools) runs
// in both of its namespaces through nsenter. Nothing runs under systemd:
// corosync -f and pacemakerd are children of the test.
//
// The settings, chosen to measure failover the way ours is measured and
// nothing else:
//
//   - corosync 3 with knet over the three namespace addresses, aes256 and
//     sha256 with a shared authkey; token either Corosync's default (3000 ms,
//     which token_coefficient raises to 3650 ms with three nodes; consensus
//     1.2 × token) or the Options' token with token_coefficient 0, so the
//     effective token is the one asked for;
//   - stonith-enabled=false: there is no fencing device here, and ours is
//     measured without fencing too. Pacemaker then takes a lost node as
//     cleanly down and starts its resources elsewhere at once;
//   - no-quorum-policy left at its default, stop: the two survivors of one
//     crash keep quorum (2 of 3 votes), so the policy never acts;
//   - resource-stickiness=100 (rsc_defaults): a node that comes back does
//     not pull the resource back, so each sample starts from a quiet
//     cluster, as ours does;
//   - one ocf:pacemaker:Dummy resource with a monitor every 1 s, the
//     shortest whole-second interval: a node's loss is detected by Corosync
//     membership, not by the monitor, so the interval does not enter the
//     failover time, but it keeps Pacemaker's own resource checking no
//     slower than ours.
//
// A killed node is started again with its /run emptied, as a reboot would
// (it is a tmpfs on a real machine): Dummy keeps its "running" state
// there, and a node that came back still claiming it would make Pacemaker
// recover the resource as active on two nodes.
package pacemaker

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/testutil/netns"
)

// Resource is the name of the Dummy resource.
const Resource = "dummy"

// Poll is how often Wait polls the cluster's status.
const Poll = 50 * time.Millisecond

// Nodes are the cluster's node names, in order.
var Nodes = []string{"node1", "node2", "node3"}

var tools = []string{"corosync", "corosync-cmapctl", "pacemakerd", "crm_resource", "crm_mon", "crm_attribute", "cibadmin", "nsenter", "unshare"}

const dummyAgent = "/usr/lib/ocf/resource.d/pacemaker/Dummy"

// Need skips t unless a cluster can be built here: root, the packages,
// network namespaces.
func Need(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the Pacemaker cluster needs root (network and mount namespaces, bind mounts, its daemons)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install pacemaker corosync pacemaker-cli-utils resource-agents)", tool)
		}
	}
	if _, err := os.Stat(dummyAgent); err != nil {
		t.Skipf("%s is missing (apt-get install pacemaker)", dummyAgent)
	}
	if _, err := user.Lookup("hacluster"); err != nil {
		t.Skip("user hacluster is missing (apt-get install pacemaker)")
	}
	netns.Need(t)
}

// Options shape the cluster.
type Options struct {
	// Token is Corosync's token timeout; 0 leaves Corosync's default.
	Token time.Duration
}

// Cluster is three nodes of Corosync and Pacemaker.
type Cluster struct {
	t     testing.TB
	dir   string
	lan   *netns.LAN
	nodes map[string]*node
}

type node struct {
	name   string
	dir    string
	host   *netns.Host
	holder *exec.Cmd
	procs  []*proc // corosync, pacemakerd of the running stack
}

type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// New builds the cluster and waits until its three nodes are online and
// the Dummy resource is started. Everything is stopped and removed when
// the test ends.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	Need(t)
	dir, err := os.MkdirTemp("", "resmon-pacemaker-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, dir: dir, nodes: map[string]*node{}}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c.lan = netns.New(t, "pm")
	// Stop the stacks before the namespaces go (cleanups run last first).
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.stop(n)
		}
		for _, n := range c.nodes {
			if h := n.holder; h != nil && h.Process != nil {
				h.Process.Kill()
				h.Wait()
			}
		}
		if t.Failed() {
			for name := range c.nodes {
				for _, f := range []string{"corosync.log", "pacemakerd.log", "var-log-pacemaker/pacemaker.log"} {
					b, _ := os.ReadFile(filepath.Join(dir, name, f))
					if len(b) > 8000 {
						b = b[len(b)-8000:]
					}
					t.Logf("--- %s %s (tail) ---\n%s", name, f, b)
				}
			}
		}
	})
	key := make([]byte, 256)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	conf := corosyncConf(o)
	for i, name := range Nodes {
		n := &node{name: name, dir: filepath.Join(dir, name)}
		n.host = c.lan.Add(name, nodeIP(i))
		c.nodes[name] = n
		c.layout(n, conf, key)
		c.hold(n)
	}
	for _, name := range Nodes {
		c.Start(name)
	}
	c.WaitSettled(Nodes[0], 3, 120*time.Second)
	for _, args := range [][]string{
		{"crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--update", "false"},
		{"crm_attribute", "--type", "rsc_defaults", "--name", "resource-stickiness", "--update", "100"},
		{"cibadmin", "--create", "-o", "resources", "--xml-text", `<primitive id="` + Resource + `" class="ocf" provider="pacemaker" type="Dummy">` +
			`<operations><op id="` + Resource + `-monitor-1s" name="monitor" interval="1s" timeout="20s"/></operations></primitive>`},
	} {
		if out, err := c.Run(Nodes[0], args...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	c.WaitSettled(Nodes[0], 3, 60*time.Second)
	return c
}

func nodeIP(i int) string { return fmt.Sprintf("10.88.0.%d", 11+i) }

func corosyncConf(o Options) string {
	var b strings.Builder
	b.WriteString("totem {\n  version: 2\n  cluster_name: resmonbench\n  transport: knet\n  crypto_cipher: aes256\n  crypto_hash: sha256\n")
	if o.Token > 0 {
		fmt.Fprintf(&b, "  token: %d\n  token_coefficient: 0\n", o.Token.Milliseconds())
	}
	b.WriteString("}\nlogging {\n  to_stderr: yes\n  to_logfile: no\n  to_syslog: no\n  timestamp: hires\n}\nquorum {\n  provider: corosync_votequorum\n}\nnodelist {\n")
	for i, name := range Nodes {
		fmt.Fprintf(&b, "  node {\n    name: %s\n    nodeid: %d\n    ring0_addr: %s\n  }\n", name, i+1, nodeIP(i))
	}
	b.WriteString("}\n")
	return b.String()
}

// layout makes a node's directories, owned as the packages own theirs.
func (c *Cluster) layout(n *node, conf string, key []byte) {
	c.t.Helper()
	uid, gid := ids(c.t)
	for _, d := range []string{"etc-corosync", "var-lib-corosync", "var-lib-pacemaker/cib", "var-lib-pacemaker/pengine",
		"var-lib-pacemaker/blackbox", "var-lib-pacemaker/cores", "var-log-pacemaker", "run"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			c.t.Fatal(err)
		}
	}
	for _, d := range []string{"var-lib-pacemaker", "var-lib-pacemaker/cib", "var-lib-pacemaker/pengine", "var-lib-pacemaker/blackbox",
		"var-lib-pacemaker/cores", "var-log-pacemaker"} {
		if err := os.Chown(filepath.Join(n.dir, d), uid, gid); err != nil {
			c.t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(n.dir, "var-lib-pacemaker/cib"), 0o750)
	if err := os.WriteFile(filepath.Join(n.dir, "etc-corosync/corosync.conf"), []byte(conf), 0o644); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.dir, "etc-corosync/authkey"), key, 0o400); err != nil {
		c.t.Fatal(err)
	}
}

func ids(t testing.TB) (int, int) {
	u, err := user.Lookup("hacluster")
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroup("haclient")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	return uid, gid
}

// holdScript runs in the node's network namespace and a new mount
// namespace: the per-node mounts, then a sleep that keeps both open.
const holdScript = `set -e
d=$1
mount --bind "$d/etc-corosync" /etc/corosync
mount --bind "$d/var-lib-corosync" /var/lib/corosync
mount --bind "$d/var-lib-pacemaker" /var/lib/pacemaker
mount --bind "$d/var-log-pacemaker" /var/log/pacemaker
mount --bind "$d/run" /run
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
echo ready
exec sleep infinity`

func (c *Cluster) hold(n *node) {
	c.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.host.NS, "unshare", "-m", "--propagation", "private", "sh", "-c", holdScript, "sh", n.dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Skipf("cannot make a mount namespace: %v", err)
	}
	n.holder = cmd
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			n.holder = nil
			c.t.Skipf("cannot make %s's mount namespace: %s", n.name, strings.TrimSpace(stderr.String()))
		}
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s's namespace holder did not start", n.name)
	}
}

// Command is args run in node's network and mount namespaces.
func (c *Cluster) Command(name string, args ...string) *exec.Cmd {
	n := c.nodes[name]
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(n.holder.Process.Pid), "-m", "-n", "--"}, args...)...)
}

// Run runs args on node and returns their combined output.
func (c *Cluster) Run(name string, args ...string) (string, error) {
	out, err := c.Command(name, args...).CombinedOutput()
	return string(out), err
}

// Start starts node's Corosync, waits until it answers, then starts
// Pacemaker; it does not wait for the node to join.
func (c *Cluster) Start(name string) {
	c.t.Helper()
	n := c.nodes[name]
	if len(n.procs) > 0 {
		c.t.Fatalf("%s is already running", name)
	}
	// A fresh /run, as after a reboot.
	run := filepath.Join(n.dir, "run")
	ents, _ := os.ReadDir(run)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(run, e.Name()))
	}
	for _, d := range []string{"crm", "pacemaker", "resource-agents"} {
		os.MkdirAll(filepath.Join(run, d), 0o755)
	}
	n.procs = append(n.procs, c.spawn(n, "corosync.log", nil, "corosync", "-f"))
	c.waitFor(name+"'s corosync answering", 30*time.Second, func() bool {
		_, err := c.Run(name, "corosync-cmapctl", "totem.cluster_name")
		return err == nil
	})
	n.procs = append(n.procs, c.spawn(n, "pacemakerd.log", []string{"PCMK_logfile=/var/log/pacemaker/pacemaker.log"}, "pacemakerd"))
}

func (c *Cluster) spawn(n *node, logName string, env []string, args ...string) *proc {
	c.t.Helper()
	f, err := os.OpenFile(filepath.Join(n.dir, logName), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	cmd := c.Command(n.name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p
}

// stack are the pids of node's stack: every process in its network
// namespace but the holder.
func (n *node) stack() ([]int, error) {
	out, err := exec.Command("ip", "netns", "pids", n.host.NS).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", n.host.NS, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != n.holder.Process.Pid {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killStack sends SIGKILL to every process of node's stack, again until
// none is left (at most timeout), and reaps the ones the test started.
func (n *node) killStack(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids, err := n.stack()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: processes %v survive SIGKILL", n.name, pids)
		}
		time.Sleep(Poll)
	}
	for _, p := range n.procs {
		<-p.exited
	}
	n.procs = nil
	return nil
}

// Kill sends SIGKILL to every process of node's stack — Corosync and
// every Pacemaker daemon — and returns the moment of the first kill; it
// waits until none is left.
func (c *Cluster) Kill(name string) time.Time {
	c.t.Helper()
	n := c.nodes[name]
	pids, err := n.stack()
	if err != nil {
		c.t.Fatal(err)
	}
	t0 := time.Now()
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if err := n.killStack(30 * time.Second); err != nil {
		c.t.Fatal(err)
	}
	return t0
}

// stop ends node's stack, if it runs.
func (c *Cluster) stop(n *node) {
	if n.holder == nil || n.holder.Process == nil {
		return
	}
	if err := n.killStack(10 * time.Second); err != nil {
		c.t.Log(err)
	}
}

// Status is what crm_mon shows from one node.
type Status struct {
	DC       string   // "" without one
	Online   []string // nodes online
	Started  []string // nodes the resource is started on
	Settling bool     // a transition is pending or running somewhere
}

type monXML struct {
	Summary struct {
		DC struct {
			Present bool   `xml:"present,attr"`
			Name    string `xml:"name,attr"`
		} `xml:"current_dc"`
	} `xml:"summary"`
	Nodes []struct {
		Name   string `xml:"name,attr"`
		Online bool   `xml:"online,attr"`
	} `xml:"nodes>node"`
	Resources []struct {
		ID     string `xml:"id,attr"`
		Role   string `xml:"role,attr"`
		Failed bool   `xml:"failed,attr"`
		Nodes  []struct {
			Name string `xml:"name,attr"`
		} `xml:"node"`
	} `xml:"resources>resource"`
}

// Status asks node's crm_mon.
func (c *Cluster) Status(via string) (Status, error) {
	out, err := c.Command(via, "crm_mon", "-1", "--output-as=xml").Output()
	if err != nil {
		return Status{}, err
	}
	var m monXML
	if err := xml.Unmarshal(out, &m); err != nil {
		return Status{}, err
	}
	var st Status
	if m.Summary.DC.Present {
		st.DC = m.Summary.DC.Name
	}
	for _, n := range m.Nodes {
		if n.Online {
			st.Online = append(st.Online, n.Name)
		}
	}
	for _, r := range m.Resources {
		if r.ID == Resource && r.Role == "Started" && !r.Failed {
			for _, n := range r.Nodes {
				st.Started = append(st.Started, n.Name)
			}
		}
	}
	return st, nil
}

// Locate is where node's crm_resource --locate says the resource runs.
func (c *Cluster) Locate(via string) []string {
	out, err := c.Run(via, "crm_resource", "--locate", "-r", Resource)
	if err != nil {
		return nil
	}
	var on []string
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, "is running on: "); ok {
			on = append(on, strings.Fields(rest)[0])
		}
	}
	return on
}

// WaitStarted polls via's crm_resource --locate every Poll until the
// resource runs on exactly one node for which ok is true, and returns that
// node and when the poll that saw it returned.
func (c *Cluster) WaitStarted(via string, timeout time.Duration, ok func(node string) bool) (string, time.Time) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		on := c.Locate(via)
		if len(on) == 1 && ok(on[0]) {
			return on[0], time.Now()
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the resource never started where wanted within %v (last seen on %v)", timeout, on)
		}
		time.Sleep(Poll)
	}
}

// WaitSettled waits until via sees n nodes online, a DC, the resource
// started on one node, and no transition pending (crm_resource --wait).
func (c *Cluster) WaitSettled(via string, n int, timeout time.Duration) Status {
	c.t.Helper()
	var st Status
	var err error
	deadline := time.Now().Add(timeout)
	for {
		st, err = c.Status(via)
		if err == nil && st.DC != "" && len(st.Online) == n {
			if out, werr := c.Run(via, "crm_resource", "--wait", "--timeout", "60s"); werr == nil {
				if st, err = c.Status(via); err == nil && st.DC != "" && len(st.Online) == n && len(st.Started) <= 1 {
					return st
				}
			} else {
				err = fmt.Errorf("crm_resource --wait: %v: %s", werr, out)
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the cluster did not settle with %d nodes online within %v (last seen from %s: %+v, %v)", n, timeout, via, st, err)
		}
		time.Sleep(Poll)
	}
}

// Totem is Corosync's running token and consensus timeouts, read on node.
func (c *Cluster) Totem(via string) (token, consensus time.Duration) {
	c.t.Helper()
	get := func(key string) time.Duration {
		out, err := c.Run(via, "corosync-cmapctl", "-g", key)
		if err != nil {
			c.t.Fatalf("corosync-cmapctl %s: %v\n%s", key, err, out)
		}
		f := strings.Fields(out)
		v, _ := strconv.Atoi(f[len(f)-1])
		return time.Duration(v) * time.Millisecond
	}
	return get("runtime.config.totem.token"), get("runtime.config.totem.consensus")
}

// Versions names the installed Pacemaker and Corosync: "Pacemaker 2.1.5,
// Corosync 3.1.7".
func (c *Cluster) Versions() string {
	pm, _ := exec.Command("pacemakerd", "--version").Output()
	cs, _ := exec.Command("corosync", "-v").Output()
	first, _, _ := strings.Cut(string(pm), "\n")
	v := "Corosync"
	if _, rest, ok := strings.Cut(string(cs), "version '"); ok {
		num, _, _ := strings.Cut(rest, "'")
		v += " " + num
	}
	return strings.TrimSpace(first) + ", " + v
}

func (c *Cluster) waitFor(what string, timeout time.Duration, ok func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(Poll)
	}
}
