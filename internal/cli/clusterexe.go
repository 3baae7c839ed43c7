package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
)

// The cluster.exe syntax for checkpoints, accepted as Windows operators type
// it (options in any case, unique abbreviations such as /removecheck):
//
//	cluster [.|/cluster:NAME|NAME] resource "RESOURCE" /addcheckpoints:"SOFTWARE\Onyone"
//	cluster . resource "RESOURCE" /removecheckpoints:"SOFTWARE\Onyone"
//	cluster . resource "RESOURCE" /checkpoints
//	cluster . resource /checkpoints            (every resource)
//	cluster . /checkpoints                     (every resource)
//
// and the same with /addcryptocheckpoints, /removecryptocheckpoints and
// /cryptocheckpoints for crypto key containers (Type\Provider\Container).

// exeOptions are the cluster.exe options, by their full lower-case names.
var exeOptions = []struct {
	name string
	op   string // add, remove or list
	kind model.CheckpointKind
}{
	{"addcheckpoints", "add", model.RegistryCheckpoint},
	{"removecheckpoints", "remove", model.RegistryCheckpoint},
	{"checkpoints", "list", model.RegistryCheckpoint},
	{"addcryptocheckpoints", "add", model.CryptoCheckpoint},
	{"removecryptocheckpoints", "remove", model.CryptoCheckpoint},
	{"cryptocheckpoints", "list", model.CryptoCheckpoint},
}

// exeCommand is one parsed cluster.exe command line.
type exeLine struct {
	Cluster     string // cluster name; "" for the one of -cluster or the config
	Resource    string // "" when none was named
	ResourceCmd bool   // the "resource" verb was given
	Op          string // add, remove or list
	Kind        model.CheckpointKind
	Path        string // for add and remove, as typed (quotes removed)
}

// parseClusterExe recognises the cluster.exe checkpoint syntax in args
// (what follows the global flags). ok is false when args are one of our own
// commands; err reports a cluster.exe line that cannot be run. isCommand
// tells our command names apart from a cluster name.
func parseClusterExe(args []string, isCommand func(string) bool) (c exeLine, ok bool, err error) {
	if len(args) == 0 {
		return c, false, nil
	}
	i := 0
	explicit := false // a cluster name was given: this is cluster.exe syntax
	switch a := args[0]; {
	case a == ".":
		i, explicit = 1, true
	case hasFold(a, "/cluster:"):
		c.Cluster = unquote(a[len("/cluster:"):])
		if c.Cluster == "" {
			return c, true, usagef("/cluster: needs a cluster name")
		}
		i, explicit = 1, true
	case !isCommand(a) && !strings.HasPrefix(a, "/") && len(args) > 1 && (isResourceVerb(args[1]) || strings.HasPrefix(args[1], "/")):
		c.Cluster, i, explicit = a, 1, true
	}
	rest := args[i:]
	switch {
	case len(rest) > 0 && isResourceVerb(rest[0]):
		c.ResourceCmd = true
		rest = rest[1:]
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "/") {
			c.Resource = unquote(rest[0])
			rest = rest[1:]
		}
		if len(rest) == 0 || !strings.HasPrefix(rest[0], "/") {
			if !explicit {
				return c, false, nil // `resource NAME` or `resource NAME checkpoint …`: ours
			}
			if len(rest) == 0 {
				return c, true, usagef("cluster.exe syntax: give a checkpoint option, e.g. /checkpoints (other resource options are not supported: see `cluster -h`)")
			}
			return c, true, usagef("cluster.exe syntax: unexpected argument %q after the resource name (quote a name with spaces)", rest[0])
		}
	case len(rest) > 0 && strings.HasPrefix(rest[0], "/"):
	default:
		if !explicit {
			return c, false, nil
		}
		if len(rest) == 0 {
			return c, true, usagef("cluster.exe syntax: nothing to do; try `cluster . /checkpoints`")
		}
		return c, true, usagef("cluster.exe syntax: %q is not supported here; only the checkpoint options of `resource` are (/checkpoints, /addcheckpoints:KEY, /removecheckpoints:KEY and the crypto ones)", rest[0])
	}
	// One option, its value after ':' (or, as sometimes typed, in the next
	// argument starting with ':').
	opt := rest[0][1:]
	rest = rest[1:]
	name, value, hasValue := strings.Cut(opt, ":")
	if !hasValue && len(rest) > 0 && strings.HasPrefix(rest[0], ":") {
		value, hasValue = rest[0][1:], true
		rest = rest[1:]
	}
	if len(rest) > 0 {
		return c, true, usagef("cluster.exe syntax: one option at a time; unexpected %q", rest[0])
	}
	o, err := matchOption(name)
	if err != nil {
		return c, true, err
	}
	c.Op, c.Kind = o.op, o.kind
	value = unquote(value)
	switch {
	case c.Op == "list" && hasValue && value != "":
		return c, true, usagef("/%s takes no value", o.name)
	case c.Op != "list" && value == "":
		return c, true, usagef(`/%s needs a value: /%s:"%s"`, o.name, o.name, examplePath(o.kind))
	case c.Op != "list" && c.Resource == "":
		return c, true, usagef(`No resource name specified: cluster resource "NAME" /%s:"%s"`, o.name, examplePath(o.kind))
	}
	c.Path = value
	return c, true, nil
}

