package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/internal/cli"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/testutil/testbin"
)

// TestClusterExeCheckpointSyntax replays the seed's cluster.exe session:
// the same command lines, the same messages, the same table.
func TestClusterExeCheckpointSyntax(t *testing.T) {
	n := startNode(t, "", "")
	if out := n.ok("resource", "Network Name DATA", `/addcheckpoints:"SOFTWARE\Microsoft\onyone2"`); out !=
		"Adding registry checkpoint 'SOFTWARE\\Microsoft\\onyone2' for resource 'Network Name DATA'...\n" {
		t.Fatalf("add:\n%q", out)
	}
	want := "No resource name specified.\n" +
		"Listing registry checkpoints for all resources...\n" +
		"\n" +
		"Resource             Registry Checkpoint\n" +
		"-------------------- --------------------------------------------------------\n" +
		"Disk P:              None\n" +
		"File Share           None\n" +
		"Network Name DATA    'SOFTWARE\\Microsoft\\onyone'\n" +
		"Network Name DATA    'SOFTWARE\\Microsoft\\onyone2'\n"
	if out := n.ok(".", "resource", "/checkpoints"); out != want {
		t.Fatalf("listing:\n%s\nwant:\n%s", out, want)
	}
	if out := n.ok(".", "/CHECKPOINTS"); out != strings.TrimPrefix(want, "No resource name specified.\n") {
		t.Fatalf("cluster-wide listing:\n%s", out)
	}
	if out := n.ok(".", "res", "network name data", "/checkpoints"); !strings.HasPrefix(out, "Listing registry checkpoints for resource 'Network Name DATA'...\n\nResource ") ||
		strings.Contains(out, "File Share") || strings.Count(out, "Network Name DATA    '") != 2 {
		t.Fatalf("one resource:\n%s", out)
	}
	// The seed's removal line, abbreviation and stray space included.
	if out := n.ok(".", "resource", "Network Name DATA", "/removecheck", `:"\Software\Microsoft\onyone2"`); out !=
		"Removing registry checkpoint 'Software\\Microsoft\\onyone2' for resource 'Network Name DATA'...\n" {
		t.Fatalf("remove:\n%q", out)
	}
	// Crypto checkpoints.
	n.ok("/cluster:ci", "resource", "File Share", `/addcryptocheckpoints:1\Microsoft Base Cryptographic Provider v1.0\share`)
	out := n.ok(".", "resource", "/cryptocheckpoints")
	if !strings.Contains(out, "Resource             Crypto Checkpoint\n") ||
		!strings.Contains(out, "File Share           '1\\Microsoft Base Cryptographic Provider v1.0\\share'\n") ||
		!strings.Contains(out, "Network Name DATA    None\n") {
		t.Fatalf("crypto listing:\n%s", out)
	}
	var rows []struct {
		Resource    string
		Kind        string
		Checkpoints []string
	}
	if err := json.Unmarshal([]byte(n.ok("-o", "json", ".", "resource", "/checkpoints")), &rows); err != nil || len(rows) != 3 ||
		rows[2].Resource != "Network Name DATA" || len(rows[2].Checkpoints) != 1 || rows[0].Checkpoints == nil {
		t.Fatalf("JSON listing: %v %+v", err, rows)
	}

	// Rule 7 through cluster.exe: an overlapping key is refused, naming the holder.
	n.fails(cli.ExitFailed, `is inside registry checkpoint "software\\microsoft\\onyone" of resource "Network Name DATA"`,
		"resource", "File Share", `/addcheckpoints:SOFTWARE\Microsoft\onyone\logs`)
	for _, c := range []struct {
		code int
		msg  string
		args []string
	}{
		{cli.ExitFailed, "already exists", []string{"resource", "Network Name DATA", `/addcheckpoints:software\microsoft\ONYONE`}},
		{cli.ExitNotFound, `resource "Nope"`, []string{"resource", "Nope", `/addcheckpoints:SOFTWARE\x`}},
		{cli.ExitNotFound, "not found", []string{"resource", "Disk P:", `/removecheckpoints:SOFTWARE\x`}},
		{cli.ExitUsage, "empty key name", []string{"resource", "Disk P:", `/addcheckpoints:SOFTWARE\\x`}},
		{cli.ExitUsage, `has 1 parts, want Type\Provider\Container`, []string{"resource", "Disk P:", `/addcryptocheckpoints:just-one-part`}},
		{cli.ExitUsage, "No resource name specified", []string{".", "resource", `/addcheckpoints:SOFTWARE\x`}},
		{cli.ExitUsage, "needs a value", []string{"resource", "Disk P:", "/addcheckpoints"}},
		{cli.ExitUsage, "ambiguous", []string{"resource", "Disk P:", "/add:x"}},
		{cli.ExitUsage, "unknown option /frob", []string{".", "resource", "Disk P:", "/frob"}},
		{cli.ExitUsage, "not supported here", []string{".", "group"}},
	} {
		n.fails(c.code, c.msg, c.args...)
	}
	if out := n.ok(".", "/checkpoints"); !strings.Contains(out, "File Share           None\n") {
		t.Fatalf("a refused command changed the checkpoints:\n%s", out)
	}
}

