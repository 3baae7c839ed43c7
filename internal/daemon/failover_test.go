package daemon_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/testutil/testbin"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The multi-process failover tests: three real clusterd processes on
// 127.0.0.1 share one etcd started by the test, and host a go-plugin test
// type (testutil/testtype) built from the repo. The type counts its Onlines
// in a checkpointed registry value, so a count that goes on across nodes
// proves every restore, and it appends each Online, Offline and Terminate
// with its fencing token to a witness file the test reads.

const mpNodeConfig = `
[cluster]
name = "fo"
[node]
name = "%s"
data_dir = "%s"
%s
[log]
level = "debug"
[quorum]
mode = "external"
%s
[quorum.external]
endpoints = ["%s"]
ca_file = %q
cert_file = %q
key_file = %q
`

const mpKey = `SOFTWARE\resmon-test\app`

// mpSpec is the cluster database the first node bootstraps: one group
// "app" with one resource "app" of the go-plugin test type.
func mpSpec(typeTOML, witness, group, private, props string) string {
	return fmt.Sprintf(`
[[resource_type]]
name = "testtype"
%s

[[group]]
name = "app"
preferred_owners = ["node1", "node2", "node3"]
persistent_state = true
%s

[[resource]]
name = "app"
type = "testtype"
group = "app"
registry_checkpoints = [%q]
pending_timeout = "3s"
looks_alive_poll_interval = "100ms"
is_alive_poll_interval = "300ms"
restart_delay = "50ms"
%s
[resource.private]
CounterKey = %q
WitnessFile = %q
%s
`, typeTOML, group, mpKey, props, mpKey, witness, private)
}

type mpCluster struct {
	t       testing.TB
	bin     string
	dir     string
	etcd    string
	tls     [3]string // the CA, certificate and key every node reaches etcd with
	store   *quorum.Store
	raw     *clientv3.Client // etcd itself, for the floors measured beside the store
	member  *quorumtest.Member
	spec    string
	witness string
	nodes   map[string]*mpNode
	// quorumTOML overrides [quorum] settings (lease_ttl…) for every node.
	quorumTOML string
	// nodeTOML adds [node] settings for one node.
	nodeTOML map[string]string
	// etcdFor is the etcd endpoint one node uses instead of etcd (a proxy
	// the test can cut).
	etcdFor map[string]string
}

type mpNode struct {
	name   string
	cfg    string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
}

func newMPCluster(t testing.TB, group, private, props string) *mpCluster {
	plugin := testbin.Build(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-plugin")
	return newMPClusterOf(t, fmt.Sprintf("kind = \"plugin\"\npath = %q", plugin), "", group, private, props)
}

// newMPClusterOf is newMPCluster with the test type given as TOML lines
// (kind, path, capabilities) and extra [quorum] lines for every node.
func newMPClusterOf(t testing.TB, typeTOML, quorumTOML, group, private, props string) *mpCluster {
	return newMPClusterWith(t, quorumtest.Options{}, typeTOML, quorumTOML, group, private, props)
}

// newMPClusterWith is newMPClusterOf on an etcd started with o; with
// o.Plaintext the nodes reach it over plaintext (insecure_plaintext).
func newMPClusterWith(t testing.TB, o quorumtest.Options, typeTOML, quorumTOML, group, private, props string) *mpCluster {
	member, cli := quorumtest.StartWith(t, o)
	if o.Plaintext {
		if quorumTOML == "" {
			quorumTOML = `lease_ttl = "1s"`
		}
		quorumTOML += "\ninsecure_plaintext = true"
	}
	store, err := quorum.NewStore(cli, "fo", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, cert, key := member.AdminFiles()
	c := &mpCluster{t: t, bin: clusterdBinary(t), dir: dir, etcd: member.Endpoints()[0], store: store, raw: cli, member: member, tls: [3]string{ca, cert, key},
		witness: filepath.Join(dir, "witness"), nodes: map[string]*mpNode{}, quorumTOML: quorumTOML}
	if strings.Contains(typeTOML, `"wasm"`) { // the sandbox may write the witness
		typeTOML += fmt.Sprintf("\n[resource_type.capabilities]\ndirs = [%q]", dir)
	}
	c.spec = mpSpec(typeTOML, c.witness, group, private, props)
	return c
}

// start runs clusterd for node name (only node1 carries the database spec,
// so it is the one that bootstraps) and waits until it is up.
func (c *mpCluster) start(name string) *mpNode {
	c.t.Helper()
	n := c.startNoWait(name)
	c.waitUp(name, true)
	return n
}

// startNoWait runs clusterd for node name without waiting for it.
func (c *mpCluster) startNoWait(name string) *mpNode {
	t := c.t
	t.Helper()
	n := c.nodes[name]
	if n == nil {
		// Short data dirs: the plugin host's socket path must fit 107 bytes.
		data, err := os.MkdirTemp("", "fo-"+name+"-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(data) })
		q := c.quorumTOML
		if q == "" {
			q = `lease_ttl = "1s"`
		}
		ep := c.etcd
		if e := c.etcdFor[name]; e != "" {
			ep = e
		}
		cfg := fmt.Sprintf(mpNodeConfig, name, data, c.nodeTOML[name], q, ep, c.tls[0], c.tls[1], c.tls[2])
		if name == "node1" {
			cfg += c.spec
		}
		n = &mpNode{name: name, cfg: filepath.Join(c.dir, name+".toml")}
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes[name] = n
	}
	n.logs = &syncBuffer{}
	n.cmd = exec.Command(c.bin, "-config", n.cfg)
	n.cmd.Stderr = n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan error, 1)
	cmd, exited := n.cmd, n.exited
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", name, n.logs.String())
		}
	})
	return n
}

