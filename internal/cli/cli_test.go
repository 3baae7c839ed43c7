package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resmon/resmon/internal/cli"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func clusterBinary(t *testing.T) string {
	return testbin.Build(t, "github.com/resmon/resmon/cmd/cluster")
}

type fixture struct {
	t         *testing.T
	bin       string
	endpoints string
	creds     []string // -cacert, -cert and -key of an admin operator
	store     *quorum.Store
	raw       *clientv3.Client // etcd itself, to write around the store
}

func newFixture(t *testing.T) *fixture {
	m, c := quorumtest.Start(t)
	s, err := quorum.NewStore(c, "ci", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec := quorum.Spec{
		Types: []model.ResourceType{{Name: "Generic Application", Kind: model.KindPlugin, Path: "/bin/app", Defaults: model.DefaultProperties()}},
		Groups: []model.Group{func() model.Group {
			g := model.DefaultGroup("onyone")
			g.PreferredOwners = []string{"node1", "node2"}
			return g
		}()},
		Resources: []model.Resource{{Name: "Network Name DATA", Type: "Generic Application", Group: "onyone", Properties: model.DefaultProperties(),
			RegistryCheckpoints: []string{`SOFTWARE\Microsoft\onyone`}}},
	}
	if _, err := s.Bootstrap(ctx, "test", spec); err != nil {
		t.Fatal(err)
	}
	ca, cert, key := m.AdminFiles()
	return &fixture{t: t, bin: clusterBinary(t), endpoints: strings.Join(m.Endpoints(), ","), store: s, raw: c,
		creds: []string{"-cacert", ca, "-cert", cert, "-key", key}}
}

// run runs the binary and returns stdout, stderr and the exit code.
func (f *fixture) run(args ...string) (string, string, int) {
	f.t.Helper()
	full := append(append([]string{"-endpoints", f.endpoints, "-cluster", "ci", "-timeout", "20s"}, f.creds...), args...)
	cmd := exec.Command(f.bin, full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestListAndShowCommands(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"groups"}, []string{"Group", "onyone", "node1, node2"}},
		{[]string{"group", "ONYONE"}, []string{"Preferred owners", "node1, node2", "Failover period", "Failover threshold  1 (auto: the cluster's nodes − 1)"}},
		{[]string{"resources"}, []string{"Network Name DATA", "Generic Application"}},
		{[]string{"resource", "network name data"}, []string{`SOFTWARE\Microsoft\onyone`, "PendingTimeout", "3m0s", "RestartAction", "2"}},
		{[]string{"types"}, []string{"Generic Application", "plugin", "/bin/app"}},
		{[]string{"nodes"}, []string{"Node", "Host"}},
		{[]string{"events"}, nil},
	} {
		out, errOut, code := f.run(c.args...)
		if code != cli.ExitOK {
			t.Errorf("%v: exit %d: %s", c.args, code, errOut)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
}

func TestJSONOutputParsesBack(t *testing.T) {
	f := newFixture(t)
	out, errOut, code := f.run("-o", "json", "resources")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rs []model.Resource
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 || rs[0].Name != "Network Name DATA" || len(rs[0].ID) != 36 {
		t.Fatalf("resources JSON: %v %+v\n%s", err, rs, out)
	}
	out, _, _ = f.run("-o", "json", "groups")
	var gs []map[string]any
	if err := json.Unmarshal([]byte(out), &gs); err != nil || len(gs) != 1 || gs[0]["name"] != "onyone" {
		t.Fatalf("groups JSON: %v\n%s", err, out)
	}
	if _, ok := gs[0]["fencing_token"]; !ok {
		t.Fatalf("groups JSON lacks the fencing token:\n%s", out)
	}
}

func TestBadArgumentsExitCodes(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"resource", "Nope"}, cli.ExitNotFound, `resource "Nope"`},
		{[]string{"group", "nope"}, cli.ExitNotFound, `group "nope"`},
		{[]string{"frobnicate"}, cli.ExitUsage, `unknown command "frobnicate"`},
		{[]string{"resource"}, cli.ExitUsage, "expected one resource name"},
		{[]string{"-o", "yaml", "groups"}, cli.ExitUsage, "-o must be table or json"},
		{[]string{"events", "-bogus"}, cli.ExitUsage, "bogus"},
		{nil, cli.ExitUsage, "Usage:"},
	} {
		_, errOut, code := f.run(c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
	// An unreachable etcd is its own exit code.
	cmd := exec.Command(f.bin, "-endpoints", "http://127.0.0.1:1", "-timeout", "2s", "groups")
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != cli.ExitUnreachable || !strings.Contains(string(out), "unreachable") {
		t.Fatalf("unreachable: exit %d: %s", cmd.ProcessState.ExitCode(), out)
	}
}

func TestBackupRestoreWarnsOfStaleCheckpoints(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r, err := f.store.ResourceByName(ctx, "Network Name DATA")
	if err != nil {
		t.Fatal(err)
	}
	// A checkpoint written by the group's owner.
	etcd := f.raw
	if _, err := etcd.Put(ctx, f.store.Keys().Owner("onyone"), "{}"); err != nil {
		t.Fatal(err)
	}
	own, _ := etcd.Get(ctx, f.store.Keys().Owner("onyone"))
	fence := model.Fence{Group: "onyone", Token: own.Kvs[0].CreateRevision}
	if _, err := f.store.PutCheckpoint(ctx, fence, r.Value.ID, model.RegistryCheckpoint, 1, "node1", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bk")
	out, errOut, code := f.run("backup", dir)
	if code != 0 || !strings.Contains(out, "1 checkpoints") {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	// A node is up: restore is refused, nothing changes.
	lease, _ := etcd.Grant(ctx, 30)
	etcd.Put(ctx, f.store.Keys().Node("node1"), `{"node":"node1"}`, clientv3.WithLease(lease.ID))
	_, errOut, code = f.run("restore", dir)
	if code != cli.ExitFailed || !strings.Contains(errOut, "node1") {
		t.Fatalf("restore while up: exit %d: %s", code, errOut)
	}
	out, errOut, code = f.run("restore", "-force", dir)
	if code != 0 || !strings.Contains(out, "may be stale") || !strings.Contains(out, "cluster checkpoint recover --all") {
		t.Fatalf("forced restore: exit %d\n%s%s", code, out, errOut)
	}
	ms, err := f.store.ListCheckpoints(ctx, r.Value.ID)
	if err != nil || len(ms) != 1 || !ms[0].Restored {
		t.Fatalf("restored manifest: %+v %v", ms, err)
	}
}
