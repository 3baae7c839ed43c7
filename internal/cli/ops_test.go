package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/internal/cli"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
)

// Day-2 operations against three real clusterd processes: node1 runs the
// embedded etcd, node2 and node3 join it. Group "onyone" prefers node1,
// group "web" node3; both hold one resource of the WASM test type, whose
// LooksAlive reads a fault from the node-local registry.

const opsTOML = embeddedNodeTOML + `
[[group]]
name = "onyone"
preferred_owners = ["node1", "node2"]
persistent_state = true

[[group]]
name = "web"
preferred_owners = ["node3", "node2", "node1"]
persistent_state = true

[[resource]]
name = "app"
type = "testtype"
group = "onyone"
looks_alive_poll_interval = "100ms"
is_alive_poll_interval = "300ms"
restart_delay = "50ms"

[[resource]]
name = "web app"
type = "testtype"
group = "web"
looks_alive_poll_interval = "100ms"
is_alive_poll_interval = "300ms"
restart_delay = "50ms"
restart_threshold = 5
[resource.private]
FaultKey = 'SOFTWARE\web'
`

// opsCluster is the three nodes.
type opsCluster struct {
	*actionsNode
	procs map[string]*exec.Cmd
	cfgs  map[string]string
	mu    sync.Mutex
}

// startOpsCluster starts node1, then node2 and node3, and waits until both
// groups are online on their first preferred owners.
func startOpsCluster(t *testing.T) *opsCluster {
	t.Helper()
	wasm := testbin.BuildWASM(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-wasm")
	dir := shortDir(t)
	admin := "unix:" + filepath.Join(dir, "admin.sock")
	etcd := quorumtest.FreeTLSURL(t)
	cfg := filepath.Join(dir, "cluster.toml")
	text := fmt.Sprintf(opsTOML, filepath.Join(dir, "data"), admin, "", etcd, quorumtest.FreeTLSURL(t), "wasm", wasm)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	exited, logs := runClusterd(t, cfg)
	an := &actionsNode{node: &node{t: t, bin: clusterBinary(t), cfg: cfg, dir: dir, admin: admin}, etcd: etcd, exited: exited, logs: logs}
	an.waitOnline(etcd, exited, logs)
	c := &opsCluster{actionsNode: an, procs: map[string]*exec.Cmd{}, cfgs: map[string]string{}}
	for _, name := range []string{"node2", "node3"} {
		c.configure(name)
		c.start(name)
	}
	// The start-up grace may have passed before node3 came up: put web
	// where the test wants it.
	c.waitFor("web online", func() bool {
		st, err := c.store.GroupStatus(context.Background(), "web")
		return err == nil && st.State == "Online"
	})
	if st, _ := c.store.GroupStatus(context.Background(), "web"); st.Owner != "node3" {
		c.ok("group", "web", "move", "-node", "node3")
	}
	c.waitGroup("web", "node3", "Online")
	return c
}

// configure writes a node's configuration, with a certificate from node1's PKI.
func (c *opsCluster) configure(name string) {
	t := c.t
	if out, errOut, code := c.cluster("pki", "issue", "node", name); code != 0 {
		t.Fatalf("pki issue node %s: exit %d\n%s%s", name, code, out, errOut)
	}
	dir := shortDir(t)
	d := pki.Dir(filepath.Join(c.dir, "data", "pki"))
	cert, key := d.NodeFiles(name)
	text := fmt.Sprintf(externalTOML, name, filepath.Join(dir, "data"), "unix:"+filepath.Join(dir, "admin.sock"), c.etcd, d.CAFile(), cert, key)
	c.cfgs[name] = filepath.Join(dir, name+".toml")
	if err := os.WriteFile(c.cfgs[name], []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs a node's clusterd and waits until it is up.
func (c *opsCluster) start(name string) {
	t := c.t
	logs := &testbin.Output{}
	cmd := exec.Command(testbin.Build(t, "github.com/resmon/resmon/cmd/clusterd"), "-config", c.cfgs[name])
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.mu.Lock()
	c.procs[name] = cmd
	c.mu.Unlock()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", name, logs.String())
		}
	})
	c.waitFor(name+" up", func() bool {
		nodes, err := c.store.Nodes(context.Background())
		if err != nil {
			return false
		}
		for _, n := range nodes {
			if n.Node == name && n.PID == cmd.Process.Pid {
				return true
			}
		}
		return false
	})
}

// kill ends a node with SIGKILL.
func (c *opsCluster) kill(name string) {
	c.mu.Lock()
	cmd := c.procs[name]
	c.mu.Unlock()
	cmd.Process.Kill()
}

// waitGroup waits until a group is in state on owner.
func (c *opsCluster) waitGroup(group, owner, state string) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("group %s %s on %s", group, state, owner), func() bool {
		st, err := c.store.GroupStatus(context.Background(), group)
		o, _ := c.store.Owners(context.Background())
		return err == nil && st.State == state && st.Owner == owner && o[group].Node == owner
	})
}