func (c *mpCluster) waitUp(name string, up bool) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("node %s up=%v", name, up), 30*time.Second, func() bool {
		nodes, err := c.store.Nodes(context.Background())
		if err != nil {
			return false
		}
		found := false
		for _, n := range nodes {
			found = found || n.Node == name
		}
		return found == up
	})
}

func (c *mpCluster) kill(name string) {
	c.t.Helper()
	n := c.nodes[name]
	if err := n.cmd.Process.Kill(); err != nil {
		c.t.Fatal(err)
	}
	<-n.exited
}

func (c *mpCluster) signal(name string, sig syscall.Signal) {
	c.t.Helper()
	if err := c.nodes[name].cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

func (c *mpCluster) status() model.GroupStatus {
	st, _ := c.store.GroupStatus(context.Background(), "app")
	return st
}

func (c *mpCluster) waitStatus(what string, ok func(model.GroupStatus) bool) model.GroupStatus {
	c.t.Helper()
	waitFor(c.t, "group app "+what+fmt.Sprintf(" (last: %+v)", c.status()), 30*time.Second, func() bool { return ok(c.status()) })
	return c.status()
}

func onlineOn(node string) func(model.GroupStatus) bool {
	return func(st model.GroupStatus) bool { return st.State == "Online" && st.Owner == node }
}

// count reads the checkpointed counter from etcd: the value the cluster has
// been told is stored.
func (c *mpCluster) count() uint64 {
	c.t.Helper()
	ctx := context.Background()
	r, err := c.store.ResourceByName(ctx, "app")
	if err != nil {
		return 0
	}
	b, _, err := c.store.GetCheckpoint(ctx, r.Value.ID, model.RegistryCheckpoint, 1)
	if err != nil {
		return 0
	}
	d, err := checkpoint.Decode(b, nil)
	if err != nil {
		c.t.Fatalf("stored checkpoint does not decode: %v", err)
	}
	for _, v := range d.Tree.Values {
		if v.Name == "Count" && v.Type == sdk.DWord {
			return v.Num
		}
	}
	return 0
}

func (c *mpCluster) waitCount(want uint64) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("checkpointed count %d", want), 30*time.Second, func() bool { return c.count() == want })
}

type witnessLine struct {
	entry string
	token int64
	pid   int
}

func (c *mpCluster) witnessLines() []witnessLine {
	f, err := os.Open(c.witness)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []witnessLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 { // online lines add the counter they found
			continue
		}
		tok, _ := strconv.ParseInt(fs[1], 10, 64)
		pid, _ := strconv.Atoi(fs[2])
		out = append(out, witnessLine{fs[0], tok, pid})
	}
	return out
}

// witnessedAt is when the first line of entry under token was written
// (zero if none).
func (c *mpCluster) witnessedAt(entry string, token int64) time.Time {
	b, _ := os.ReadFile(c.witness)
	for _, l := range strings.Split(string(b), "\n") {
		fs := strings.Fields(l)
		if len(fs) >= 4 && fs[0] == entry && fs[1] == strconv.FormatInt(token, 10) {
			ns, _ := strconv.ParseInt(fs[3], 10, 64)
			return time.Unix(0, ns)
		}
	}
	return time.Time{}
}

