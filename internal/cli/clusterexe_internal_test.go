package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/resmon/resmon/model"
)

func TestParseClusterExe(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want exeLine
		ok   bool
		err  string
	}{
		{[]string{"resource", "Network Name DATA", `/addcheckpoints:"SOFTWARE\Microsoft\onyone"`},
			exeLine{Resource: "Network Name DATA", ResourceCmd: true, Op: "add", Kind: model.RegistryCheckpoint, Path: `SOFTWARE\Microsoft\onyone`}, true, ""},
		{[]string{".", "resource", "/checkpoints"}, exeLine{ResourceCmd: true, Op: "list", Kind: model.RegistryCheckpoint}, true, ""},
		{[]string{".", "/checkpoints"}, exeLine{Op: "list", Kind: model.RegistryCheckpoint}, true, ""},
		{[]string{"/checkpoints"}, exeLine{Op: "list", Kind: model.RegistryCheckpoint}, true, ""},
		{[]string{"prod", "res", "R", "/CryptoCheck"}, exeLine{Cluster: "prod", Resource: "R", ResourceCmd: true, Op: "list", Kind: model.CryptoCheckpoint}, true, ""},
		{[]string{"/cluster:prod", "resource", "R", "/removecheck", `:“\Software\X”`},
			exeLine{Cluster: "prod", Resource: "R", ResourceCmd: true, Op: "remove", Kind: model.RegistryCheckpoint, Path: `\Software\X`}, true, ""},
		{[]string{".", "resource", "R", "/addcrypto:1\\P\\C"}, exeLine{Resource: "R", ResourceCmd: true, Op: "add", Kind: model.CryptoCheckpoint, Path: `1\P\C`}, true, ""},
		// Our own commands are left alone.
		{[]string{"resource", "R"}, exeLine{}, false, ""},
		{[]string{"resource", "R", "checkpoint", "add", `SOFTWARE\X`}, exeLine{}, false, ""},
		{[]string{"backup", "/tmp/bk"}, exeLine{}, false, ""},
		{[]string{"resources"}, exeLine{}, false, ""},
		{nil, exeLine{}, false, ""},
		// Errors.
		{[]string{".", "resource", "R", "/add:x"}, exeLine{}, true, "ambiguous"},
		{[]string{".", "resource", "R", "/checkpoints:x"}, exeLine{}, true, "takes no value"},
		{[]string{".", "resource", "R", "/checkpoints", "/addcheckpoints:x"}, exeLine{}, true, "one option at a time"},
		{[]string{".", "resource", "/addcheckpoints:x"}, exeLine{}, true, "No resource name specified"},
		{[]string{".", "/addcheckpoints:x"}, exeLine{}, true, "No resource name specified"},
		{[]string{".", "resource", "R"}, exeLine{}, true, "give a checkpoint option"},
		{[]string{".", "resource", "R", "extra"}, exeLine{}, true, `unexpected argument "extra"`},
		{[]string{"."}, exeLine{}, true, "nothing to do"},
		{[]string{"/cluster:", "/checkpoints"}, exeLine{}, true, "needs a cluster name"},
		{[]string{".", "node"}, exeLine{}, true, "not supported here"},
		{[]string{"/"}, exeLine{}, true, "unknown option /"},
	} {
		got, ok, err := parseClusterExe(tt.args, isCommand)
		if ok != tt.ok || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%q: ok=%v err=%v, want ok=%v err %q", tt.args, ok, err, tt.ok, tt.err)
			continue
		}
		if err == nil && ok && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

// FuzzParseClusterExe: any command line is either ours, a usage error, or
// a complete command (an add or remove names a resource and a path).
func FuzzParseClusterExe(f *testing.F) {
	f.Add(".", "resource", "Network Name DATA", `/addcheckpoints:"SOFTWARE\Microsoft\onyone"`)
	f.Add("resource", "R", "/removecheck", `:"\Software\X"`)
	f.Add("/cluster:x", "/checkpoints", "", "")
	f.Add("backup", "/tmp", "", "")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		args := []string{a, b, c, d}
		for len(args) > 0 && args[len(args)-1] == "" {
			args = args[:len(args)-1]
		}
		cmd, ok, err := parseClusterExe(args, isCommand)
		if err != nil {
			if !ok {
				t.Fatalf("%q: an error for a line that is not cluster.exe syntax: %v", args, err)
			}
			return
		}
		if !ok {
			return
		}
		switch cmd.Op {
		case "list":
			if cmd.Path != "" {
				t.Fatalf("%q: a listing with a path: %+v", args, cmd)
			}
		case "add", "remove":
			if cmd.Resource == "" || cmd.Path == "" {
				t.Fatalf("%q: incomplete: %+v", args, cmd)
			}
		default:
			t.Fatalf("%q: operation %q", args, cmd.Op)
		}
		if cmd.Kind != model.RegistryCheckpoint && cmd.Kind != model.CryptoCheckpoint {
			t.Fatalf("%q: kind %q", args, cmd.Kind)
		}
	})
}