// TestCheckpointCommands: the native forms, and recovery (rule 10) after
// the CPT data was lost.
func TestCheckpointCommands(t *testing.T) {
	n := startNode(t, "", "")
	ctx := context.Background()
	if out := n.ok("resource", "File Share", "checkpoint", "add", `SOFTWARE\FileShare`, `HKLM\SOFTWARE\FileShare2`); !strings.Contains(out,
		"Added registry checkpoint 'SOFTWARE\\FileShare' (00000001.CPT) to resource 'File Share'.\nAdded registry checkpoint 'SOFTWARE\\FileShare2' (00000002.CPT)") {
		t.Fatalf("add:\n%s", out)
	}
	n.ok("reg", "set", onyone, "Port", "-type", "dword", "7000")
	n.ok("reg", "set", `SOFTWARE\FileShare`, "Share", `\\srv\data`)
	// Online resources save what was added at once.
	id := resourceID(t, n, "File Share")
	waitUntil(t, "the added checkpoint to be saved", func() bool {
		_, _, err := n.store.GetCheckpoint(ctx, id, model.RegistryCheckpoint, 1)
		return err == nil
	}, nil, &testbin.Output{})
	out := n.ok("resource", "File Share", "checkpoint", "list")
	if !strings.Contains(out, `File Share  registry  00000001.CPT  SOFTWARE\FileShare   saved by node1`) {
		t.Fatalf("resource checkpoint list:\n%s", out)
	}
	out = n.ok("checkpoint", "list")
	for _, want := range []string{"Disk P:  -", `Network Name DATA  registry  00000001.CPT  SOFTWARE\Microsoft\onyone`} {
		if !strings.Contains(strings.Join(strings.Fields(out), "  "), strings.Join(strings.Fields(want), "  ")) {
			t.Errorf("checkpoint list lacks %q:\n%s", want, out)
		}
	}
	var rows []struct {
		Resource    string
		Checkpoints []struct{ Kind, Path, File, Status string }
	}
	if err := json.Unmarshal([]byte(n.ok("-o", "json", "checkpoint", "list")), &rows); err != nil || len(rows) != 3 || len(rows[1].Checkpoints) != 2 {
		t.Fatalf("checkpoint list JSON: %v %+v", err, rows)
	}

	// Lose the data of Network Name DATA's checkpoint, then recover it.
	nid := resourceID(t, n, "Network Name DATA")
	waitUntil(t, "Network Name DATA's checkpoint to be saved", func() bool {
		ms, err := n.store.ListCheckpoints(ctx, nid)
		return err == nil && len(ms) == 1
	}, nil, &testbin.Output{})
	if _, err := n.raw.Delete(ctx, n.store.Keys().Checkpoint(nid, model.RegistryCheckpoint, 1)); err != nil {
		t.Fatal(err)
	}
	if out := n.ok("checkpoint", "list"); !strings.Contains(out, "no data") {
		t.Fatalf("lost data not shown:\n%s", out)
	}
	out = n.ok("checkpoint", "recover", "--resource", "network name data")
	if want := "Resource 'Network Name DATA': re-created 1 checkpoint(s) from the registry of node node1: 00000001.CPT SOFTWARE\\Microsoft\\onyone\n"; out != want {
		t.Fatalf("recover:\n%s\nwant:\n%s", out, want)
	}
	data, _, err := n.store.GetCheckpoint(ctx, nid, model.RegistryCheckpoint, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := checkpoint.Decode(data, nil); err != nil || d.Tree == nil {
		t.Fatalf("recovered CPT: %v", err)
	} else if v, ok := d.Tree.Value("", "Port"); !ok || v.Num != 7000 {
		t.Fatalf("recovered CPT lacks Port 7000: %+v", d.Tree)
	}
	out = n.ok("checkpoint", "recover", "-all")
	for _, want := range []string{"Resource 'Disk P:': no checkpoints\n", "Resource 'File Share': re-created 2 checkpoint(s)", "Resource 'Network Name DATA': re-created 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("recover -all lacks %q:\n%s", want, out)
		}
	}
	var results []checkpoint.RecoverResult
	if err := json.Unmarshal([]byte(n.ok("-o", "json", "checkpoint", "recover", "-all")), &results); err != nil || len(results) != 3 || results[1].Node != "node1" {
		t.Fatalf("recover JSON: %v %+v", err, results)
	}

	// Remove, then the bad arguments.
	if out := n.ok("resource", "File Share", "checkpoint", "remove", `software\fileshare2`); !strings.Contains(out, "Removed registry checkpoint 'SOFTWARE\\FileShare2' (00000002.CPT)") {
		t.Fatalf("remove:\n%s", out)
	}
	for _, c := range []struct {
		code int
		msg  string
		args []string
	}{
		{cli.ExitUsage, "give either -resource NAME or -all", []string{"checkpoint", "recover"}},
		{cli.ExitUsage, "give either -resource NAME or -all", []string{"checkpoint", "recover", "-all", "-resource", "x"}},
		{cli.ExitNotFound, `resource "Nope"`, []string{"checkpoint", "recover", "-resource", "Nope"}},
		{cli.ExitNotFound, `resource "Nope"`, []string{"resource", "Nope", "checkpoint", "add", `SOFTWARE\x`}},
		{cli.ExitUsage, "give at least one registry key path", []string{"resource", "Disk P:", "checkpoint", "add"}},
		{cli.ExitUsage, "root key cannot be checkpointed", []string{"resource", "Disk P:", "checkpoint", "add", `HKLM`}},
		{cli.ExitUsage, `unknown subcommand "move"`, []string{"resource", "Disk P:", "checkpoint", "move"}},
		{cli.ExitFailed, "overlapping checkpoints overwrite each other", []string{"resource", "Disk P:", "checkpoint", "add", `SOFTWARE`}},
		{cli.ExitUsage, `unknown subcommand "frob"`, []string{"checkpoint", "frob"}},
	} {
		n.fails(c.code, c.msg, c.args...)
	}
	if out := n.ok("resource", "Disk P:", "checkpoint", "list"); !strings.Contains(out, "Disk P:   -") {
		t.Fatalf("a refused add changed Disk P:\n%s", out)
	}
}
