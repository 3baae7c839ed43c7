package cli_test

import (
	"bytes"
	"context"
	"fmt"
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
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A real clusterd node with an embedded etcd on free 127.0.0.1 ports, one
// group "onyone" of three resources of the go-plugin test type, and its
// admin API on a unix socket; the cluster CLI reaches both through the
// node's own cluster.toml, as an operator on that machine would.

// embeddedNodeTOML is node1 with an embedded etcd and the test type of a
// kind ("plugin" or "wasm"); the groups and resources follow it.
const embeddedNodeTOML = `
[cluster]
name = "ci"
[node]
name = "node1"
data_dir = %q
admin = %q
%s
[quorum]
lease_ttl = "2s"
[quorum.embedded]
client_url = %q
peer_url = %q
heartbeat = "10ms"
election = "100ms"

[[resource_type]]
name = "testtype"
kind = %q
path = %q
`

const nodeTOML = embeddedNodeTOML + `
[[group]]
name = "onyone"
preferred_owners = ["node1"]
persistent_state = true # online from the start

[[resource]]
name = "Disk P:"
type = "testtype"
group = "onyone"

[[resource]]
name = "Network Name DATA"
type = "testtype"
group = "onyone"
registry_checkpoints = ['SOFTWARE\Microsoft\onyone']

[[resource]]
name = "File Share"
type = "testtype"
group = "onyone"
`

type node struct {
	t     *testing.T
	bin   string // the cluster CLI
	cfg   string // the node's cluster.toml
	dir   string
	admin string
	store *quorum.Store
	raw   *clientv3.Client // etcd itself, to write around the store
}

// startNode runs clusterd until the test ends and waits until its group is
// online. admin is node.admin ("" for a unix socket in the data dir);
// extraNode are more [node] lines.
func startNode(t *testing.T, admin, extraNode string) *node {
	t.Helper()
	plugin := testbin.Build(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-plugin")
	// A short data dir: the admin socket and the plugin host's sockets
	// must fit 107 bytes.
	dir := shortDir(t)
	if admin == "" {
		admin = "unix:" + filepath.Join(dir, "admin.sock")
	}
	clientURL := quorumtest.FreeTLSURL(t)
	cfg := filepath.Join(dir, "cluster.toml")
	text := fmt.Sprintf(nodeTOML, filepath.Join(dir, "data"), admin, extraNode, clientURL, quorumtest.FreeTLSURL(t), "plugin", plugin)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	exited, logs := runClusterd(t, cfg)
	n := &node{t: t, bin: clusterBinary(t), cfg: cfg, dir: dir, admin: admin}
	n.waitOnline(clientURL, exited, logs)
	return n
}

// waitOnline connects n.store to the node's etcd at clientURL and waits
// until the node owns group onyone and has it online.
func (n *node) waitOnline(clientURL string, exited <-chan struct{}, logs *testbin.Output) {
	t := n.t
	t.Helper()
	waitUntil(t, "etcd of the node", func() bool {
		// As the operator the node made in its PKI on its first start.
		cc := quorumtest.PKIClientConfig(filepath.Join(n.dir, "data", "pki"), "ci", clientURL)
		cc.DialTimeout = 200 * time.Millisecond
		cli, err := quorum.Connect(context.Background(), cc)
		if err != nil {
			return false
		}
		t.Cleanup(func() { cli.Close() })
		n.store, _ = quorum.NewStore(cli, "ci", nil)
		n.raw = cli
		return true
	}, exited, logs)
	waitUntil(t, "group onyone online on node1", func() bool {
		st, err := n.store.GroupStatus(context.Background(), "onyone")
		return err == nil && st.State == "Online" && st.Owner == "node1"
	}, exited, logs)
}

// runClusterd starts clusterd with cfg until the test ends; the channel
// closes when it exits.
func runClusterd(t *testing.T, cfg string) (<-chan struct{}, *testbin.Output) {
	t.Helper()
	logs := &testbin.Output{}
	cmd := exec.Command(testbin.Build(t, "github.com/resmon/resmon/cmd/clusterd"), "-config", cfg)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("--- log of clusterd -config %s ---\n%s", cfg, logs.String())
		}
	})
	return exited, logs
}

// shortDir is a temporary directory with a path short enough for unix sockets.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cli-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// waitUntil polls cond until it holds, failing after 30 s or if clusterd exits.
func waitUntil(t *testing.T, what string, cond func() bool, exited <-chan struct{}, logs *testbin.Output) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case <-exited:
			t.Fatalf("clusterd exited while waiting for %s:\n%s", what, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s:\n%s", what, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cluster runs the CLI with the node's configuration.
func (n *node) cluster(args ...string) (stdout, stderr string, code int) {
	n.t.Helper()
	return n.clusterIn("", args...)
}

// clusterIn is cluster with standard input.
func (n *node) clusterIn(stdin string, args ...string) (stdout, stderr string, code int) {
	n.t.Helper()
	return n.exec(stdin, append([]string{"-config", n.cfg, "-timeout", "20s"}, args...)...)
}

// runBare runs the CLI without the node's configuration.
func (n *node) runBare(args ...string) (stdout, stderr string, code int) {
	n.t.Helper()
	return n.exec("", append([]string{"-config", filepath.Join(n.dir, "none.toml"), "-timeout", "20s"}, args...)...)
}

func (n *node) exec(stdin string, args ...string) (stdout, stderr string, code int) {
	n.t.Helper()
	cmd := exec.Command(n.bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, strings.NewReader(stdin)
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// ok runs the CLI and fails the test unless it exits 0.
func (n *node) ok(args ...string) string {
	n.t.Helper()
	out, errOut, code := n.cluster(args...)
	if code != 0 {
		n.t.Fatalf("cluster %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

// fails runs the CLI and checks that it fails with code and a message on stderr.
func (n *node) fails(code int, msg string, args ...string) {
	n.t.Helper()
	out, errOut, got := n.cluster(args...)
	if got != code || !strings.Contains(errOut, msg) {
		n.t.Errorf("cluster %q: exit %d, stderr %q (stdout %q); want exit %d and %q", args, got, errOut, out, code, msg)
	}
}
