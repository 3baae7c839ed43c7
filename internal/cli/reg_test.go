package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/admin"
	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/internal/cli"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
	"github.com/resmon/resmon/testutil/testpki"
)

const onyone = `SOFTWARE\Microsoft\onyone`

func TestRegCommandsAgainstANode(t *testing.T) {
	n := startNode(t, "", "")
	if fi, err := os.Lstat(strings.TrimPrefix(n.admin, "unix:")); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("clusterd's admin socket: %v %v, want a socket with mode 0600", fi, err)
	}

	// set, every type, then get and list them back.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"reg", "set", onyone, "Name", "Onyone server"}, `Set SOFTWARE\Microsoft\onyone value 'Name' (REG_SZ) to Onyone server.`},
		{[]string{"reg", "set", "-type", "dword", onyone, "Port", "0x1b58"}, "(REG_DWORD) to 0x00001b58 (7000)"},
		{[]string{"reg", "set", onyone, "Big", "-type", "qword", "18446744073709551615"}, "(REG_QWORD)"},
		{[]string{"reg", "set", "-type", "expand_string", onyone, "Home", "%HOME%"}, "(REG_EXPAND_SZ)"},
		{[]string{"reg", "set", "-type", "multi_string", onyone, "Peers", "a", "b"}, "a | b"},
		{[]string{"reg", "set", "-type", "binary", onyone + `\Keys`, "Blob", "de,ad,be,ef"}, "deadbeef"},
		{[]string{"reg", "set", onyone, "", "the default"}, "value '(default)'"},
	} {
		if out := n.ok(c.args...); !strings.Contains(out, c.want) {
			t.Errorf("%q: %q lacks %q", c.args, out, c.want)
		}
	}
	// Each change is in the event log with who made it: the CLI's uid, as
	// the kernel told the node through the socket.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if evs := adminEvents(t, n, "admin.registry.set"); len(evs) != 7 || evs[0].Fields["operator"] != "uid="+me.Uid+"("+me.Username+")" ||
		evs[0].Subject != onyone || evs[0].Fields["pid"] == "" || !strings.Contains(evs[0].Message, `"Name"`) {
		t.Errorf("admin.registry.set events: %+v", evs)
	}
	if out := n.ok("reg", "get", `hklm\software\microsoft\ONYONE`, "port"); !strings.Contains(out, "Port  REG_DWORD  0x00001b58 (7000)") {
		t.Errorf("get:\n%s", out)
	}
	out := n.ok("reg", "list", onyone)
	for _, want := range []string{`Key SOFTWARE\Microsoft\onyone: 1 subkeys, 6 values`, `Keys\ <key>`, "(default) REG_SZ the default", "Peers REG_MULTI_SZ a | b", "18446744073709551615"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	var l admin.Listing
	if err := json.Unmarshal([]byte(n.ok("-o", "json", "reg", "list", onyone)), &l); err != nil || len(l.Values) != 6 || l.SubKeys[0] != "Keys" {
		t.Fatalf("list JSON: %v %+v", err, l)
	}
	var got struct {
		Key  string
		Name string
		Type string
		Data json.RawMessage
	}
	if err := json.Unmarshal([]byte(n.ok("-o", "json", "reg", "get", onyone, "Port")), &got); err != nil || got.Type != "dword" || string(got.Data) != "7000" {
		t.Fatalf("get JSON: %v %+v", err, got)
	}

	// The same node by name (its presence record) and by address.
	if out := n.ok("reg", "get", "-node", "node1", onyone, "Name"); !strings.Contains(out, "Onyone server") {
		t.Errorf("-node: %s", out)
	}
	if out := n.ok("reg", "get", "-admin", n.admin, onyone, "Name"); !strings.Contains(out, "Onyone server") {
		t.Errorf("-admin: %s", out)
	}

	// Rule 1 through the CLI: the checkpointed key changed while the
	// resource is online, so its CPT in etcd follows.
	waitUntil(t, "the CPT to hold Port 7000", func() bool {
		data, _, err := n.store.GetCheckpoint(context.Background(), resourceID(t, n, "Network Name DATA"), model.RegistryCheckpoint, 1)
		if err != nil {
			return false
		}
		d, err := checkpoint.Decode(data, nil)
		if err != nil || d.Tree == nil {
			return false
		}
		v, ok := d.Tree.Value("", "Port")
		return ok && v.Num == 7000
	}, nil, &testbin.Output{})

	// export, delete the key, import it back.
	exported := n.ok("reg", "export", onyone)
	if !strings.HasPrefix(exported, "Windows Registry Editor Version 5.00") || !strings.Contains(exported, `"Port"=dword:00001b58`) {
		t.Fatalf("export:\n%s", exported)
	}
	file := filepath.Join(t.TempDir(), "onyone.reg")
	if out := n.ok("reg", "export", "-utf16", "-file", file, onyone); !strings.Contains(out, "Exported") {
		t.Fatalf("export -file: %s", out)
	}
	if b, _ := os.ReadFile(file); !bytes.HasPrefix(b, []byte{0xFF, 0xFE}) {
		t.Fatalf("-utf16 file starts % x", b[:min(2, len(b))])
	}
	if out := n.ok("reg", "delete", "-key", onyone); !strings.Contains(out, "Deleted key") {
		t.Fatalf("delete -key: %s", out)
	}
	n.fails(cli.ExitNotFound, "not found", "reg", "get", onyone, "Port")
	if out := n.ok("reg", "import", file); !strings.Contains(out, "2 keys, 7 values set") {
		t.Fatalf("import: %s", out)
	}
	if again := n.ok("reg", "export", onyone); again != exported {
		t.Fatalf("export after import differs:\n%s\n---\n%s", exported, again)
	}
	out, errOut, code := n.clusterIn("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\Piped]\n\"x\"=\"1\"\n", "-o", "json", "reg", "import", "-")
	var res admin.ImportResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Keys != 1 || res.Values != 1 {
		t.Fatalf("import from stdin: exit %d %s %s", code, out, errOut)
	}
	if out := n.ok("reg", "delete", onyone, "Port"); !strings.Contains(out, "Deleted") {
		t.Fatalf("delete value: %s", out)
	}

	// Bad input: a clear message, a non-zero exit, nothing changed.
	before := n.ok("reg", "export", onyone)
	bad := filepath.Join(t.TempDir(), "bad.reg")
	os.WriteFile(bad, []byte("Windows Registry Editor Version 5.00\n\n[HKLM\\SOFTWARE\\Microsoft\\onyone]\n\"New\"=\"1\"\n\"Port\"=dword:nothex\n"), 0o600)
	for _, c := range []struct {
		code int
		msg  string
		args []string
	}{
		{cli.ExitUsage, `key path 'SOFTWARE\\Microsoft' is malformed`, []string{"reg", "set", `SOFTWARE\\Microsoft`, "x", "y"}},
		{cli.ExitUsage, `unknown value type "text"`, []string{"reg", "set", "-type", "text", onyone, "x", "y"}},
		{cli.ExitUsage, `value "Port" (dword): 70000000000 does not fit 32 bits`, []string{"reg", "set", "-type", "dword", onyone, "Port", "70000000000"}},
		{cli.ExitUsage, `value "Blob" (binary): data "xyz" is not hex`, []string{"reg", "set", "-type", "binary", onyone, "Blob", "xyz"}},
		{cli.ExitFailed, `value "L": element 1 is empty`, []string{"reg", "set", "-type", "multi_string", onyone, "L", "a", ""}},
		{cli.ExitFailed, "bad.reg:5", []string{"reg", "import", bad}},
		{cli.ExitUsage, "expected KEY NAME (or -key KEY for the whole key)", []string{"reg", "delete", onyone}},
		{cli.ExitNotFound, `value "Nope"`, []string{"reg", "delete", onyone, "Nope"}},
		{cli.ExitNotFound, `node "node9" is not up`, []string{"reg", "list", "-node", "node9"}},
		{cli.ExitUnreachable, "unreachable", []string{"reg", "list", "-admin", "unix:" + filepath.Join(n.dir, "nobody.sock")}},
		{cli.ExitUsage, `unknown subcommand "frob"`, []string{"reg", "frob"}},
		{cli.ExitUsage, "give -node or -admin, not both", []string{"reg", "list", "-node", "node1", "-admin", n.admin}},
	} {
		n.fails(c.code, c.msg, c.args...)
	}
	if after := n.ok("reg", "export", onyone); after != before {
		t.Fatalf("a refused command changed the registry:\n%s\n---\n%s", before, after)
	}
}

