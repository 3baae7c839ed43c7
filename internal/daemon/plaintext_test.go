package daemon_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum/quorumtest"
)

// TestPlaintextRefusedNamingFileAndKey: clusterd refuses, before it starts
// anything, a plaintext etcd address other machines can reach and a
// password that would cross plaintext, naming the file and the key.
func TestPlaintextRefusedNamingFileAndKey(t *testing.T) {
	bin := clusterdBinary(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name, toml string
		want       []string
	}{
		{"embedded on every interface", `
[quorum.embedded]
client_url = "http://0.0.0.0:2379"
peer_url = "http://10.1.2.3:2380"
`, []string{
			`quorum.embedded: client_url: "http://0.0.0.0:2379" is plaintext on an address other machines can reach`,
			`quorum.embedded: peer_url: "http://10.1.2.3:2380" is plaintext on an address other machines can reach`,
		}},
		{"embedded on loopback without insecure_plaintext", `
[quorum.embedded]
client_url = "http://127.0.0.1:2379"
`, []string{
			`quorum.embedded: client_url: "http://127.0.0.1:2379" is plaintext: every local user could read and change the cluster database; use https://, or set quorum.insecure_plaintext = true`,
		}},
		{"external password over plaintext", `
[quorum]
mode = "external"
[quorum.external]
endpoints = ["http://etcd1.example:2379"]
username = "resmon"
password = "s3cret"
`, []string{
			`quorum.external: endpoints: item 1: "http://etcd1.example:2379" is plaintext on an address other machines can reach`,
			`quorum.external: password: the password would cross "http://etcd1.example:2379" in clear`,
		}},
		{"insecure_plaintext does not open other hosts", `
[quorum]
mode = "external"
insecure_plaintext = true
[quorum.external]
endpoints = ["http://10.0.0.5:2379"]
`, []string{
			`quorum.external: endpoints: item 1: "http://10.0.0.5:2379" is plaintext on an address other machines can reach`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".toml")
			os.WriteFile(cfg, []byte("[node]\nname = \"node1\"\n"+c.toml), 0o600)
			out, err := exec.Command(bin, "-config", cfg).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2:\n%s", err, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), cfg+": "+w) {
					t.Errorf("output lacks %q:\n%s", cfg+": "+w, out)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
				t.Errorf("a refused configuration created its data dir")
			}
		})
	}
}

// TestInsecurePlaintextWarnsAtEveryStart: a node that reaches a plaintext
// etcd on loopback with insecure_plaintext = true runs, and says so every
// time it starts.
func TestInsecurePlaintextWarnsAtEveryStart(t *testing.T) {
	m, _ := quorumtest.StartWith(t, quorumtest.Options{Plaintext: true})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cluster.toml")
	text := fmt.Sprintf("[cluster]\nname = \"pt\"\n[node]\nname = \"node1\"\ndata_dir = %q\n[quorum]\nmode = \"external\"\ninsecure_plaintext = true\n[quorum.external]\nendpoints = [%q]\n",
		filepath.Join(dir, "data"), m.Endpoints()[0])
	os.WriteFile(cfg, []byte(text), 0o600)
	for run := 1; run <= 2; run++ {
		logs := &syncBuffer{}
		cmd := exec.Command(clusterdBinary(t), "-config", cfg)
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the node to join", 30*time.Second, func() bool { return strings.Contains(logs.String(), "node joined") })
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, logs.String())
		}
		if !strings.Contains(logs.String(), "[WARN]  clusterd: quorum.insecure_plaintext is set: etcd traffic on loopback may be plaintext") {
			t.Fatalf("run %d logged no warning:\n%s", run, logs.String())
		}
	}
}