// statusJSON is `cluster -o json status`, decoded.
type statusJSON struct {
	Quorum struct {
		Healthy bool `json:"healthy"`
		Members []struct {
			Name   string `json:"name"`
			Leader bool   `json:"leader"`
		} `json:"members"`
	} `json:"quorum"`
	Maintenance *model.Mark `json:"maintenance"`
	Nodes       []struct {
		Node        string           `json:"node"`
		State       string           `json:"state"`
		Paused      *model.NodePause `json:"paused"`
		Maintenance *model.Mark      `json:"maintenance"`
		Groups      []string         `json:"groups"`
	} `json:"nodes"`
	Groups []struct {
		Name        string `json:"name"`
		State       string `json:"state"`
		Owner       string `json:"owner"`
		Token       int64  `json:"fencing_token"`
		Maintenance string `json:"maintenance"`
		Resources   []struct {
			Name     string `json:"name"`
			State    string `json:"state"`
			Node     string `json:"node"`
			Restarts int    `json:"restarts"`
		} `json:"resources"`
	} `json:"groups"`
	Events []quorum.Event `json:"events"`
}

func (c *opsCluster) status() statusJSON {
	var st statusJSON
	c.jsonOf(&st, "status")
	return st
}

func (s statusJSON) node(name string) (state string, paused bool, groups []string) {
	for _, n := range s.Nodes {
		if n.Node == name {
			return n.State, n.Paused != nil, n.Groups
		}
	}
	return "", false, nil
}