// adminEvents returns the events of kind in the node's event log.
func adminEvents(t *testing.T, n *node, kind string) []quorum.Event {
	t.Helper()
	evs, err := n.store.Events(context.Background(), time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []quorum.Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func resourceID(t *testing.T, n *node, name string) string {
	t.Helper()
	r, err := n.store.ResourceByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r.Value.ID
}

// TestRegOverMutualTLS: a node serving its admin API on TCP with mutual
// TLS; the CLI presents the certificate of the configuration or of the
// flags, and a client without one is refused.
func TestRegOverMutualTLS(t *testing.T) {
	pkiDir := t.TempDir()
	ca := testpki.NewCA(t, pkiDir, "cluster")
	cert, key := ca.Issue(t, "node1")
	addr := "tcp:" + freeHostPort(t)
	n := startNode(t, addr, "admin_cert = '"+cert+"'\nadmin_key = '"+key+"'\nadmin_ca = '"+ca.File+"'")
	if out := n.ok("reg", "set", `SOFTWARE\tls`, "v", "over TLS"); !strings.Contains(out, "over TLS") {
		t.Fatalf("set over mTLS: %s", out)
	}
	opCert, opKey := ca.Issue(t, "operator")
	if out := n.ok("reg", "get", "-admin", addr, "-admin-cert", opCert, "-admin-key", opKey, "-admin-ca", ca.File, `SOFTWARE\tls`, "v"); !strings.Contains(out, "over TLS") {
		t.Fatalf("get with flags: %s", out)
	}
	n.ok("reg", "delete", "-admin", addr, "-admin-cert", opCert, "-admin-key", opKey, "-admin-ca", ca.File, `SOFTWARE\tls`, "v")
	// Who made each change is the CN of the certificate presented: the
	// configuration's (node1), then the operator's.
	if evs := adminEvents(t, n, "admin.registry.set"); len(evs) != 1 || evs[0].Fields["operator"] != "cn=node1" {
		t.Errorf("set events: %+v", evs)
	}
	if evs := adminEvents(t, n, "admin.registry.delete-value"); len(evs) != 1 || evs[0].Fields["operator"] != "cn=operator" {
		t.Errorf("delete events: %+v", evs)
	}
	other := testpki.NewCA(t, t.TempDir(), "other")
	oCert, oKey := other.Issue(t, "intruder")
	n.fails(cli.ExitUnreachable, "unreachable", "reg", "get", "-admin", addr, "-admin-cert", oCert, "-admin-key", oKey, "-admin-ca", ca.File, `SOFTWARE\tls`, "v")
	// Without any certificate (an endpoint-only CLI with no configuration).
	out, errOut, code := n.runBare("-endpoints", "http://127.0.0.1:1", "reg", "get", "-admin", addr, `SOFTWARE\tls`, "v")
	if code != cli.ExitUnreachable || !strings.Contains(errOut, "mutual TLS") {
		t.Fatalf("no certificate: exit %d %s %s", code, out, errOut)
	}
}

func freeHostPort(t *testing.T) string {
	return strings.TrimPrefix(quorumtest.FreeURL(t), "http://")
}

// TestRegChangeUnderACheckpointOfAnOfflineResourceWarns: a change to a
// checkpointed key while its resource is not online here is made, but the
// answer says that the checkpoint will replace it at the next Online (rule
// 2); while the resource is online here there is nothing to say. (Such a
// change once exited 0 in silence and was gone at the next Online.)
func TestRegChangeUnderACheckpointOfAnOfflineResourceWarns(t *testing.T) {
	n := startNode(t, "", "")
	key := onyone + `\Settings`
	if _, errOut, code := n.cluster("reg", "set", key, "Mode", "fast"); code != 0 || errOut != "" {
		t.Fatalf("set while online here: exit %d, stderr %q", code, errOut)
	}
	n.ok("resource", "Network Name DATA", "offline")
	out, errOut, code := n.cluster("reg", "set", key, "Mode", "slow")
	if code != 0 || !strings.Contains(out, "Set ") || !strings.Contains(errOut, `warning: SOFTWARE\Microsoft\onyone is checkpointed by resource "Network Name DATA", which is not online on this node`) {
		t.Fatalf("set while offline: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	var got struct{ Warnings []string }
	if err := json.Unmarshal([]byte(n.ok("-o", "json", "reg", "set", key, "Mode", "slower")), &got); err != nil || len(got.Warnings) != 1 {
		t.Fatalf("set -o json while offline: %+v, %v", got, err)
	}
	if _, errOut, _ := n.cluster("reg", "delete", "-key", key); !strings.Contains(errOut, "warning: ") {
		t.Fatalf("delete -key while offline: stderr %q", errOut)
	}
}

// TestLargeImportIsWaitedFor: a .reg import the node needs longer than the
// CLI's -timeout for is waited for, with the number of keys announced, and
// its result reported. (A large import once made the CLI give up after 30 s
// saying the node was unreachable, and the node applied it afterwards.)
func TestLargeImportIsWaitedFor(t *testing.T) {
	n := startNode(t, "", "")
	var b strings.Builder
	b.WriteString("Windows Registry Editor Version 5.00\r\n\r\n")
	const keys = 100_000
	for i := range keys {
		fmt.Fprintf(&b, "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Large\\K%06d]\r\n\"v\"=\"%d\"\r\n\r\n", i, i)
	}
	file := filepath.Join(t.TempDir(), "large.reg")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := n.exec("", "-config", n.cfg, "-timeout", "100ms", "reg", "import", file)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("Importing %s (%d keys", file, keys)) || !strings.Contains(out, fmt.Sprintf("%d keys, %d values set", keys, keys)) {
		t.Fatalf("import with -timeout 100ms: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}
