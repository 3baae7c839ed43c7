package daemon_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
)

// TestRootConfigRuns runs the repository's cluster.toml as the README's
// run command does (binaries in bin/, the file as written, only its ports
// moved): a single node with an embedded etcd brings both example groups
// online, then stops cleanly on SIGTERM.
func TestRootConfigRuns(t *testing.T) {
	dir, err := os.MkdirTemp("", "root-") // short: sockets live under it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	for name, src := range map[string]string{
		"clusterd":    testbin.Build(t, "github.com/resmon/resmon/cmd/clusterd"),
		"genapp":      testbin.Build(t, "github.com/resmon/resmon/examples/genapp/cmd/genapp"),
		"genapp.wasm": testbin.BuildWASM(t, "github.com/resmon/resmon/examples/genapp-wasm"),
	} {
		if err := os.Symlink(src, filepath.Join(dir, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("../../cluster.toml")
	if err != nil {
		t.Fatal(err)
	}
	client := freeAddr(t)
	cfg := strings.NewReplacer("127.0.0.1:2379", client, "127.0.0.1:2380", freeAddr(t), "127.0.0.1:9464", freeAddr(t)).Replace(string(b))
	if err := os.WriteFile(filepath.Join(dir, "cluster.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "bin", "clusterd"), "-config", "cluster.toml")
	cmd.Dir = dir
	logs := &syncBuffer{}
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
			t.Logf("--- clusterd ---\n%s", logs.String())
		}
	})
	var store *quorum.Store
	waitFor(t, "etcd", 60*time.Second, func() bool {
		// As the operator the node made in its PKI on its first start.
		cc := quorumtest.PKIClientConfig(filepath.Join(dir, "data", "node1", "pki"), "resmon", "https://"+client)
		cc.DialTimeout = 200 * time.Millisecond
		cli, err := quorum.Connect(context.Background(), cc)
		if err != nil {
			return false
		}
		t.Cleanup(func() { cli.Close() })
		store, _ = quorum.NewStore(cli, "resmon", nil)
		return true
	})
	waitFor(t, "both example groups online", 60*time.Second, func() bool {
		sts, err := store.GroupStatuses(context.Background())
		return err == nil && sts["onyone"].State == "Online" && sts["sandboxed"].State == "Online"
	})
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("clusterd after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("clusterd did not stop after SIGTERM")
	}
}
