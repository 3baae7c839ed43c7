package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/testutil/testbin"
)

// The OCF Agent type under real clusterd processes: the failure classes of
// an agent's exit codes reach the monitor's decision across the plugin
// wire. A hard error (not installed) bans the node and fails the group
// over; an operator's online lifts the ban. A fatal one (not configured)
// leaves the resource Failed on every node without moving the group. A
// changed reloadable parameter is applied with reload-agent, in place.

// ocfRoot is an OCF root holding the test agent as ocf:resmontest:classes.
func ocfRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "resource.d", "resmontest"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../types/ocf/testdata/classes")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "resource.d", "resmontest", "classes"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestOCFFailureClasses(t *testing.T) {
	root := ocfRoot(t)
	// clusterd passes its environment on to the plugin, as an operator's
	// OCF_ROOT would be; HA_RSCTMP is left to the per-node default.
	t.Setenv("OCF_ROOT", root)
	plugin := testbin.Build(t, "github.com/resmon/resmon/types/ocf/cmd/ocf")
	c := newMPClusterOf(t, fmt.Sprintf("kind = \"plugin\"\npath = %q", plugin), "", "", "", "")
	dir := t.TempDir()
	state, failFile := filepath.Join(dir, "state"), filepath.Join(dir, "fail")
	c.spec = fmt.Sprintf(`
[[resource_type]]
name = "OCF Agent"
kind = "plugin"
path = %q

[[group]]
name = "app"
preferred_owners = ["node1", "node2", "node3"]
persistent_state = true

[[resource]]
name = "app"
type = "OCF Agent"
group = "app"
pending_timeout = "10s"
looks_alive_poll_interval = "200ms"
is_alive_poll_interval = "1s"
restart_delay = "50ms"
[resource.private]
Provider = "resmontest"
Agent = "classes"
state = %q
fail_file = %q
greeting = "hello"
`, plugin, state, failFile)
	c.startAll()
	c.waitStatus("online on node1", onlineOn("node1"))

	// A soft error: the restart policy restarts it where it is.
	os.WriteFile(failFile+".node1", []byte("monitor 1 a passing glitch\n"), 0o644)
	waitFor(t, "a restart", 30*time.Second, func() bool {
		st, _, _ := c.store.ReadResourceStatus(context.Background(), c.resource().ID)
		return st.Restarts > 0
	})
	os.Remove(failFile + ".node1")
	c.waitResource("Online")
	if st := c.status(); st.Owner != "node1" || len(st.Bans) != 0 {
		t.Fatalf("a soft error moved or banned: %+v", st)
	}

	// A reloadable parameter changes in place: reload-agent rewrites the
	// state file, and the resource is not restarted.
	before, _, _ := c.store.ReadResourceStatus(context.Background(), c.resource().ID)
	c.editPrivate(func(p map[string]any) { p["greeting"] = "bonjour" })
	waitFor(t, "reload-agent", 30*time.Second, func() bool { b, _ := os.ReadFile(state); return string(b) == "bonjour\n" })
	if after, _, _ := c.store.ReadResourceStatus(context.Background(), c.resource().ID); after.Restarts != before.Restarts || after.State != "Online" {
		t.Fatalf("the reload restarted the resource: %+v → %+v", before, after)
	}
	// The agent writes the state file before its log line travels through
	// the plugin's stderr into clusterd's log: wait for the line, too.
	waitFor(t, "the agent's reload line in node1's log", 30*time.Second, func() bool {
		return strings.Contains(c.nodes["node1"].logs.String(), "reloading: greeting bonjour")
	})

	// A hard error on node1: the group fails over to node2 and node1 is
	// banned from the resource, visibly.
	os.WriteFile(failFile+".node1", []byte("monitor 5 the program is gone\n"), 0o644)
	st := c.waitStatus("failed over to node2 with node1 banned", func(st model.GroupStatus) bool {
		return onlineOn("node2")(st) && len(st.Bans) == 1 && st.Bans[0].Node == "node1"
	})
	if !strings.Contains(st.Bans[0].Reason, "not installed (5): the program is gone") {
		t.Fatalf("ban %+v", st.Bans[0])
	}
	if evs := c.events("resource.banned"); len(evs) == 0 || !strings.Contains(evs[0].Message, "node node1 is kept out of its possible owners until an operator brings it online") {
		t.Fatalf("banned events: %+v", evs)
	}
	waitFor(t, "the agent's exit reason in node1's log with the resource's name", 30*time.Second, func() bool {
		logs := c.nodes["node1"].logs.String()
		return strings.Contains(logs, "exit reason: the program is gone") && strings.Contains(logs, "resource=app")
	})
	os.Remove(failFile + ".node1")
	if rep := c.request(model.Request{Group: "app", Action: model.RequestMove, Node: "node1"}); rep.Code != model.ResultRefused || !strings.Contains(rep.Message, "banned") {
		t.Fatalf("a move to the banned node: %+v", rep)
	}
	if rep := c.request(model.Request{Group: "app", Resource: c.resource().ID, Action: model.RequestOnline}); rep.Code != model.ResultDone {
		t.Fatalf("online: %+v", rep)
	}
	c.waitStatus("the ban lifted", func(st model.GroupStatus) bool { return len(st.Bans) == 0 })
	if rep := c.request(model.Request{Group: "app", Action: model.RequestMove, Node: "node1"}); rep.Code != model.ResultDone {
		t.Fatalf("a move once the ban is lifted: %+v", rep)
	}
	c.waitStatus("online on node1 again", onlineOn("node1"))

	// A fatal error: Failed everywhere, the group stays where it is, and a
	// new owner after a crash does not start it either.
	failovers := len(c.status().Failovers)
	os.WriteFile(failFile, []byte("monitor 6 no such configuration\n"), 0o644)
	st = c.waitStatus("failed everywhere", func(st model.GroupStatus) bool { return len(st.Bans) == 1 && st.Bans[0].Node == "" })
	c.waitResource("Failed")
	if st.Owner != "node1" || len(st.Failovers) != failovers {
		t.Fatalf("a fatal error moved the group: %+v", st)
	}
	c.kill("node1")
	st = c.waitStatus("taken by node2", func(st model.GroupStatus) bool {
		return st.Owner == "node2" && st.State != "" && st.Token > 0 && len(st.Bans) == 1
	})
	c.waitResource("Failed")
	rs, _, _ := c.store.ReadResourceStatus(context.Background(), c.resource().ID)
	if rs.Node != "node2" || !strings.Contains(rs.Error, "it stays failed on every node") {
		t.Fatalf("resource on the new owner: %+v", rs)
	}
	os.Remove(failFile)
	if rep := c.request(model.Request{Group: "app", Resource: c.resource().ID, Action: model.RequestOnline}); rep.Code != model.ResultDone {
		t.Fatalf("online: %+v", rep)
	}
	c.waitResource("Online")
	if st := c.status(); st.Owner != "node2" || len(st.Bans) != 0 {
		t.Fatalf("after the operator's online: %+v", st)
	}
}