func examplePath(kind model.CheckpointKind) string {
	if kind == model.CryptoCheckpoint {
		return `Type\Provider\Container`
	}
	return `SOFTWARE\…`
}

// matchOption finds the option that name is, or uniquely abbreviates.
func matchOption(name string) (struct {
	name string
	op   string
	kind model.CheckpointKind
}, error) {
	n := strings.ToLower(name)
	var found []int
	for i, o := range exeOptions {
		if o.name == n {
			return o, nil
		}
		if n != "" && strings.HasPrefix(o.name, n) {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 1:
		return exeOptions[found[0]], nil
	case 0:
		return exeOptions[0], usagef("cluster.exe syntax: unknown option /%s (supported: /checkpoints, /addcheckpoints, /removecheckpoints, /cryptocheckpoints, /addcryptocheckpoints, /removecryptocheckpoints)", name)
	}
	var names []string
	for _, i := range found {
		names = append(names, "/"+exeOptions[i].name)
	}
	return exeOptions[0], usagef("cluster.exe syntax: /%s is ambiguous: %s", name, strings.Join(names, " or "))
}

func isResourceVerb(s string) bool {
	s = strings.ToLower(s)
	return s == "resource" || s == "res"
}

func hasFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// unquote removes quotes that reached us literally (straight or curly).
func unquote(s string) string {
	s = strings.TrimSpace(s)
	for _, q := range [][2]string{{`"`, `"`}, {"“", "”"}, {"'", "'"}} {
		if len(s) >= len(q[0])+len(q[1]) && strings.HasPrefix(s, q[0]) && strings.HasSuffix(s, q[1]) {
			return s[len(q[0]) : len(s)-len(q[1])]
		}
	}
	return strings.Trim(s, `"“”`)
}

// run carries out the command.
func (c exeLine) run(ctx context.Context, e *env, _ []string) error {
	kindWord := kindName(c.Kind)
	if c.Op == "list" {
		if c.Resource == "" && !e.json {
			if c.ResourceCmd {
				fmt.Fprintln(e.out, "No resource name specified.")
			}
			printf(e.out, "Listing %s checkpoints for all resources...\n\n", kindWord)
		}
		rows, err := e.session().Checkpoints(ctx, c.Resource)
		if err != nil {
			return err
		}
		if c.Resource != "" && !e.json {
			printf(e.out, "Listing %s checkpoints for resource '%s'...\n\n", kindWord, rows[0].Resource)
		}
		return printExeListing(e, rows, c.Kind)
	}
	r, err := e.store.ResourceByName(ctx, c.Resource)
	if err != nil {
		return err
	}
	path, err := canonicalCheckpoint(c.Kind, c.Path)
	if err != nil {
		return usagef("%v", err)
	}
	verb := "Adding"
	if c.Op == "remove" {
		verb = "Removing"
	}
	if !e.json {
		printf(e.out, "%s %s checkpoint '%s' for resource '%s'...\n", verb, kindWord, path, r.Value.Name)
	}
	entry, err := changeCheckpoint(ctx, e, r.Value, c.Op, c.Kind, path)
	if err != nil {
		return err
	}
	if e.json {
		return e.emit(checkpointChange{Resource: r.Value.Name, ID: r.Value.ID, Action: c.Op, Checkpoint: entry}, nil)
	}
	return nil
}

// printExeListing prints the Resource / Registry Checkpoint table of
// cluster.exe, with a None row for a resource without checkpoints.
func printExeListing(e *env, rows []ops.CheckpointRow, kind model.CheckpointKind) error {
	if e.json {
		type item struct {
			Resource    string   `json:"resource"`
			ID          string   `json:"id"`
			Kind        string   `json:"kind"`
			Checkpoints []string `json:"checkpoints"`
		}
		out := []item{}
		for _, r := range rows {
			it := item{Resource: r.Resource, ID: r.ID, Kind: string(kind), Checkpoints: []string{}}
			for _, c := range r.Checkpoints {
				if c.Kind == kind {
					it.Checkpoints = append(it.Checkpoints, c.Path)
				}
			}
			out = append(out, it)
		}
		return e.emit(out, nil)
	}
	title := "Registry Checkpoint"
	if kind == model.CryptoCheckpoint {
		title = "Crypto Checkpoint"
	}
	printf(e.out, "%-20s %s\n%s %s\n", "Resource", title, strings.Repeat("-", 20), strings.Repeat("-", 56))
	for _, r := range rows {
		none := true
		for _, c := range r.Checkpoints {
			if c.Kind == kind {
				printf(e.out, "%-20s '%s'\n", r.Resource, c.Path)
				none = false
			}
		}
		if none {
			printf(e.out, "%-20s None\n", r.Resource)
		}
	}
	return nil
}
