package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
)

const majorityConfig = `
[cluster]
name = "nm"
pki_dir = %q
[node]
name = "%s"
data_dir = "%s"
[quorum]
lease_ttl = "1s"
[quorum.embedded]
client_url = "%s"
peer_url = "%s"
heartbeat = "10ms"
election = "100ms"
cluster_token = "nm-test"
[quorum.embedded.peers]
%s
`

// TestNodeMajorityThreeClusterdSurviveLossOfOne runs three clusterd
// processes, each hosting one member of a shared etcd, kills one with -9 and
// checks that the other two keep a working quorum and see it leave.
func TestNodeMajorityThreeClusterdSurviveLossOfOne(t *testing.T) {
	bin := clusterdBinary(t)
	dir := t.TempDir()
	names := []string{"node1", "node2", "node3"}
	clientURLs, peerURLs := map[string]string{}, map[string]string{}
	var peers strings.Builder
	for _, n := range names {
		clientURLs[n], peerURLs[n] = quorumtest.FreeTLSURL(t), quorumtest.FreeTLSURL(t)
		fmt.Fprintf(&peers, "%s = %q\n", n, peerURLs[n])
	}
	// One PKI for the three, as `cluster pki init` makes it.
	pkiDir := pki.Dir(filepath.Join(dir, "pki"))
	ca, err := pki.Init(pkiDir, "nm")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := ca.IssueNode(n, nil, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ca.IssueOperator("admin", pki.RoleAdmin, time.Hour); err != nil {
		t.Fatal(err)
	}
	procs := map[string]*exec.Cmd{}
	logs := map[string]*syncBuffer{}
	for _, n := range names {
		cfgPath := filepath.Join(dir, n+".toml")
		cfg := fmt.Sprintf(majorityConfig, pkiDir, n, filepath.Join(dir, n), clientURLs[n], peerURLs[n], peers.String())
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-config", cfgPath)
		logs[n] = &syncBuffer{}
		cmd.Stderr = logs[n]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[n] = cmd
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
	}
	dump := func() string {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "--- %s\n%s", n, logs[n].String())
		}
		return b.String()
	}
	for _, n := range names {
		waitFor(t, n+" to join", 60*time.Second, func() bool { return strings.Contains(logs[n].String(), "node joined") })
	}
	cli, err := quorum.Connect(context.Background(), quorumtest.PKIClientConfig(string(pkiDir), "nm", clientURLs["node1"], clientURLs["node2"]))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s, _ := quorum.NewStore(cli, "nm", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 3 {
		t.Fatalf("nodes: %v %v\n%s", nodes, err, dump())
	}
	members, err := cli.MemberList(ctx)
	if err != nil || len(members.Members) != 3 {
		t.Fatalf("etcd members: %v %v", members, err)
	}

	// node3 dies hard: no leave, its etcd member is gone too.
	procs["node3"].Process.Signal(syscall.SIGKILL)
	procs["node3"].Wait()
	waitFor(t, "node3's presence to expire", 30*time.Second, func() bool {
		ns, err := s.Nodes(ctx)
		return err == nil && len(ns) == 2
	})
	// The remaining majority still accepts writes, including fenced ones.
	if err := s.CreateGroup(ctx, model.DefaultGroup("after-loss")); err != nil {
		t.Fatalf("write after losing a member: %v\n%s", err, dump())
	}
	evs, _ := s.Events(ctx, time.Time{}, 0)
	joins := 0
	for _, e := range evs {
		if e.Kind == "node.join" {
			joins++
		}
	}
	if joins != 3 {
		t.Fatalf("%d join events, want 3", joins)
	}
	// The two survivors stop cleanly.
	for _, n := range []string{"node1", "node2"} {
		procs[n].Process.Signal(syscall.SIGTERM)
	}
	for _, n := range []string{"node1", "node2"} {
		done := make(chan error, 1)
		go func() { done <- procs[n].Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s exit: %v\n%s", n, err, dump())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not stop\n%s", n, dump())
		}
	}
}
