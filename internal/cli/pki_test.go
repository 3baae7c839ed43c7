package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resmon/resmon/internal/cli"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
)

// TestPKICommandsAndOperatorIdentity runs the pki commands against a real
// node (which made its PKI on its first start) and checks that etcd holds
// each operator to its role and that every change the CLI makes is in the
// event log with the operator who made it.
func TestPKICommandsAndOperatorIdentity(t *testing.T) {
	n := startNode(t, "", "")
	out := n.ok("pki", "list")
	for _, want := range []string{"ca ", "node1", "CN=node1,OU=node,O=resmon", "admin", "CN=admin,OU=admin,O=resmon"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pki list lacks %q:\n%s", want, out)
		}
	}
	n.fails(cli.ExitFailed, "already exists", "pki", "init")
	n.fails(cli.ExitFailed, "is a node's name", "pki", "issue", "operator", "node1", "-role", "admin")
	n.fails(cli.ExitUsage, "an operator's role is admin or viewer", "pki", "issue", "operator", "bob", "-role", "root")

	// A viewer, registered with etcd as it is issued.
	out = n.ok("pki", "issue", "operator", "vic", "-role", "viewer", "-days", "10")
	if !strings.Contains(out, `Registered etcd user "vic" with role viewer`) {
		t.Fatalf("issue:\n%s", out)
	}
	if _, errOut, code := n.cluster("pki", "list"); code != 0 || !strings.Contains(errOut, "WARNING: operator vic expires in") {
		t.Fatalf("pki list does not warn of vic's expiry: exit %d\n%s", code, errOut)
	}
	if out := n.ok("-operator", "vic", "groups"); !strings.Contains(out, "onyone") {
		t.Fatalf("a viewer cannot read:\n%s", out)
	}
	_, errOut, code := n.cluster("-operator", "vic", "group", "onyone", "offline", "-no-wait")
	if code != cli.ExitFailed || !strings.Contains(errOut, "permission denied") || !strings.Contains(errOut, "a viewer's certificate may only read") {
		t.Fatalf("a viewer's offline: exit %d\n%s", code, errOut)
	}

	// An admin's changes are recorded with the admin's name; values of
	// properties are not.
	n.ok("group", "onyone", "offline")
	n.ok("resource", "File Share", "set", "restart_threshold=5", "-private", "Secret=s3cret")
	n.ok("resource", "File Share", "checkpoint", "add", `SOFTWARE\fs`)
	events := n.ok("-o", "json", "events")
	byKind := map[string]quorum.Event{}
	for _, line := range strings.Split(strings.TrimSpace(events), "\n") {
		var ev quorum.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		if ev.Operator != "" {
			byKind[ev.Kind] = ev
		}
		if strings.Contains(line, "s3cret") {
			t.Errorf("a private value is in the event log: %s", line)
		}
		if ev.Operator == "vic" {
			t.Errorf("a refused change was recorded: %s", line)
		}
	}
	for kind, want := range map[string]string{
		"pki.register":   "root",
		"group.request":  "admin",
		"resource.set":   "admin",
		"checkpoint.add": "admin",
	} {
		if ev, ok := byKind[kind]; !ok || ev.Operator != want {
			t.Errorf("event %s: %+v, want operator %q", kind, ev, want)
		}
	}
	if ev := byKind["resource.set"]; ev.Message != "set restart_threshold, private.Secret" || ev.Subject != "File Share" {
		t.Errorf("resource.set event: %+v", ev)
	}
	if out := n.ok("events"); !strings.Contains(out, "[operator admin]") {
		t.Errorf("events table does not show the operator:\n%s", out)
	}

	// Revoked: vic's files are gone, and a copy kept elsewhere reaches
	// nothing any more.
	d := pki.Dir(filepath.Join(n.dir, "data", "pki"))
	cert, key := d.OperatorFiles("vic")
	keep := t.TempDir()
	for _, f := range []string{cert, key} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(keep, filepath.Base(f)), b, 0o600)
	}
	n.ok("pki", "revoke", "vic")
	if _, errOut, code := n.cluster("-operator", "vic", "groups"); code == 0 || !strings.Contains(errOut, "no certificate for operator") {
		t.Fatalf("vic after revoke: exit %d\n%s", code, errOut)
	}
	_, errOut, code = n.cluster("-cert", filepath.Join(keep, "vic.pem"), "-key", filepath.Join(keep, "vic-key.pem"), "groups")
	if code == 0 || !strings.Contains(errOut, `certificate "vic" may not read /resmon/ci/`) {
		t.Fatalf("vic's kept certificate after revoke: exit %d\n%s", code, errOut)
	}
}