func (c *mpCluster) witnessed(entry string, token int64) bool {
	for _, l := range c.witnessLines() {
		if l.entry == entry && l.token == token {
			return true
		}
	}
	return false
}

func (c *mpCluster) events(kind string) []quorum.Event {
	evs, _ := c.store.Events(context.Background(), time.Time{}, 0)
	var out []quorum.Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (c *mpCluster) startAll() {
	for _, n := range []string{"node1", "node2", "node3"} {
		c.start(n)
	}
}

// TestFailoverKill9RestoresCheckpoints: kill -9 of the owner → the group
// comes online on the next preferred owner with the checkpointed registry
// values restored (the counter goes on from the stored value), and an
// operator move without a target moves it to the next node (rule 11, all
// three triggers but the restart one, which has a test of its own).
func TestFailoverKill9RestoresCheckpoints(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.startAll()
	first := c.waitStatus("online on node1", onlineOn("node1"))
	c.waitCount(1)

	c.kill("node1")
	st := c.waitStatus("online on node2", onlineOn("node2"))
	second := st
	if st.Token <= first.Token {
		t.Errorf("token %d after the failover, want > %d", st.Token, first.Token)
	}
	if len(st.Failovers) != 1 {
		t.Errorf("failovers %v, want the crash counted once", st.Failovers)
	}
	c.waitCount(2) // restored 1 before Online, then counted its own Online
	if len(c.events("group.failover")) == 0 {
		t.Error("no group.failover event in etcd")
	}

	req, err := c.store.File(context.Background(), model.Request{Group: "app", Action: model.RequestMove})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.store.AwaitReply(context.Background(), req)
	if err != nil || rep.Code != model.ResultDone || rep.Node != "node2" {
		t.Fatalf("reply to the move: %+v, %v", rep, err)
	}
	st = c.waitStatus("online on node3 after a move", onlineOn("node3"))
	if len(st.Failovers) != 1 {
		t.Errorf("after the move: %+v", st)
	}
	c.waitCount(3)
	if !c.witnessed("offline", second.Token) {
		t.Errorf("node2's Offline is not in the witness: %v", c.witnessLines())
	}
}

// TestFailoverSIGSTOPFencesTheOldOwner: the owner is stopped past its lease;
// its plugin process terminates the resource at the self-fencing deadline,
// before the group comes online elsewhere; when the old owner resumes it
// finds itself fenced and brings nothing back.
func TestFailoverSIGSTOPFencesTheOldOwner(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.startAll()
	first := c.waitStatus("online on node1", onlineOn("node1"))
	c.signal("node1", syscall.SIGSTOP)
	second := c.waitStatus("online on node2", onlineOn("node2"))
	// Stopped, clusterd can do nothing; its plugin process terminated the
	// resource by itself at the self-fencing deadline, before node2
	// brought it online.
	waitFor(t, "node1's plugin to terminate its stale resource", 30*time.Second, func() bool { return c.witnessed("terminate", first.Token) })
	if term, on := c.witnessedAt("terminate", first.Token), c.witnessedAt("online", second.Token); !term.Before(on) {
		t.Fatalf("the stopped node's resource was terminated %s after node2 brought it online", term.Sub(on))
	}
	c.signal("node1", syscall.SIGCONT)
	waitFor(t, "node1 to report the fence", 30*time.Second, func() bool {
		return strings.Contains(c.nodes["node1"].logs.String(), "self-fenced")
	})
	c.waitUp("node1", true) // rejoined with a new lease
	if st := c.status(); st.Owner != "node2" || st.Token != second.Token || st.State != "Online" {
		t.Fatalf("after node1 came back: %+v", st)
	}
	onlines := 0
	for _, l := range c.witnessLines() {
		if l.entry == "online" && l.token == first.Token {
			onlines++
		}
	}
	if onlines != 1 {
		t.Errorf("the fenced tenure went online %d times: %v", onlines, c.witnessLines())
	}
}

// TestFailoverOfflineHangIsTerminated: a resource that hangs in Offline
// beyond PendingTimeout is terminated and the move proceeds (rule 12).
func TestFailoverOfflineHangIsTerminated(t *testing.T) {
	c := newMPCluster(t, "", `HangIn = "Offline"`, "")
	c.startAll()
	first := c.waitStatus("online on node1", onlineOn("node1"))
	if _, err := c.store.File(context.Background(), model.Request{Group: "app", Action: model.RequestMove, Node: "node2"}); err != nil {
		t.Fatal(err)
	}
	c.waitStatus("online on node2", onlineOn("node2"))
	if !c.witnessed("terminate", first.Token) {
		t.Fatalf("Terminate was not called on node1: %v", c.witnessLines())
	}
	c.waitCount(2)
	if len(c.events("resource.offline_failed")) == 0 {
		t.Error("no resource.offline_failed event")
	}
}

// TestFailoverRestartThenThreshold: a resource failing its health checks is
// restarted RestartThreshold times, then (RestartAction 2) its group fails
// over; past FailoverThreshold failovers the group stays Failed with an
// event (rules 11 and 15).
func TestFailoverRestartThenThreshold(t *testing.T) {
	c := newMPCluster(t, "failover_threshold = 1", "LooksAlive = false\nIsAlive = false", "restart_threshold = 1")
	c.startAll()
	st := c.waitStatus("failed for good", func(s model.GroupStatus) bool {
		return s.State == "Failed" && strings.Contains(s.Message, "failover threshold")
	})
	if st.Owner == "node1" {
		t.Errorf("the group never left node1: %+v", st)
	}
	if len(c.events("group.failover_threshold")) != 1 {
		t.Errorf("threshold events: %v", c.events("group.failover_threshold"))
	}
	if len(c.events("group.failover")) < 2 {
		t.Errorf("failover events: %v", c.events("group.failover"))
	}
	c.waitUp("node1", true)
	if now := c.status(); now.Owner != st.Owner || now.Token != st.Token {
		t.Fatalf("the group moved past its threshold: %+v", now)
	}
}

// TestFailoverDrainFailbackPersistentState: SIGTERM drains the owner (its
// group moves gracefully and is not counted as a failover); when the
// preferred owner returns the group fails back (AutoFailbackType allow); a
// group that was online comes back online when a stopped cluster starts
// again (PersistentState).
func TestFailoverDrainFailbackPersistentState(t *testing.T) {
	c := newMPCluster(t, `auto_failback = "allow"`, "", "")
	c.start("node1")
	c.start("node2")
	c.waitStatus("online on node1", onlineOn("node1"))

	c.signal("node1", syscall.SIGTERM)
	st := c.waitStatus("online on node2", onlineOn("node2"))
	if err := <-c.nodes["node1"].exited; err != nil {
		t.Fatalf("clusterd exit after SIGTERM: %v", err)
	}
	if len(st.Failovers) != 0 {
		t.Errorf("a drain counted as a failover: %v", st.Failovers)
	}
	c.waitCount(2)

	c.start("node1")
	c.waitStatus("failed back to node1", onlineOn("node1"))
	if len(c.events("group.failback")) == 0 {
		t.Error("no group.failback event")
	}
	c.waitCount(3)

	// Stop the whole cluster: node2 first, then node1, which has nowhere to
	// move the group and takes it offline.
	for _, n := range []string{"node2", "node1"} {
		c.signal(n, syscall.SIGTERM)
		if err := <-c.nodes[n].exited; err != nil {
			t.Fatalf("%s exit: %v", n, err)
		}
	}
	if st := c.status(); st.State != "Offline" || st.Desired != model.DesiredOnline {
		t.Fatalf("after the cluster stopped: %+v", st)
	}
	c.start("node3")
	c.waitStatus("back online on node3", onlineOn("node3"))
	c.waitCount(4)
}

// TestKilledPluginHostIsRestartedInANewProcess: kill -9 of the go-plugin
// process that hosts a resource is one failure: the restart opens the
// resource again in a new plugin process on the same node, under the same
// tenure, even with RestartAction 1 (restart only) on a node alone. (The
// monitor once kept calling the dead instance until the restart threshold
// ran out, so the resource failed for good or its group failed over.)
func TestKilledPluginHostIsRestartedInANewProcess(t *testing.T) {
	c := newMPCluster(t, "", "", "restart_action = 1")
	c.start("node1")
	first := c.waitStatus("online on node1", onlineOn("node1"))
	c.waitCount(1)
	var pid int
	for _, l := range c.witnessLines() {
		if l.entry == "online" {
			pid = l.pid
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing plugin process %d: %v", pid, err)
	}
	waitFor(t, "an Online in a new plugin process", 30*time.Second, func() bool {
		for _, l := range c.witnessLines() {
			if l.entry == "online" && l.pid != pid && l.token == first.Token {
				return true
			}
		}
		return false
	})
	st := c.waitStatus("online on node1 again", onlineOn("node1"))
	if st.Token != first.Token {
		t.Errorf("token %d after the restart, want the same tenure %d", st.Token, first.Token)
	}
	c.waitCount(2)
}
