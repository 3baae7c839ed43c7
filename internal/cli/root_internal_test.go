package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The command line itself, in process and without a cluster: how words
// are read, help for every command, completion and man pages.

func TestNormalize(t *testing.T) {
	root := commandTree()
	for _, c := range []struct{ in, want []string }{
		{[]string{"groups", "-o", "json"}, []string{"groups", "-o", "json"}},
		{[]string{"-config", "c.toml", "groups"}, []string{"--config", "c.toml", "groups"}},
		{[]string{"groups", "-config=c.toml"}, []string{"groups", "--config=c.toml"}},
		{[]string{"-ojson", "groups"}, []string{"-ojson", "groups"}},
		{[]string{"group", "onyone", "move", "-node", "n2"}, []string{"group", "move", "onyone", "--node", "n2"}},
		{[]string{"group", "-o", "json", "onyone", "online"}, []string{"group", "-o", "json", "online", "onyone"}},
		{[]string{"GROUP", "onyone", "Offline"}, []string{"GROUP", "Offline", "onyone"}},
		{[]string{"group", "onyone"}, []string{"group", "onyone"}},
		{[]string{"group", "g", "maintenance", "on"}, []string{"group", "maintenance", "g", "on"}},
		{[]string{"resource", "R", "checkpoint", "add", `SOFTWARE\X`, "-crypto"}, []string{"resource", "checkpoint", "add", "R", `SOFTWARE\X`, "--crypto"}},
		{[]string{"resource", "R", "set", "restart_action=1", "-private", "K=V"}, []string{"resource", "set", "R", "restart_action=1", "--private", "K=V"}},
		{[]string{"resource", "create", "R", "-type", "T"}, []string{"resource", "create", "R", "--type", "T"}},
		{[]string{"node", "n1", "pause", "-no-wait"}, []string{"node", "pause", "n1", "--no-wait"}},
		{[]string{"restore", "DIR", "-force"}, []string{"restore", "DIR", "--force"}},
		{[]string{"reg", "set", "K", "N", "-type", "dword", "-1"}, []string{"reg", "set", "K", "N", "--type", "dword", "-1"}},
		{[]string{".", "resource", "R", "/checkpoints"}, []string{".", "resource", "R", "/checkpoints"}},
		{[]string{"resource", "R", `/addcheckpoints:"SOFTWARE\X"`}, []string{"resource", "R", `/addcheckpoints:"SOFTWARE\X"`}},
		{[]string{"reg", "import", "-"}, []string{"reg", "import", "-"}},
		{[]string{"events", "--", "-since"}, []string{"events", "--", "-since"}},
	} {
		if got := normalize(root, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// allCommands lists every command path of the tree, the root first.
func allCommands(c *cobra.Command) [][]string {
	out := [][]string{nil}
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() {
			continue
		}
		for _, p := range allCommands(sub) {
			out = append(out, append([]string{sub.Name()}, p...))
		}
	}
	return out
}

// TestHelpEverywhere: -h, --help and `help` work for every command, print
// to stdout, exit 0, run nothing, and fit 80 columns.
func TestHelpEverywhere(t *testing.T) {
	paths := allCommands(commandTree())
	if len(paths) < 40 {
		t.Fatalf("only %d commands", len(paths))
	}
	dir := t.TempDir()
	t.Chdir(dir)
	for _, p := range paths {
		for _, args := range [][]string{append(append([]string{}, p...), "-h"), append(append([]string{}, p...), "--help"), append([]string{"help"}, p...)} {
			var out, errb bytes.Buffer
			if code := Main(args, &out, &errb); code != ExitOK || errb.Len() > 0 {
				t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
				continue
			}
			if !strings.Contains(out.String(), "Usage:") {
				t.Errorf("%q: no usage:\n%s", args, out.String())
			}
			for _, line := range strings.Split(out.String(), "\n") {
				if n := len([]rune(line)); n > helpWidth {
					t.Errorf("%q: a help line of %d columns: %q", args, n, line)
				}
			}
		}
	}
	// backup -h once wrote a backup into a directory named -h.
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("help created files: %v", entries)
	}
}

func TestVersionCompletionAndUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"--version"}, ExitOK, "cluster ", ""},
		{[]string{"-version"}, ExitOK, "cluster ", ""},
		{[]string{"completion", "bash"}, ExitOK, "__start_cluster", ""},
		{[]string{"completion", "zsh"}, ExitOK, "#compdef cluster", ""},
		{[]string{"completion", "fish"}, ExitOK, "complete -c cluster", ""},
		{nil, ExitUsage, "", "Usage:"},
		{[]string{"frobnicate"}, ExitUsage, "", `unknown command "frobnicate"`},
		{[]string{"groups", "-o", "yaml"}, ExitUsage, "", "-o must be table or json"},
		{[]string{"groups", "extra"}, ExitUsage, "", "takes no arguments"},
		{[]string{"group"}, ExitUsage, "", "expected one group name"},
		{[]string{"pki"}, ExitUsage, "", "give a subcommand (init, issue, list, revoke, sync)"},
		{[]string{"config", "frob"}, ExitUsage, "", `unknown subcommand "frob"`},
		{[]string{"maintenance", "sideways"}, ExitUsage, "", `"sideways" is neither on nor off`},
		{[]string{"group", "g", "frob"}, ExitUsage, "", `unknown action "frob"`},
		{[]string{"events", "-bogus"}, ExitUsage, "", "unknown flag: --bogus"},
	} {
		var out, errb bytes.Buffer
		code := Main(c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String(), c.out) || !strings.Contains(errb.String(), c.err) {
			t.Errorf("%q: exit %d\nstdout %.200q\nstderr %.300q\nwant exit %d, %q, %q", c.args, code, out.String(), errb.String(), c.code, c.out, c.err)
		}
	}
}

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if err := WriteManPages(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range allCommands(commandTree()) {
		name := strings.Join(append([]string{"cluster"}, p...), "-") + ".1"
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("no man page for %q: %v", p, err)
			continue
		}
		if !bytes.Contains(b, []byte(".TH \"CLUSTER\" \"1\"")) || !bytes.Contains(b, []byte(".SH SYNOPSIS")) {
			t.Errorf("%s is not a man page:\n%.300s", name, b)
		}
	}
}

// TestConfigLookup: --config, then $RESMON_CONFIG, then ./cluster.toml,
// then /etc/resmon/cluster.toml.
func TestConfigLookup(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(envConfig, "")
	etc := "/etc/resmon/cluster.toml"
	_, etcErr := os.Stat(etc)
	want := ""
	if etcErr == nil {
		want = etc
	}
	if got := findConfig(); got != want {
		t.Fatalf("nothing to find: %q, want %q", got, want)
	}
	os.WriteFile("cluster.toml", []byte("[cluster]\nname = \"here\"\n"), 0o600)
	if got := findConfig(); got != "cluster.toml" {
		t.Fatalf("./cluster.toml: %q", got)
	}
	t.Setenv(envConfig, "/elsewhere.toml")
	if got := findConfig(); got != "/elsewhere.toml" {
		t.Fatalf("$RESMON_CONFIG: %q", got)
	}
	// No file at all: the error says where it looked.
	t.Setenv(envConfig, "")
	os.Remove("cluster.toml")
	if etcErr == nil {
		t.Skip("this machine has /etc/resmon/cluster.toml")
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"groups"}, &out, &errb); code != ExitFailed || !strings.Contains(errb.String(), "give --config FILE, set $RESMON_CONFIG, or put one at cluster.toml or /etc/resmon/cluster.toml") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
