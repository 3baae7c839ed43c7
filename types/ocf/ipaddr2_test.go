package ocf_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/testutil/netns"
	"github.com/resmon/resmon/testutil/testbin"
	"github.com/resmon/resmon/tools/benchrec"
)

// ocf:heartbeat:IPaddr2 on three real clusterd nodes, each in a network
// namespace of its own on one LAN, with a client in a fourth. Every node
// runs the same small service on port 7070, answering with its name, so
// the client sees which node holds the floating address. The address is
// on exactly one node; across a kill -9 of the owner and a planned move
// the client keeps reaching the service, and the address is gone from the
// old node. The client keeps its ARP entries for an hour, so only the new
// owner's gratuitous ARP can tell it where the address went.

const (
	vip      = "10.213.0.100"
	ipTTL    = 3 * time.Second // as examples/three-nodes: an etcd leader election (500 ms default) fits in the lease (config.Warnings)
	ipGroup  = "ip"
	ipClustr = "ipa"
)

const ipNodeTOML = `
[cluster]
name = %q
pki_dir = %q

[node]
name = %q
data_dir = %q

[quorum]
mode = "embedded"
lease_ttl = %q

[quorum.embedded]
client_url = "https://%s:2379"
peer_url = "https://%s:2380"
cluster_token = "ipa"
[quorum.embedded.peers]
node1 = "https://10.213.0.1:2380"
node2 = "https://10.213.0.2:2380"
node3 = "https://10.213.0.3:2380"

[[resource_type]]
name = "OCF Agent"
kind = "plugin"
path = %q

[[group]]
name = "ip"
preferred_owners = ["node1", "node2", "node3"]
persistent_state = true
failover_threshold = 10

[[resource]]
name = "Cluster IP"
type = "OCF Agent"
group = "ip"
looks_alive_poll_interval = "1s"
is_alive_poll_interval = "10s"
[resource.private]
Agent = "IPaddr2"
ip = %q
cidr_netmask = 24
nic = "eth0"
`

type ipCluster struct {
	t       *testing.T
	lan     *netns.LAN
	hosts   map[string]*netns.Host
	client  *netns.Host
	cfg     map[string]string
	pki     string
	bin     map[string]string
	mu      sync.Mutex
	procs   map[string]*exec.Cmd
	logs    map[string]*syncBuffer
	exited  map[string]chan struct{}
	probe   []probeAt
	probeMu sync.Mutex
}

type probeAt struct {
	at     time.Time
	answer string // a node's name, or "" for no answer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newIPCluster(t *testing.T) *ipCluster {
	needAgents(t)
	lan := netns.New(t, "ipa")
	c := &ipCluster{t: t, lan: lan, hosts: map[string]*netns.Host{}, cfg: map[string]string{}, bin: map[string]string{},
		procs: map[string]*exec.Cmd{}, logs: map[string]*syncBuffer{}, exited: map[string]chan struct{}{}}
	for i, n := range []string{"node1", "node2", "node3"} {
		c.hosts[n] = lan.Add(n, fmt.Sprintf("10.213.0.%d", i+1))
	}
	c.client = lan.Add("client", "10.213.0.4")
	// Neighbour entries stay reachable for an hour: only a gratuitous ARP
	// moves the client to the address's new owner within the test.
	if out, err := c.client.Command("sysctl", "-qw", "net.ipv4.neigh.eth0.base_reachable_time_ms=3600000").CombinedOutput(); err != nil {
		t.Fatalf("sysctl: %v %s", err, out)
	}
	for _, pkg := range []string{"cmd/clusterd", "cmd/cluster", "types/ocf/cmd/ocf", "types/ocf/testdata/ipprobe"} {
		c.bin[filepath.Base(pkg)] = testbin.Build(t, "github.com/resmon/resmon/"+pkg)
	}
	dir, err := os.MkdirTemp("", "ipa-") // short: sockets live under it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c.pki = filepath.Join(dir, "pki")
	for n, h := range c.hosts {
		c.cfg[n] = filepath.Join(dir, n+".toml")
		text := fmt.Sprintf(ipNodeTOML, ipClustr, c.pki, n, filepath.Join(dir, n), ipTTL, h.IP, h.IP, c.bin["ocf"], vip)
		if err := os.WriteFile(c.cfg[n], []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		// The service the client reaches through the floating address.
		c.background(n+" service", h.Command(c.bin["ipprobe"], "serve", "-listen", ":7070", "-name", n), nil)
	}
	if out, err := exec.Command(c.bin["cluster"], "-config", c.cfg["node1"], "pki", "init").CombinedOutput(); err != nil {
		t.Fatalf("pki init: %v\n%s", err, out)
	}
	return c
}

// background runs cmd until the test ends; stdout lines go to line.
func (c *ipCluster) background(what string, cmd *exec.Cmd, line func(string)) *exec.Cmd {
	c.t.Helper()
	buf := &syncBuffer{}
	cmd.Stderr = buf
	var stdout *bufio.Scanner
	if line != nil {
		r, err := cmd.StdoutPipe()
		if err != nil {
			c.t.Fatal(err)
		}
		stdout = bufio.NewScanner(r)
	} else {
		cmd.Stdout = buf
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	done := make(chan struct{})
	go func() {
		if stdout != nil {
			for stdout.Scan() {
				line(stdout.Text())
			}
		}
		cmd.Wait()
		close(done)
	}()
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if c.t.Failed() && buf.String() != "" {
			c.t.Logf("--- %s ---\n%s", what, buf.String())
		}
	})
	return cmd
}

