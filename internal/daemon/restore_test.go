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
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
)

// TestOfflineRestoreWithEmbeddedEtcd: the documented route — stop every
// node, then restore — works with embedded etcd: `clusterd -restore DIR`
// starts the node's etcd member alone, restores, and exits; the node then
// starts on the restored database, and the restored checkpoint waits for an
// operator's accept before the resource comes online on it. (With embedded
// etcd a stopped cluster once had no etcd to restore into.)
func TestOfflineRestoreWithEmbeddedEtcd(t *testing.T) {
	bin := clusterdBinary(t)
	plugin := testbin.Build(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-plugin")
	dir := t.TempDir()
	data, err := os.MkdirTemp("", "rs-") // short: the plugin socket path must fit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	clientURL, peerURL := quorumtest.FreeTLSURL(t), quorumtest.FreeTLSURL(t)
	cfgPath := filepath.Join(dir, "cluster.toml")
	cfg := fmt.Sprintf(`
[cluster]
name = "rs"
[node]
name = "node1"
data_dir = %q
[quorum]
lease_ttl = "2s"
[quorum.embedded]
client_url = %q
peer_url = %q
heartbeat = "10ms"
election = "100ms"
`, data, clientURL, peerURL) + mpSpec(fmt.Sprintf("kind = \"plugin\"\npath = %q", plugin), filepath.Join(dir, "witness"), "", "", "")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var store *quorum.Store
	start := func() (*exec.Cmd, <-chan error, *syncBuffer) {
		logs := &syncBuffer{}
		cmd := exec.Command(bin, "-config", cfgPath)
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				<-exited
			}
			if t.Failed() {
				t.Logf("--- clusterd log ---\n%s", logs.String())
			}
		})
		waitFor(t, "the node's etcd", 30*time.Second, func() bool {
			cc := quorumtest.PKIClientConfig(filepath.Join(data, "pki"), "rs", clientURL)
			cc.DialTimeout = 200 * time.Millisecond
			cli, err := quorum.Connect(context.Background(), cc)
			if err != nil {
				return false
			}
			t.Cleanup(func() { cli.Close() })
			store, _ = quorum.NewStore(cli, "rs", nil)
			return true
		})
		return cmd, exited, logs
	}
	status := func() model.GroupStatus {
		st, _ := store.GroupStatus(context.Background(), "app")
		return st
	}
	stop := func(cmd *exec.Cmd, exited <-chan error) {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("clusterd exit: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("clusterd did not stop")
		}
	}

	cmd, exited, _ := start()
	waitFor(t, "the group online", 30*time.Second, func() bool { return status().State == "Online" })
	backup := filepath.Join(dir, "backup")
	if _, err := store.Backup(context.Background(), backup); err != nil {
		t.Fatal(err)
	}
	stop(cmd, exited)

	out, err := exec.Command(bin, "-config", cfgPath, "-restore", backup).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "backup restored") {
		t.Fatalf("clusterd -restore: %v\n%s", err, out)
	}

	start()
	waitFor(t, "the group waiting for an operator", 30*time.Second, func() bool {
		st := status()
		return strings.Contains(st.Message, "waiting for an operator") && strings.Contains(st.Message, "backup restore")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := store.File(ctx, model.Request{Group: "app", Action: model.RequestAccept, Operator: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := store.AwaitReply(ctx, req); err != nil || rep.Code != model.ResultDone {
		t.Fatalf("accept: %+v %v", rep, err)
	}
	waitFor(t, "the group online on the restored data", 30*time.Second, func() bool { return status().State == "Online" })
}

// TestOfflineRestoreWithExternalEtcd: with external etcd the same route
// uses `cluster restore` (here the store it calls) while no node runs.
func TestOfflineRestoreWithExternalEtcd(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.start("node1")
	c.waitStatus("online on node1", onlineOn("node1"))
	c.waitCount(1)
	backup := filepath.Join(t.TempDir(), "backup")
	ctx := context.Background()
	if _, err := c.store.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	c.signal("node1", syscall.SIGTERM)
	c.waitExit("node1", time.Minute)
	if _, err := c.store.Restore(ctx, backup, false); err != nil {
		t.Fatalf("restore with every node stopped: %v", err)
	}
	c.start("node1")
	c.held("node1", "backup restore")
	if rep := c.request(model.Request{Group: "app", Action: model.RequestAccept}); rep.Code != model.ResultDone {
		t.Fatalf("accept: %+v", rep)
	}
	c.waitStatus("online after the accept", onlineOn("node1"))
}
