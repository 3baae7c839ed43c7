package cli

import (
	"context"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command tree, on cobra. Three things are ours on top of it, all in
// normalize: flags written with one dash (-config, as Go's flag package and
// earlier releases took them) are read as --config; `cluster group NAME
// ACTION` is read as `cluster group ACTION NAME` (cluster.exe's order, the
// object before the verb), for group, resource, node, type and a
// resource's checkpoint; and cluster.exe's checkpoint syntax
// (clusterexe.go) is recognised before cobra sees the line.

// Configuration lookup, in order: --config, $RESMON_CONFIG, then the
// first of these that exists.
const envConfig = "RESMON_CONFIG"

var defaultConfigs = []string{"cluster.toml", "/etc/resmon/cluster.toml"}

// handler is what a command does, with etcd reached when it needs it.
type handler func(ctx context.Context, e *env, args []string) error

// annotation keys.
const annLocal = "resmon/local" // the command needs no etcd connection

func init() {
	// cluster.exe is case-insensitive; so are our command names.
	cobra.EnableCaseInsensitive = true
	cobra.AddTemplateFunc("wrapFlags", func(fs *pflag.FlagSet) string { return fs.FlagUsagesWrapped(helpWidth) })
}

// helpWidth is the width help text is written for.
const helpWidth = 80

// usageTemplate is cobra's, with flag help wrapped at helpWidth.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{wrapFlags .LocalFlags | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global flags:
{{wrapFlags .InheritedFlags | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more about a command.{{end}}
`

// Version is the CLI's version: the module version the binary was built
// from, and its commit when the build recorded one.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v + ", " + bi.GoVersion
}

// newRoot builds the command tree around e.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "cluster",
		Short: "resmon's admin command line",
		Long: `cluster reads and changes a resmon cluster through etcd, and a node's
local registry through that node's admin API. Every listing takes -o json.
Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 unreachable.

The configuration is --config, else $RESMON_CONFIG, else ./cluster.toml,
else /etc/resmon/cluster.toml. Flags go anywhere; one dash works too
(-config). cluster.exe's checkpoint syntax is accepted as typed on Windows:
  cluster . resource "NAME" /addcheckpoints:"SOFTWARE\KEY"
  cluster . resource "NAME" /removecheckpoints:"SOFTWARE\KEY"
  cluster . /checkpoints   (crypto: /addcryptocheckpoints, ...)
Install "Cluster" as a link to cluster (the package does) to type it with
a capital, as on Windows.`,
		Version:       Version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(e.err)
			cmd.Usage()
			return usagef("give a command (cluster help lists them)")
		},
	}
	root.SetVersionTemplate("cluster {{.Version}}\n")
	root.SetUsageTemplate(usageTemplate)
	pf := root.PersistentFlags()
	pf.StringVar(&e.cfgPath, "config", "", "node configuration naming the cluster and how to reach etcd")
	pf.StringVar(&e.endpoints, "endpoints", "", "etcd endpoints, comma-separated (overrides --config)")
	pf.StringVar(&e.cluster, "cluster", "", "cluster name (overrides --config)")
	pf.StringVarP(&e.output, "output", "o", "table", "output: table or json")
	pf.DurationVar(&e.timeout, "timeout", 30*time.Second, "how long to wait for etcd and each operation")
	pf.StringVar(&e.operatorName, "operator", DefaultOperator, "act as this operator: its certificate in pki_dir")
	pf.StringVar(&e.cacert, "cacert", "", "CA that etcd's certificate must chain to")
	pf.StringVar(&e.cert, "cert", "", "client certificate for etcd (overrides --operator)")
	pf.StringVar(&e.key, "key", "", "the client certificate's key")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if e.output != "table" && e.output != "json" {
			return usagef("-o must be table or json, not %q", e.output)
		}
		e.json = e.output == "json"
		if e.cfgPath == "" {
			e.cfgPath = findConfig()
		}
		return nil
	}
	root.AddCommand(
		viewCommands(e)...,
	)
	root.AddCommand(groupCommand(e), resourceCommand(e), nodeCommand(e), typeCommand(e),
		statusCommand(e), maintenanceCommand(e), configCommand(e), checkpointCommand(e),
		regCommand(e), pkiCommand(e), webCommand(e), manCommand(), exeCommand(e))
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root && c.HasSubCommands() && c.RunE == nil {
			c.Args, c.RunE = cobra.ArbitraryArgs, container
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// findConfig is the configuration file the CLI reads without --config.
func findConfig() string {
	if p := os.Getenv(envConfig); p != "" {
		return p
	}
	for _, p := range defaultConfigs {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// run adapts a handler to cobra: it reaches etcd first unless the command
// is local, and bounds the work by --timeout.
func run(e *env, h handler, local bool) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), e.timeout)
		defer cancel()
		if !local {
			if err := e.connect(ctx); err != nil {
				return err
			}
		}
		return h(ctx, e, args)
	}
}

// Argument checks that report usage errors.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return usagef("unknown command %q for %q (run `%s --help` for the list)", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return usagef("%s takes no arguments", cmd.CommandPath())
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return rangeArgs(n, n, what)
}

func rangeArgs(lo, hi int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if hi >= 0 && len(args) > hi && len(args) > lo {
			return usagef("%s: unexpected argument %q (expected %s)", cmd.CommandPath(), args[hi], what)
		}
		if len(args) < lo {
			return usagef("%s: expected %s, got %d arguments", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// leaf builds a command.
func leaf(e *env, use, short string, args cobra.PositionalArgs, h handler) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: args, RunE: run(e, h, false)}
}

// localLeaf builds a command that reaches etcd only if it wants to.
func localLeaf(e *env, use, short string, args cobra.PositionalArgs, h handler) *cobra.Command {
	c := leaf(e, use, short, args, h)
	c.RunE = run(e, h, true)
	c.Annotations = map[string]string{annLocal: "true"}
	return c
}

// manCommand writes the man pages (also what the package ships).
func manCommand() *cobra.Command {
	return &cobra.Command{
		Use: "man DIR", Short: "write the man pages of every command into DIR", Hidden: true,
		Args: exactArgs(1, "a directory"),
		RunE: func(cmd *cobra.Command, args []string) error { return WriteManPages(args[0]) },
	}
}

// exeCommand runs a line of cluster.exe syntax that Main recognised.
func exeCommand(e *env) *cobra.Command {
	c := &cobra.Command{Use: exeName, Hidden: true, Args: noArgs}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if e.exe.Cluster != "" {
			e.cluster = e.exe.Cluster
		}
		return run(e, e.exe.run, false)(cmd, args)
	}
	return c
}

const exeName = "__cluster.exe"

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	e := &env{out: stdout, err: stderr}
	root := newRoot(e)
	root.SetOut(stdout)
	root.SetErr(stderr)
	args, err := e.prepare(root, args)
	if err != nil {
		return report(stderr, err)
	}
	root.SetArgs(args)
	defer e.close()
	err = root.ExecuteContext(context.Background())
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		err = usageError{err.Error()}
	}
	return report(stderr, err)
}

// prepare normalizes args and, for a line of cluster.exe syntax, replaces
// its words by the hidden command that runs it.
func (e *env) prepare(root *cobra.Command, args []string) ([]string, error) {
	args = normalize(root, args)
	words := commandWords(root, args)
	var pos []string
	for _, i := range words {
		pos = append(pos, args[i])
	}
	exe, isExe, err := parseClusterExe(pos, isCommand)
	if err != nil {
		return nil, err
	}
	if !isExe {
		return args, nil
	}
	e.exe = &exe
	out := make([]string, 0, len(args))
	skip := map[int]bool{}
	for _, i := range words {
		skip[i] = true
	}
	for i, a := range args {
		if !skip[i] {
			out = append(out, a)
		}
	}
	return append(out, exeName), nil
}

// isCommand reports whether name is one of the top-level commands.
func isCommand(name string) bool {
	switch strings.ToLower(name) {
	case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		return true // cobra adds these as it runs
	}
	return findSub(commandTree(), name) != nil
}

var treeOnce struct {
	root *cobra.Command
}

// commandTree is a command tree for looking names up.
func commandTree() *cobra.Command {
	if treeOnce.root == nil {
		treeOnce.root = newRoot(&env{out: io.Discard, err: io.Discard})
	}
	return treeOnce.root
}

// findSub finds cmd's subcommand called name (or an alias), in any case.
func findSub(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if strings.EqualFold(c.Name(), name) {
			return c
		}
		for _, a := range c.Aliases {
			if strings.EqualFold(a, name) {
				return c
			}
		}
	}
	return nil
}

// lookupFlag finds a flag cmd takes: its own, or a persistent flag of a
// parent.
func lookupFlag(cmd *cobra.Command, name string, short bool) *pflag.Flag {
	look := func(fs *pflag.FlagSet) *pflag.Flag {
		if short {
			return fs.ShorthandLookup(name)
		}
		return fs.Lookup(name)
	}
	if f := look(cmd.Flags()); f != nil {
		return f
	}
	for c := cmd; c != nil; c = c.Parent() {
		if f := look(c.PersistentFlags()); f != nil {
			return f
		}
	}
	switch name {
	case "help", "h", "version":
		return &pflag.Flag{Name: name, NoOptDefVal: "true"}
	}
	return nil
}

// takesValue reports whether a flag written as arg (without "=") eats the
// next argument.
func takesValue(cmd *cobra.Command, arg string) bool {
	long := strings.HasPrefix(arg, "--")
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	if !long && len(name) > 1 {
		return false // -abc: shorthands together or with a value attached
	}
	f := lookupFlag(cmd, name, !long)
	return f != nil && f.NoOptDefVal == ""
}

// normalize rewrites args for cobra: one-dash long flags get their second
// dash, and an object named before its verb (group NAME online) moves
// after it (group online NAME).
func normalize(root *cobra.Command, in []string) []string {
	args := append([]string(nil), in...)
	cmd := root
	first := -1 // the index of cmd's first positional argument
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			if !strings.HasPrefix(a, "--") {
				// -name is --name, unless it is a shorthand with its value
				// attached (-ojson) or a negative number.
				name, _, _ := strings.Cut(a[1:], "=")
				short := lookupFlag(cmd, name[:1], true)
				if len(name) > 1 && (lookupFlag(cmd, name, false) != nil || (short == nil && !isNumber(name))) {
					a = "-" + a
					args[i] = a
				}
			}
			if takesValue(cmd, a) {
				i++
			}
			continue
		}
		if first < 0 {
			if sub := findSub(cmd, a); sub != nil {
				cmd = sub
				continue
			}
			if !cmd.HasSubCommands() || cmd == root {
				first = i
				continue
			}
			// An object before its verb: look for the verb.
			if j := nextWord(cmd, args, i+1); j > 0 {
				if sub := findSub(cmd, args[j]); sub != nil {
					verb := args[j]
					copy(args[i+1:j+1], args[i:j])
					args[i] = verb
					cmd = sub
					continue
				}
			}
			first = i
		}
	}
	return args
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// container is the RunE of a command that only groups others: it says
// which subcommand is unknown, or that one is needed.
func container(cmd *cobra.Command, args []string) error {
	var subs []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			subs = append(subs, c.Name())
		}
	}
	want := strings.Join(subs, ", ")
	switch len(args) {
	case 0:
		return usagef("%s: give a subcommand (%s)", cmd.CommandPath(), want)
	case 1:
		return usagef("%s: unknown subcommand %q (want %s)", cmd.CommandPath(), args[0], want)
	}
	return usagef("%s %q: unknown subcommand %q (want %s)", cmd.CommandPath(), args[0], args[1], want)
}

// nextWord is the index of the next argument from i on that is not a flag
// (or a flag's value) of cmd, or -1.
func nextWord(cmd *cobra.Command, args []string, i int) int {
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return -1
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			if takesValue(cmd, a) {
				i++
			}
			continue
		}
		return i
	}
	return -1
}

// commandWords are the indexes of the arguments that are not flags or
// flag values: the command words and positional arguments, in order.
func commandWords(root *cobra.Command, args []string) []int {
	var out []int
	cmd := root
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			for j := i + 1; j < len(args); j++ {
				out = append(out, j)
			}
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			if takesValue(cmd, a) {
				i++
			}
			continue
		}
		if sub := findSub(cmd, a); sub != nil && len(out) == cmdDepth(cmd) {
			cmd = sub
		}
		out = append(out, i)
	}
	return out
}

// cmdDepth is how many command words lead to cmd.
func cmdDepth(cmd *cobra.Command) int {
	n := 0
	for c := cmd; c.HasParent(); c = c.Parent() {
		n++
	}
	return n
}

// required reports a missing flag as a usage error.
func required(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f == nil || !f.Changed {
			return usagef("%s: --%s is required", cmd.CommandPath(), n)
		}
	}
	return nil
}
