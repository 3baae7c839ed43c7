package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/internal/cli"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
)

// One clusterd with an embedded etcd and a group "onyone" holding one
// resource "app" of the WASM test type; a second clusterd in external mode
// joins for the move. The CLI runs as a separate process, as an operator
// would run it.

const actionsTOML = embeddedNodeTOML + `
[[group]]
name = "onyone"
preferred_owners = ["node1", "node2"]
persistent_state = true

[[resource]]
name = "app"
type = "testtype"
group = "onyone"
pending_timeout = "10s"
looks_alive_poll_interval = "100ms"
is_alive_poll_interval = "300ms"
restart_delay = "50ms"
`

// externalTOML is a node that uses the first node's etcd.
const externalTOML = `
[cluster]
name = "ci"
[node]
name = %q
data_dir = %q
admin = %q
[quorum]
mode = "external"
lease_ttl = "2s"
[quorum.external]
endpoints = [%q]
ca_file = %q
cert_file = %q
key_file = %q
`

// actionsNode is node1 of the WASM cluster, and how to start node2.
type actionsNode struct {
	*node
	etcd   string
	exited <-chan struct{}
	logs   *testbin.Output
}

func startWASMNode(t *testing.T) *actionsNode {
	t.Helper()
	wasm := testbin.BuildWASM(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-wasm")
	dir := shortDir(t)
	admin := "unix:" + filepath.Join(dir, "admin.sock")
	etcd := quorumtest.FreeTLSURL(t)
	cfg := filepath.Join(dir, "cluster.toml")
	text := fmt.Sprintf(actionsTOML, filepath.Join(dir, "data"), admin, "", etcd, quorumtest.FreeTLSURL(t), "wasm", wasm)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	exited, logs := runClusterd(t, cfg)
	n := &actionsNode{node: &node{t: t, bin: clusterBinary(t), cfg: cfg, dir: dir, admin: admin}, etcd: etcd, exited: exited, logs: logs}
	n.waitOnline(etcd, exited, logs)
	return n
}

func (n *actionsNode) waitFor(what string, cond func() bool) {
	n.t.Helper()
	waitUntil(n.t, what, cond, n.exited, n.logs)
}

// startNode2 starts a second node on node1's etcd and waits until it is up.
func (n *actionsNode) startNode2() {
	t := n.t
	t.Helper()
	dir := shortDir(t)
	cfg := filepath.Join(dir, "node2.toml")
	// node2's certificate, from node1's PKI, registered with etcd at once.
	if out, errOut, code := n.cluster("pki", "issue", "node", "node2"); code != 0 || !strings.Contains(out, `Registered etcd user "node2" with role node`) {
		t.Fatalf("pki issue node node2: exit %d\n%s%s", code, out, errOut)
	}
	d := pki.Dir(filepath.Join(n.dir, "data", "pki"))
	cert, key := d.NodeFiles("node2")
	text := fmt.Sprintf(externalTOML, "node2", filepath.Join(dir, "data"), "unix:"+filepath.Join(dir, "admin.sock"), n.etcd, d.CAFile(), cert, key)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	exited, logs := runClusterd(t, cfg)
	waitUntil(t, "node2 up", func() bool {
		nodes, err := n.store.Nodes(context.Background())
		return err == nil && len(nodes) == 2
	}, exited, logs)
}

// resourceStatus reads app's published status.
func (n *actionsNode) resourceStatus(name string) model.ResourceStatus {
	n.t.Helper()
	r, err := n.store.ResourceByName(context.Background(), name)
	if err != nil {
		n.t.Fatal(err)
	}
	all, err := n.store.ResourceStatuses(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	return all[r.Value.ID]
}

// jsonOf runs the CLI with -o json and decodes its stdout into v.
func (n *actionsNode) jsonOf(v any, args ...string) {
	n.t.Helper()
	out := n.ok(append([]string{"-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		n.t.Fatalf("cluster %q: %v\n%s", args, err, out)
	}
}

// groupListing is one row of `cluster -o json groups`.
type groupListing struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Owner     string `json:"owner"`
	Token     int64  `json:"fencing_token"`
	Desired   string `json:"desired"`
	Failovers int    `json:"failovers"`
}

func TestGroupAndResourceActions(t *testing.T) {
	n := startWASMNode(t)

	t.Run("group offline and online", func(t *testing.T) {
		n.t = t
		out := n.ok("group", "onyone", "offline")
		if !strings.HasPrefix(out, "Taking resource group 'onyone' offline...\n") ||
			!strings.Contains(out, "Group                Owner           State\n") ||
			!strings.Contains(out, "onyone               node1           Offline\n") {
			t.Fatalf("offline:\n%s", out)
		}
		var g groupListing
		n.jsonOf(&g, "group", "ONYONE")
		if g.State != "Offline" || g.Desired != model.DesiredOffline || g.Owner != "node1" || g.Token <= 0 || g.Failovers != 0 {
			t.Fatalf("group after offline: %+v", g)
		}
		if out := n.ok("groups"); !strings.Contains(out, "Desired") || !strings.Contains(out, "offline") {
			t.Fatalf("groups listing:\n%s", out)
		}
		var st model.GroupStatus
		n.jsonOf(&st, "group", "onyone", "online")
		if st.State != "Online" || st.Owner != "node1" || st.Desired != model.DesiredOnline {
			t.Fatalf("online status: %+v", st)
		}
	})

	t.Run("move refused", func(t *testing.T) {
		n.t = t
		for _, c := range []struct {
			args []string
			msg  string
		}{
			{[]string{"-node", "node9"}, `move refused: node "node9" is not up`},
			{nil, "move refused: no other node is up"},
		} {
			n.fails(cli.ExitFailed, c.msg, append([]string{"group", "onyone", "move"}, c.args...)...)
		}
		if st, _ := n.store.GroupStatus(context.Background(), "onyone"); st.Owner != "node1" || st.State != "Online" {
			t.Fatalf("a refused move changed the group: %+v", st)
		}
	})

	t.Run("resource fail restarts it", func(t *testing.T) {
		n.t = t
		before := n.resourceStatus("app")
		var st model.ResourceStatus
		n.jsonOf(&st, "resource", "app", "fail")
		if st.Restarts <= before.Restarts && st.State != "Failed" {
			t.Fatalf("fail: before %+v, after %+v", before, st)
		}
		n.waitFor("app online again", func() bool {
			st := n.resourceStatus("app")
			return st.State == "Online" && st.Restarts > before.Restarts
		})
	})

	t.Run("resource offline and online", func(t *testing.T) {
		n.t = t
		out := n.ok("resource", "app", "offline")
		if !strings.HasPrefix(out, "Taking resource 'app' offline...\n") || !strings.Contains(out, "app                  onyone               node1           Offline\n") {
			t.Fatalf("offline:\n%s", out)
		}
		var rs []struct {
			Name, State, Node string
		}
		n.jsonOf(&rs, "resources")
		if len(rs) != 1 || rs[0].State != "Offline" || rs[0].Node != "node1" {
			t.Fatalf("resources: %+v", rs)
		}
		n.fails(cli.ExitFailed, "only an online resource can be failed", "resource", "app", "fail")
		if out := n.ok("resource", "app", "online"); !strings.Contains(out, "node1           Online\n") {
			t.Fatalf("online:\n%s", out)
		}
		if out := n.ok("resources"); !strings.Contains(out, "Online") {
			t.Fatalf("resources:\n%s", out)
		}
		if out := n.ok("resource", "app"); !strings.Contains(out, "Online (2)") || !strings.Contains(out, "node1") {
			t.Fatalf("resource app:\n%s", out)
		}
		var one struct {
			Name   string               `json:"name"`
			Status model.ResourceStatus `json:"status"`
		}
		n.jsonOf(&one, "resource", "app")
		if one.Name != "app" || one.Status.State != "Online" || one.Status.Token == 0 {
			t.Fatalf("resource app -o json: %+v", one)
		}
	})

	t.Run("resource control", func(t *testing.T) {
		n.t = t
		// The test type echoes code 1's input and answers code 2 with its
		// fencing token; the owner carries each out and replies.
		if out := n.ok("resource", "app", "control", "1", "-in", `{"greeting": "bonjour"}`); out != "{\"greeting\": \"bonjour\"}\n" {
			t.Fatalf("control 1 (JSON):\n%q", out)
		}
		if out := n.ok("resource", "app", "control", "0x1", "-in", "00 ff 10"); !strings.Contains(out, "00 ff 10") {
			t.Fatalf("control 1 (hex):\n%s", out)
		}
		var rep model.Reply
		n.jsonOf(&rep, "resource", "app", "control", "2")
		if rep.Code != model.ResultDone || rep.Node != "node1" || string(rep.Out) != fmt.Sprint(rep.Token) {
			t.Fatalf("control 2: %+v", rep)
		}
		n.fails(cli.ExitFailed, "control code not handled", "resource", "app", "control", "0x01200004")
		n.fails(cli.ExitUsage, "not one an operator sends", "resource", "app", "control", "0x014000A2")
		n.fails(cli.ExitUsage, "neither JSON nor hex", "resource", "app", "control", "1", "-in", "zz")
		n.fails(cli.ExitUsage, "not a 32-bit number", "resource", "app", "control", "code")
	})

	t.Run("no wait and timeout", func(t *testing.T) {
		n.t = t
		var req model.Request
		n.jsonOf(&req, "resource", "app", "online", "-no-wait")
		if req.ID == "" || req.Action != "online" || req.Group != "onyone" {
			t.Fatalf("request: %+v", req)
		}
		// A wait that is over before it starts: a clear error, exit 1.
		n.fails(cli.ExitFailed, "timed out after 1ns waiting for", "group", "onyone", "online", "-wait", "1ns")
	})

	t.Run("create set delete", func(t *testing.T) {
		n.t = t
		ctx := context.Background()
		out := n.ok("resource", "create", "extra", "-type", "testtype", "-group", "ONYONE", "-dependencies", "app",
			"-prop", "restart_threshold=5", "-prop", "is_alive_poll_interval=300ms", "-private", "IsAlive=true")
		if !strings.HasPrefix(out, "Created resource 'extra' (") {
			t.Fatalf("create:\n%s", out)
		}
		r, err := n.store.ResourceByName(ctx, "extra")
		if err != nil || r.Value.Group != "onyone" || len(r.Value.Dependencies) != 1 || r.Value.Dependencies[0][0] != "app" ||
			r.Value.Properties.RestartThreshold != 5 || r.Value.Private["IsAlive"] != true {
			t.Fatalf("created: %+v %v", r.Value, err)
		}
		n.ok("resource", "extra", "set", "pending_timeout=20s", "restart_action=1", "possible_owners=node1,node2", "-private", "Foo=bar")
		r, _ = n.store.ResourceByName(ctx, "extra")
		if p := r.Value.Properties; p.PendingTimeout.D() != 20*time.Second || p.RestartAction != 1 ||
			len(r.Value.PossibleOwners) != 2 || r.Value.Private["Foo"] != "bar" {
			t.Fatalf("after set: %+v", r.Value)
		}
		for _, c := range []struct {
			code int
			msg  string
			args []string
		}{
			{cli.ExitFailed, "pending_timeout: invalid duration", []string{"restart_delay=1s", "pending_timeout=banana"}},
			{cli.ExitFailed, "restart_action: must be 0", []string{"restart_action=7"}},
			{cli.ExitFailed, "restart_threshold: must not be negative", []string{"restart_threshold=-1"}},
			{cli.ExitFailed, "separate_monitor: \"maybe\" is not true or false", []string{"separate_monitor=maybe"}},
			{cli.ExitFailed, "looks_alive_poll_interval: must be greater than 0", []string{"looks_alive_poll_interval=0s"}},
			{cli.ExitFailed, `dependencies: "nope" is not another resource`, []string{"dependencies=app;nope"}},
			{cli.ExitFailed, "has an empty resource name", []string{"dependencies=app,"}},
			{cli.ExitUsage, "colour: not a common property", []string{"colour=blue"}},
			{cli.ExitUsage, `"pending_timeout" is not KEY=VALUE`, []string{"pending_timeout"}},
			{cli.ExitUsage, "give at least one KEY=VALUE", nil},
		} {
			n.fails(c.code, c.msg, append([]string{"resource", "extra", "set"}, c.args...)...)
		}
		if again, _ := n.store.ResourceByName(ctx, "extra"); again.ModRevision != r.ModRevision {
			t.Fatalf("a refused set changed the resource: %+v", again.Value)
		}

		n.waitFor("extra online", func() bool { return n.resourceStatus("extra").State == "Online" })
		n.fails(cli.ExitFailed, "take it offline first", "resource", "delete", "extra")
		n.fails(cli.ExitFailed, "resource 'extra' depends on 'app'", "resource", "delete", "app", "-force")
		n.ok("resource", "extra", "offline")
		if out := n.ok("resource", "delete", "extra"); !strings.HasPrefix(out, "Deleted resource 'extra' (") {
			t.Fatalf("delete:\n%s", out)
		}
		if _, err := n.store.ResourceByName(ctx, "extra"); err == nil {
			t.Fatal("extra is still there")
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		n.t = t
		for _, c := range []struct {
			code int
			msg  string
			args []string
		}{
			{cli.ExitNotFound, `group "nope"`, []string{"group", "nope", "online"}},
			{cli.ExitNotFound, `resource "nope"`, []string{"resource", "nope", "offline"}},
			{cli.ExitNotFound, `resource "nope"`, []string{"resource", "nope", "set", "restart_action=1"}},
			{cli.ExitNotFound, `resource "nope"`, []string{"resource", "delete", "nope"}},
			{cli.ExitNotFound, `resource type "nope"`, []string{"resource", "create", "x", "-type", "nope", "-group", "onyone"}},
			{cli.ExitNotFound, `group "nope"`, []string{"resource", "create", "x", "-type", "testtype", "-group", "nope"}},
			{cli.ExitUsage, `unknown action "frobnicate"`, []string{"group", "onyone", "frobnicate"}},
			{cli.ExitUsage, `unknown action "frobnicate"`, []string{"resource", "app", "frobnicate"}},
			{cli.ExitUsage, "flag needs an argument: --node", []string{"group", "onyone", "move", "-node"}},
			{cli.ExitUsage, "unknown flag: --node", []string{"group", "onyone", "online", "-node", "node2"}},
			{cli.ExitUsage, "-wait must be greater than 0", []string{"resource", "app", "online", "-wait", "0s"}},
			{cli.ExitUsage, `unexpected argument "now"`, []string{"group", "onyone", "offline", "now"}},
			{cli.ExitUsage, "-type and -group are required", []string{"resource", "create", "x", "-type", "testtype"}},
			{cli.ExitFailed, "already exists", []string{"resource", "create", "APP", "-type", "testtype", "-group", "onyone"}},
		} {
			n.fails(c.code, c.msg, c.args...)
		}
		if st, _ := n.store.GroupStatus(context.Background(), "onyone"); st.State != "Online" {
			t.Fatalf("bad arguments changed the group: %+v", st)
		}
	})

	t.Run("move to a second node", func(t *testing.T) {
		n.t = t
		n.startNode2()
		out := n.ok("group", "onyone", "move")
		if !strings.HasPrefix(out, "Moving resource group 'onyone'...\n") || !strings.Contains(out, "onyone: Online on node2\n") ||
			!strings.Contains(out, "onyone               node2           Online\n") || !strings.Contains(out, "(done, answered by node1)") {
			t.Fatalf("move:\n%s", out)
		}
		var gs []groupListing
		n.jsonOf(&gs, "groups")
		if len(gs) != 1 || gs[0].Owner != "node2" || gs[0].State != "Online" {
			t.Fatalf("groups after the move: %+v", gs)
		}
		if st := n.resourceStatus("app"); st.Node != "node2" || st.State != "Online" {
			t.Fatalf("app after the move: %+v", st)
		}
	})
}