func TestDayTwoOperations(t *testing.T) {
	c := startOpsCluster(t)
	ctx := context.Background()

	t.Run("status", func(t *testing.T) {
		c.t = t
		out := c.ok("status")
		for _, want := range []string{"Quorum: etcd healthy, 1 members: node1 (leader)", "node1", "node2", "node3",
			"Up", "onyone", "web", "web app", "Online", "Recent events:", "node.join"} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		st := c.status()
		if !st.Quorum.Healthy || len(st.Nodes) != 3 || len(st.Groups) != 2 || len(st.Events) != 5 {
			t.Fatalf("status JSON: %+v", st)
		}
		if s, _, groups := st.node("node3"); s != "Up" || !reflect.DeepEqual(groups, []string{"web"}) {
			t.Fatalf("node3: %s %v", s, groups)
		}
		// Flags anywhere, columns named alike.
		for _, args := range [][]string{{"groups", "-o", "json"}, {"-o", "json", "groups"}, {"groups", "--output=json"}} {
			var gs []groupListing
			c.jsonOf(&gs, args...)
			if len(gs) != 2 {
				t.Fatalf("%q: %+v", args, gs)
			}
		}
		for _, args := range [][]string{{"groups"}, {"resources"}, {"nodes"}} {
			if out := c.ok(args...); !strings.Contains(out, "State") {
				t.Errorf("%q has no State column:\n%s", args, out)
			}
		}
		if out := c.ok("group", "web"); !strings.Contains(out, "web app") || !strings.Contains(out, "Online on node3") {
			t.Errorf("group web does not list its resource:\n%s", out)
		}
	})

	t.Run("status --watch redraws from watches", func(t *testing.T) {
		c.t = t
		cmd := exec.Command(c.bin, "-config", c.cfg, "status", "--watch")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Signal(syscall.SIGINT); cmd.Wait() }()
		// Lines as they come; a screen starts at the clear sequence.
		lines := make(chan string, 1000)
		go func() {
			defer close(lines)
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if line != "" {
					lines <- line
				}
				if err != nil {
					return
				}
			}
		}()
		c.ok("group", "onyone", "offline")
		// A redrawn screen shows the group Offline (the request's event
		// may have scrolled out of the recent events by then).
		offline := func(screen string) bool {
			for _, l := range strings.Split(screen, "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "onyone" && f[1] == "Offline" {
					return true
				}
			}
			return false
		}
		deadline := time.After(30 * time.Second)
		var screen strings.Builder
		for seen := false; !seen; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("status --watch ended")
				}
				if strings.Contains(l, "\x1b[2J") {
					screen.Reset()
				}
				screen.WriteString(l)
				seen = offline(screen.String())
			case <-deadline:
				t.Fatalf("no redraw showing the group offline; last screen:\n%s", screen.String())
			}
		}
		c.ok("group", "onyone", "online")
	})

	t.Run("pause drains, survives a restart, resume fails back", func(t *testing.T) {
		c.t = t
		out := c.ok("node", "node3", "pause")
		for _, want := range []string{"Pausing node 'node3': moving its 1 groups away...", "group 'web': now on node2", "Node 'node3' is paused and owns no group."} {
			if !strings.Contains(out, want) {
				t.Fatalf("pause lacks %q:\n%s", want, out)
			}
		}
		c.waitGroup("web", "node2", "Online")
		if s, paused, _ := c.status().node("node3"); s != "Up" || !paused {
			t.Fatalf("node3 after pause: %s paused=%v", s, paused)
		}
		if out := c.ok("nodes"); !strings.Contains(out, "Up (paused)") {
			t.Fatalf("nodes:\n%s", out)
		}
		c.fails(cli.ExitFailed, `node "node3" is not up`, "group", "web", "move", "-node", "node3")

		// Killed and restarted, it is still paused and takes nothing.
		c.kill("node3")
		c.waitFor("node3 down", func() bool { s, _, _ := c.status().node("node3"); return s == "Down" })
		if s, paused, _ := c.status().node("node3"); s != "Down" || !paused {
			t.Fatalf("node3 killed: %s paused=%v", s, paused)
		}
		c.start("node3")
		if o, _ := c.store.Owners(ctx); o["web"].Node != "node2" {
			t.Fatalf("a paused node took a group: %+v", o)
		}

		out = c.ok("node", "node3", "resume", "--failback")
		if !strings.Contains(out, "Node 'node3' resumed") || !strings.Contains(out, "failback of group 'web': done") {
			t.Fatalf("resume:\n%s", out)
		}
		c.waitGroup("web", "node3", "Online")
		c.fails(cli.ExitNotFound, "is not paused", "node", "node3", "resume")
	})

	t.Run("a killed node shows down and its group fails over", func(t *testing.T) {
		c.t = t
		c.kill("node3")
		c.waitGroup("web", "node2", "Online")
		st := c.status()
		if s, _, groups := st.node("node3"); s != "Down" || len(groups) != 0 {
			t.Fatalf("node3 after kill -9: %s %v", s, groups)
		}
		if out := c.ok("status"); !strings.Contains(out, "node3") || !strings.Contains(out, "Down") {
			t.Fatalf("status does not show node3 down:\n%s", out)
		}
		c.start("node3")
	})

	t.Run("maintenance: no restarts, no moves", func(t *testing.T) {
		c.t = t
		out := c.ok("group", "web", "maintenance", "on", "--reason", "disk swap")
		if !strings.Contains(out, "Maintenance of group 'web' is on") {
			t.Fatalf("maintenance on:\n%s", out)
		}
		c.waitFor("web suspended", func() bool {
			st, _ := c.store.GroupStatus(ctx, "web")
			return strings.HasPrefix(st.Maintenance, "group maintenance by admin: disk swap")
		})
		before := c.resourceStatus("web app")
		// A fault waits in the registry: in maintenance nobody polls for it.
		c.ok("reg", "set", "-node", "node2", `SOFTWARE\web`, "Fault", "fail")
		c.fails(cli.ExitFailed, "is in group maintenance", "group", "web", "move", "-node", "node1")
		time.Sleep(time.Second) // ten LooksAlive intervals, were it polled
		if got := c.ok("reg", "get", "-node", "node2", `SOFTWARE\web`, "Fault"); !strings.Contains(got, "fail") {
			t.Fatalf("the fault was read in maintenance:\n%s", got)
		}
		if st := c.resourceStatus("web app"); st.State != "Online" || st.Restarts != before.Restarts {
			t.Fatalf("in maintenance: %+v", st)
		}
		if out := c.ok("status"); !strings.Contains(out, "maintenance: group maintenance by admin: disk swap") {
			t.Fatalf("status does not show the maintenance:\n%s", out)
		}
		c.ok("group", "web", "maintenance", "off")
		c.waitFor("the fault handled after maintenance", func() bool {
			return c.resourceStatus("web app").Restarts > before.Restarts
		})
		c.waitFor("web app online again", func() bool { return c.resourceStatus("web app").State == "Online" })

		// Cluster maintenance: shown everywhere, and a killed owner's group stays put.
		c.ok("maintenance", "on")
		if st := c.status(); st.Maintenance == nil || st.Maintenance.By != "admin" {
			t.Fatalf("status: %+v", st.Maintenance)
		}
		if out := c.ok("status"); !strings.HasPrefix(strings.SplitN(out, "\n", 2)[1], "MAINTENANCE: the monitor takes no action") {
			t.Fatalf("status:\n%s", out)
		}
		c.ok("maintenance", "off")
	})

	t.Run("cleanup resets the restart count", func(t *testing.T) {
		c.t = t
		if st := c.resourceStatus("web app"); st.Restarts == 0 {
			t.Fatalf("no restart to clean up: %+v", st)
		}
		out := c.ok("resource", "web app", "cleanup")
		if !strings.Contains(out, "Cleaning up resource 'web app'") {
			t.Fatalf("cleanup:\n%s", out)
		}
		c.waitFor("restarts reset", func() bool { return c.resourceStatus("web app").Restarts == 0 })
		if out := c.ok("group", "web", "cleanup"); !strings.Contains(out, "cleaned up by admin") {
			t.Fatalf("group cleanup:\n%s", out)
		}
	})

	t.Run("objects and config export, diff, apply", func(t *testing.T) {
		c.t = t
		wasm := testbin.BuildWASM(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-wasm")
		if out := c.ok("type", "create", "t2", "--kind", "wasm", "--path", wasm, "--pin", "--prop", "restart_threshold=7"); !strings.Contains(out, "pinned") {
			t.Fatalf("type create:\n%s", out)
		}
		c.ok("type", "t2", "set", "looks_alive_poll_interval=2s")
		c.fails(cli.ExitUsage, "not a property of a type", "type", "t2", "set", "bogus=1")
		c.ok("group", "create", "g2", "--preferred-owners", "node2,node1", "--prop", "failover_period=1h")
		c.ok("group", "g2", "set", "priority=3", "auto_failback=allow")
		c.fails(cli.ExitFailed, `failback_window_start: must be between -1 and 23, got 24`, "group", "g2", "set", "failback_window_start=24", "failback_window_end=1")
		c.ok("resource", "create", "r2", "-type", "t2", "-group", "g2", "-private", `Tags=["a","b"]`, "-private", `Limits={"cpu":2}`)
		var r model.Resource
		c.jsonOf(&r, "resource", "r2")
		if r.Properties.RestartThreshold != 7 || !reflect.DeepEqual(r.Private["Tags"], []any{"a", "b"}) {
			t.Fatalf("r2: %+v", r)
		}

		file := filepath.Join(c.dir, "export.toml")
		c.ok("config", "export", "-f", file)
		// The records with the revisions they were last written at.
		records := func() []any {
			ts, err1 := c.store.Types(ctx)
			gs, err2 := c.store.Groups(ctx)
			rs, err3 := c.store.Resources(ctx)
			if err1 != nil || err2 != nil || err3 != nil {
				t.Fatal(err1, err2, err3)
			}
			return []any{ts, gs, rs}
		}
		before := records()
		if out := c.ok("config", "diff", file); !strings.Contains(out, "agree") {
			t.Fatalf("diff right after export:\n%s", out)
		}
		if out := c.ok("config", "apply", file); !strings.Contains(out, "0 changes applied") {
			t.Fatalf("apply of the export:\n%s", out)
		}
		if after := records(); !reflect.DeepEqual(before, after) {
			t.Fatalf("export → apply changed the database:\n%+v\n%+v", before, after)
		}
		// A change in the file shows in diff, then apply makes it.
		b, _ := os.ReadFile(file)
		os.WriteFile(file, []byte(strings.Replace(string(b), "priority = 3", "priority = 4", 1)), 0o600)
		if out := c.ok("config", "diff", file); !strings.Contains(out, `group "g2": priority:`) {
			t.Fatalf("diff:\n%s", out)
		}
		if out := c.ok("config", "apply", file); !strings.Contains(out, "Updated group 'g2'") {
			t.Fatalf("apply:\n%s", out)
		}
		if g, _ := c.store.Group(ctx, "g2"); g.Value.Priority != 4 {
			t.Fatalf("g2 after apply: %+v", g.Value)
		}

		c.fails(cli.ExitFailed, `still holds resource "r2"`, "group", "delete", "g2")
		c.fails(cli.ExitFailed, `is used by resource "r2"`, "type", "delete", "t2")
		c.ok("resource", "delete", "r2", "-force")
		c.ok("group", "delete", "g2")
		c.ok("type", "delete", "t2")
	})

	t.Run("every operator action is in the event log", func(t *testing.T) {
		c.t = t
		seen := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(c.ok("-o", "json", "events")), "\n") {
			var ev quorum.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Operator != "" {
				seen[ev.Kind] = ev.Operator
			}
		}
		for _, kind := range []string{"node.pause", "node.resume", "maintenance.on", "maintenance.off", "resource.request", "group.request",
			"type.create", "type.set", "type.delete", "group.create", "group.set", "group.delete", "group.update", "resource.create", "resource.delete"} {
			if seen[kind] != "admin" {
				t.Errorf("event %s: operator %q", kind, seen[kind])
			}
		}
	})

	t.Run("Cluster with a capital and cluster.exe syntax", func(t *testing.T) {
		c.t = t
		link := filepath.Join(t.TempDir(), "Cluster")
		if err := os.Symlink(c.bin, link); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(link, "-config", c.cfg, ".", "Resource", "app", "/checkpoints").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Listing registry checkpoints for resource 'app'") {
			t.Fatalf("Cluster . Resource app /checkpoints: %v\n%s", err, out)
		}
	})
}