// start runs clusterd for node n inside its namespace.
func (c *ipCluster) start(n string) {
	c.t.Helper()
	logs := &syncBuffer{}
	cmd := c.hosts[n].Command(c.bin["clusterd"], "-config", c.cfg[n])
	cmd.Stdout, cmd.Stderr = logs, logs
	// The agents' state (IPaddr2's send_arp pid files) apart from any
	// other run of this test on the machine.
	cmd.Env = append(os.Environ(), "HA_RSCTMP="+filepath.Join(filepath.Dir(c.cfg[n]), n, "rsctmp"))
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.mu.Lock()
	c.procs[n], c.logs[n], c.exited[n] = cmd, logs, exited
	c.mu.Unlock()
	c.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if c.t.Failed() {
			c.t.Logf("--- clusterd %s ---\n%s", n, logs.String())
		}
	})
}

// kill9 kills node n's clusterd (`ip netns exec` execs it: the pid is
// clusterd's).
func (c *ipCluster) kill9(n string) {
	c.t.Helper()
	c.mu.Lock()
	cmd, exited := c.procs[n], c.exited[n]
	c.mu.Unlock()
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// cli runs the cluster CLI from the client's namespace with node via's
// configuration (the etcd member it talks to).
func (c *ipCluster) cli(via string, args ...string) (string, error) {
	out, err := c.client.Command(c.bin["cluster"], append([]string{"-config", c.cfg[via]}, args...)...).CombinedOutput()
	return string(out), err
}

type groupView struct {
	State string `json:"state"`
	Owner string `json:"owner"`
	Token int64  `json:"fencing_token"`
}

func (c *ipCluster) group(via string) groupView {
	var g groupView
	if out, err := c.cli(via, "-o", "json", "group", ipGroup); err == nil {
		json.Unmarshal([]byte(out), &g)
	}
	return g
}

func (c *ipCluster) waitFor(what string, d time.Duration, ok func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// holders are the nodes whose eth0 has the floating address.
func (c *ipCluster) holders() []string {
	var out []string
	for n, h := range c.hosts {
		if h.Has(vip) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (c *ipCluster) startProbe() {
	c.background("probe", c.client.Command(c.bin["ipprobe"], "probe", "-addr", vip+":7070", "-every", "20ms", "-timeout", "200ms"), func(line string) {
		ns, rest, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseInt(ns, 10, 64)
		ans := rest
		if strings.HasPrefix(rest, "ERR") {
			ans = ""
		}
		c.probeMu.Lock()
		c.probe = append(c.probe, probeAt{time.Unix(0, n), ans})
		c.probeMu.Unlock()
	})
}

// answered reports the first time at or after since that the client got
// an answer from node, or zero.
func (c *ipCluster) answered(node string, since time.Time) time.Time {
	c.probeMu.Lock()
	defer c.probeMu.Unlock()
	for _, p := range c.probe {
		if p.answer == node && !p.at.Before(since) {
			return p.at
		}
	}
	return time.Time{}
}

// lastAnswer is the last answer of any node before t.
func (c *ipCluster) lastAnswer(before time.Time) time.Time {
	c.probeMu.Lock()
	defer c.probeMu.Unlock()
	var last time.Time
	for _, p := range c.probe {
		if p.answer != "" && p.at.Before(before) {
			last = p.at
		}
	}
	return last
}

// settled checks that the address is on owner alone, that the client
// reaches owner's service through it, and that the client's ARP cache
// names owner's eth0.
func (c *ipCluster) settled(owner string, since time.Time) time.Time {
	c.t.Helper()
	c.waitFor("the address on "+owner+" alone", 30*time.Second, func() bool { return slices.Equal(c.holders(), []string{owner}) })
	var seen time.Time
	c.waitFor("the client answered by "+owner, 30*time.Second, func() bool { seen = c.answered(owner, since); return !seen.IsZero() })
	if got, want := c.client.Neighbour(vip), c.hosts[owner].MAC; !strings.EqualFold(got, want) {
		c.t.Fatalf("the client's ARP cache has %s for %s, want %s's %s", got, vip, owner, want)
	}
	return seen
}

func TestIPaddr2ThreeNodes(t *testing.T) {
	c := newIPCluster(t)
	for _, n := range []string{"node1", "node2", "node3"} {
		c.start(n)
	}
	c.waitFor("group ip online on node1", 90*time.Second, func() bool { g := c.group("node3"); return g.State == "Online" && g.Owner == "node1" })
	c.startProbe()
	c.settled("node1", time.Time{})

	// kill -9 of the owner: the next node takes the address, announces it,
	// and the client follows; node1's plugin took the address down as its
	// host died.
	next, crash := c.crash("node1")
	other := map[string]string{"node2": "node3", "node3": "node2"}[next]

	// A planned move: the owner takes the address down, the other node
	// brings it up.
	c.waitFor(other+" up", 60*time.Second, func() bool { out, err := c.cli(other, "nodes"); return err == nil && strings.Contains(out, other) })
	t1 := time.Now()
	if out, err := c.cli(other, "group", ipGroup, "move", "-node", other); err != nil {
		t.Fatalf("move: %v\n%s", err, out)
	}
	seen := c.settled(other, t1)
	move := seen.Sub(t1)
	t.Logf("planned move %s → %s: the client answered by %s after %v (no answer for %v)", next, other, other, move, seen.Sub(c.lastAnswer(t1)))
	if c.hosts[next].Has(vip) || c.hosts["node1"].Has(vip) {
		t.Fatalf("the address is still on an old owner: %v", c.holders())
	}

	// The floor of a crash failover, measured from the same namespace in
	// the same run: a bare lease of the nodes' TTL abandoned between
	// keepalives. For the report, more crashes: the killed node comes
	// back, and the owner of the moment is killed.
	crashes, floors := []failover{crash}, []time.Duration{c.leaseFloor(other)}
	down, owner := "node1", other
	for i := 0; os.Getenv("RESMON_BENCH") != "" && i < 5; i++ {
		c.start(down)
		c.waitFor(down+" up", 60*time.Second, func() bool { out, err := c.cli(owner, "nodes"); return err == nil && strings.Contains(out, down) })
		next, d := c.crash(owner)
		crashes = append(crashes, d)
		floors = append(floors, c.leaseFloor(next))
		down, owner = owner, next
	}
	var clients, acquired []time.Duration
	for _, f := range crashes {
		clients, acquired = append(clients, f.client), append(acquired, f.acquired)
	}
	ours, acq, floor := median(clients), median(acquired), median(floors)
	t.Logf("kill -9 of the owner, p50 of %d: the client answered after %v; the group was acquired after %v (%.2f×); a bare %v lease expires in %v (%.2f×)\nclient %v\nacquired %v\nbare lease %v",
		len(crashes), ours, acq, float64(ours)/float64(acq), ipTTL, floor, float64(ours)/float64(floor), clients, acquired, floors)
	sec := "Floating IP (ocf:heartbeat:IPaddr2, three namespaced nodes)"
	benchrec.Latency(t, sec, "kill -9 of the owner → the client answered by the new owner, p50, vs the group's crash failover", ours, acq,
		"the same crashes: kill → the new owner acquires the group (its etcd member dies with the killed node)", len(crashes))
	benchrec.Latency(t, sec, "kill -9 of the owner → the client answered by the new owner, p50, vs a bare lease", ours, floor,
		fmt.Sprintf("a bare etcd lease of the nodes' TTL (%v) abandoned between keepalives on the healthy cluster", ipTTL), len(crashes))
	benchrec.Latency(t, sec, "planned move → the client answered by the new owner", move, 0, "", 1)
	benchrec.Durations(t, "ours", "IP failover", clients)
	benchrec.Durations(t, "raw lease expiry", "IP failover", floors)
}

// crash kills the owner's clusterd and waits until one other node holds
// the address alone and the client reaches it there through its ARP
// cache; it returns that node and how long the client waited from the
// kill. The next preferred owner usually takes the group; the owner's
// etcd member dies with it, and if etcd takes long enough to elect a new
// leader that the next node cannot renew its own lease in time, that node
// steps back and the one after takes the group: either is right.
func (c *ipCluster) crash(owner string) (string, failover) {
	c.t.Helper()
	t0 := time.Now()
	c.kill9(owner)
	var next string
	c.waitFor("the address on another node", 60*time.Second, func() bool {
		h := c.holders()
		if len(h) == 1 && h[0] != owner {
			next = h[0]
		}
		return next != ""
	})
	seen := c.settled(next, t0)
	c.waitFor(next+" online in the status", 30*time.Second, func() bool { g := c.group(next); return g.State == "Online" && g.Owner == next })
	f := failover{client: seen.Sub(t0), acquired: c.acquiredAt(next, t0).Sub(t0)}
	c.t.Logf("kill -9 of %s → %s acquired the group after %v, the client answered by %s after %v (no answer for %v)",
		owner, next, f.acquired, next, f.client, seen.Sub(c.lastAnswer(t0)))
	return next, f
}

// failover is one crash failover as seen from outside: from the kill to
// the new owner's acquisition of the group (its log's timestamp), and to
// the client's first answer through the address.
type failover struct{ acquired, client time.Duration }

// acquiredAt is the time node's log gives for its last acquisition of the
// group after t0.
func (c *ipCluster) acquiredAt(node string, t0 time.Time) time.Time {
	c.t.Helper()
	c.mu.Lock()
	logs := c.logs[node].String()
	c.mu.Unlock()
	var at time.Time
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "group acquired") || !strings.Contains(line, "group="+ipGroup) {
			continue
		}
		ts, _, _ := strings.Cut(line, " ")
		if tm, err := time.Parse(time.RFC3339Nano, ts); err == nil && tm.After(t0) {
			at = tm
		}
	}
	if at.IsZero() {
		c.t.Fatalf("%s's log has no acquisition of group %s", node, ipGroup)
	}
	return at
}

// leaseFloor measures one bare lease's expiry through node via's etcd
// member, from the client's namespace.
func (c *ipCluster) leaseFloor(via string) time.Duration {
	c.t.Helper()
	margin := quorum.DefaultMargin(ipTTL)
	out, err := c.client.Command(c.bin["ipprobe"], "leasefloor", "-endpoint", "https://"+c.hosts[via].IP+":2379", "-cluster", ipClustr,
		"-ttl", strconv.Itoa(int(ipTTL/time.Second)), "-interval", ((ipTTL - margin) / 3).String(),
		"-cacert", filepath.Join(c.pki, "ca.pem"), "-cert", filepath.Join(c.pki, "operators", "admin.pem"),
		"-key", filepath.Join(c.pki, "operators", "admin-key.pem")).CombinedOutput()
	if err != nil {
		c.t.Fatalf("lease floor: %v\n%s", err, out)
	}
	ns, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return time.Duration(ns)
}
