package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/resmon/resmon/internal/cli"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
)

const genappTOML = embeddedNodeTOML + `
[[group]]
name = "onyone"
preferred_owners = ["node1"]
persistent_state = true

[[resource]]
name = "sleeper"
type = "testtype"
group = "onyone"
[resource.private]
CommandLine = "sleep 600"
`

// TestTypedPrivateProperties: the Generic Application describes its
// private properties (sdk.Describer) through the go-plugin transport, the
// node publishes the description, and `resource set` checks values
// against it in the type's words before anything is written.
func TestTypedPrivateProperties(t *testing.T) {
	genapp := testbin.Build(t, "github.com/resmon/resmon/examples/genapp/cmd/genapp")
	dir := shortDir(t)
	admin := "unix:" + filepath.Join(dir, "admin.sock")
	clientURL := quorumtest.FreeTLSURL(t)
	cfg := filepath.Join(dir, "cluster.toml")
	text := fmt.Sprintf(genappTOML, filepath.Join(dir, "data"), admin, "", clientURL, quorumtest.FreeTLSURL(t), "plugin", genapp)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	exited, logs := runClusterd(t, cfg)
	n := &node{t: t, bin: clusterBinary(t), cfg: cfg, dir: dir, admin: admin}
	n.waitOnline(clientURL, exited, logs)
	waitUntil(t, "the description published", func() bool {
		_, err := n.store.TypeSchema(context.Background(), "testtype")
		return err == nil
	}, exited, logs)

	if out := n.ok("type", "testtype"); !strings.Contains(out, "CommandLine") || !strings.Contains(out, "string, required") ||
		!strings.Contains(out, "list|table") {
		t.Fatalf("type shows no description:\n%s", out)
	}
	for _, c := range []struct{ msg, kv string }{
		{`Bogus: not a property of type "testtype" (it has: CommandLine, CurrentDirectory`, "Bogus=1"},
		{"StopTimeout: want a duration or an integer, got a list (StopTimeout: how long Offline waits", `StopTimeout=[1]`},
		{"Environment: want a list (JSON array) or a table (JSON object), got the string", "Environment=A=1"},
		{"is not valid JSON", `Environment=[1,`},
		{`CommandLine: required by type "testtype"`, "CommandLine="},
	} {
		n.fails(cli.ExitFailed, c.msg, "resource", "sleeper", "set", "-private", c.kv)
	}
	n.ok("resource", "sleeper", "set", "-private", `Environment=["A=1","B=2"]`, "-private", "StopTimeout=30s", "-private", "HealthTCP=127.0.0.1:9")
	r, err := n.store.ResourceByName(context.Background(), "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Value.Private["Environment"], []any{"A=1", "B=2"}) || r.Value.Private["StopTimeout"] != "30s" {
		t.Fatalf("private properties: %#v", r.Value.Private)
	}
	// A string property keeps what was typed, even when it looks like a number.
	n.ok("resource", "sleeper", "set", "-private", "CurrentDirectory=0755")
	if r, _ := n.store.ResourceByName(context.Background(), "sleeper"); r.Value.Private["CurrentDirectory"] != "0755" {
		t.Fatalf("CurrentDirectory: %#v", r.Value.Private["CurrentDirectory"])
	}
}
