package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func clusterdBinary(t testing.TB) string {
	return testbin.Build(t, "github.com/resmon/resmon/cmd/clusterd")
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const nodeConfig = `
[cluster]
name = "ci"

[node]
name = "%s"
data_dir = "%s"

[log]
format = "%s"

[quorum]
lease_ttl = "2s"

[quorum.embedded]
client_url = "%s"
peer_url = "%s"
heartbeat = "10ms"
election = "100ms"

[[resource_type]]
name = "Generic Application"
kind = "plugin"
path = "bin/genapp"

[[group]]
name = "onyone"
preferred_owners = ["%s"]

[[resource]]
name = "Network Name DATA"
type = "Generic Application"
group = "onyone"
registry_checkpoints = ['SOFTWARE\Microsoft\onyone', 'SOFTWARE\Microsoft\onyone2']
`

func TestClusterdRunsJoinsBootstrapsAndLeavesOnSIGTERM(t *testing.T) {
	bin := clusterdBinary(t)
	dir := t.TempDir()
	clientURL, peerURL := quorumtest.FreeTLSURL(t), quorumtest.FreeTLSURL(t)
	cfgPath := filepath.Join(dir, "cluster.toml")
	cfg := fmt.Sprintf(nodeConfig, "node1", filepath.Join(dir, "data"), "json", clientURL, peerURL, "node1")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Stderr = &logs
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
	})

	var cli *clientv3.Client
	waitFor(t, "clusterd to serve etcd", 30*time.Second, func() bool {
		// As the operator the node made in its PKI on its first start.
		cc := quorumtest.PKIClientConfig(filepath.Join(dir, "data", "pki"), "ci", clientURL)
		cc.DialTimeout = 200 * time.Millisecond
		c, err := quorum.Connect(context.Background(), cc)
		if err != nil {
			return false
		}
		cli = c
		return true
	})
	defer cli.Close()
	keys := quorum.NewKeys("ci")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(t, "the node's presence key", 30*time.Second, func() bool {
		r, err := cli.Get(ctx, keys.Node("node1"))
		return err == nil && len(r.Kvs) == 1
	})
	r, _ := cli.Get(ctx, keys.Node("node1"))
	var info map[string]any
	if err := json.Unmarshal(r.Kvs[0].Value, &info); err != nil {
		t.Fatalf("presence value is not JSON: %s", r.Kvs[0].Value)
	}
	if r.Kvs[0].Lease == 0 {
		t.Fatal("presence key is not bound to a lease")
	}
	// The database was bootstrapped from the configuration.
	s, _ := quorum.NewStore(cli, "ci", nil)
	res, err := s.ResourceByName(ctx, "Network Name DATA")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Value.RegistryCheckpoints; len(got) != 2 || got[0] != `SOFTWARE\Microsoft\onyone` {
		t.Fatalf("checkpoints: %q", got)
	}
	waitFor(t, "join and bootstrap events", 10*time.Second, func() bool {
		evs, err := s.Events(ctx, time.Time{}, 0)
		kinds := map[string]bool{}
		for _, e := range evs {
			kinds[e.Kind] = true
		}
		return err == nil && kinds["node.join"] && kinds["cluster.bootstrap"]
	})

	// The README's inspection command shows readable keys, with the
	// operator's certificate.
	pkiDir := filepath.Join(dir, "data", "pki")
	out, err := exec.Command("go", "tool", "etcdctl", "--endpoints", clientURL, "--cacert", filepath.Join(pkiDir, "ca.pem"),
		"--cert", filepath.Join(pkiDir, "operators", "admin.pem"), "--key", filepath.Join(pkiDir, "operators", "admin-key.pem"),
		"get", "--prefix", "/resmon/ci/").CombinedOutput()
	if err != nil {
		t.Fatalf("go tool etcdctl: %v\n%s", err, out)
	}
	for _, want := range []string{"/resmon/ci/nodes/node1", `"node":"node1"`, "/resmon/ci/db/resources/", `"name":"Network Name DATA"`, "/resmon/ci/events/", `"kind":"node.join"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("etcdctl output lacks %q:\n%s", want, out)
		}
	}

	// SIGTERM: the node revokes its lease and exits 0.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	gone := cli.Watch(wctx, keys.Node("node1"), clientv3.WithFilterPut())
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatalf("presence key not deleted after SIGTERM; logs:\n%s", logs.String())
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("clusterd exited with %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("clusterd did not exit after SIGTERM; logs:\n%s", logs.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
	}
	if strings.Contains(logs.String(), "fenced") {
		t.Fatalf("a clean stop was logged as a fence:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "left the cluster") {
		t.Fatalf("no leave in logs:\n%s", logs.String())
	}
}

func TestClusterdRestartKeepsDatabaseAndReportsDifferences(t *testing.T) {
	bin := clusterdBinary(t)
	dir := t.TempDir()
	clientURL, peerURL := quorumtest.FreeTLSURL(t), quorumtest.FreeTLSURL(t)
	cfgPath := filepath.Join(dir, "cluster.toml")
	write := func(extra string) {
		cfg := fmt.Sprintf(nodeConfig, "node1", filepath.Join(dir, "data"), "text", clientURL, peerURL, "node1") + extra
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runUntilJoined := func() string {
		var logs syncBuffer
		cmd := exec.Command(bin, "-config", cfgPath)
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(logs.String(), "node joined") {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no join within 30s:\n%s", logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
		return logs.String()
	}
	write("")
	first := runUntilJoined()
	if !strings.Contains(first, "bootstrapped the cluster database") {
		t.Fatalf("first run did not bootstrap:\n%s", first)
	}
	write("restart_threshold = 9\n")
	second := runUntilJoined()
	if strings.Contains(second, "bootstrapped") {
		t.Fatalf("second run bootstrapped again (data not kept):\n%s", second)
	}
	if !strings.Contains(second, `restart_threshold: cluster.toml 9, database 3`) {
		t.Fatalf("difference not reported:\n%s", second)
	}
}

func TestClusterdBadConfigExits2WithFileAndKey(t *testing.T) {
	bin := clusterdBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "cluster.toml")
	os.WriteFile(cfgPath, []byte("[cluster]\nname = \"x\"\nbogus = 1\n"), 0o600)
	out, err := exec.Command(bin, "-config", cfgPath).CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "cluster.toml") || !strings.Contains(string(out), "bogus") {
		t.Fatalf("error does not name the file and key:\n%s", out)
	}
}
