package cli

import (
	"context"
	"strings"

	"github.com/resmon/resmon/model"
	"github.com/spf13/cobra"
)

// The commands, by object. Each command's handler is in the file of its
// object (views.go, actions.go, edit.go, objects.go, ops.go, status.go,
// configcmd.go, checkpoints.go, reg.go, pki.go).

func viewCommands(e *env) []*cobra.Command {
	var ef eventsFlags
	events := leaf(e, "events", "show the event log (who did what, when)", noArgs,
		func(ctx context.Context, e *env, _ []string) error { return cmdEvents(ctx, e, ef) })
	events.Flags().DurationVar(&ef.since, "since", 0, "only events of the last DURATION (0: all)")
	events.Flags().BoolVar(&ef.follow, "follow", false, "keep printing new events until interrupted")

	var force bool
	restore := leaf(e, "restore DIR", "restore a backup (refused while nodes are up)", exactArgs(1, "a backup directory"),
		func(ctx context.Context, e *env, args []string) error { return cmdRestore(ctx, e, args[0], force) })
	restore.Flags().BoolVar(&force, "force", false, "restore even while nodes are up")

	return []*cobra.Command{
		leaf(e, "nodes", "list the nodes: up, down and paused", noArgs, cmdNodes),
		leaf(e, "groups", "list groups with state, owner and fencing token", noArgs, cmdGroups),
		leaf(e, "resources", "list resources with state and owner", noArgs, cmdResources),
		leaf(e, "types", "list resource types", noArgs, cmdTypes),
		events,
		leaf(e, "backup DIR", "back up the cluster database and checkpoints", exactArgs(1, "a backup directory"), cmdBackup),
		restore,
	}
}

// objectCommand is a command about one object (group, resource, node,
// type): `cluster OBJ NAME` shows it, `cluster OBJ NAME VERB` (read as
// `cluster OBJ VERB NAME`) acts on it.
func objectCommand(e *env, use, short string, show handler) *cobra.Command {
	c := leaf(e, use+" NAME", short, nil, show)
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) >= 2 {
			var verbs []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					verbs = append(verbs, sub.Name())
				}
			}
			return usagef("%s %q: unknown action %q (want %s)", use, args[0], args[1], strings.Join(verbs, ", "))
		}
		return exactArgs(1, "one "+use+" name")(cmd, args)
	}
	c.Example = "  cluster " + use + " NAME VERB ...   is read as   cluster " + use + " VERB NAME ..."
	return c
}

// actionCommand is a request filed for a group's owner, followed until it
// is carried out.
func actionCommand(e *env, what, verb, short string, withNode bool) *cobra.Command {
	var af actionFlags
	c := leaf(e, verb+" NAME", short, exactArgs(1, "a "+what+" name"), func(ctx context.Context, e *env, args []string) error {
		if what == "group" {
			return cmdGroupAction(ctx, e, args[0], verb, af)
		}
		return cmdResourceAction(ctx, e, args[0], verb, af)
	})
	addActionFlags(c, &af, withNode)
	return c
}

func groupCommand(e *env) *cobra.Command {
	g := objectCommand(e, "group", "show a group with its resources, or act on it", cmdGroup)
	var gf groupFlags
	create := leaf(e, "create NAME", "create a group", exactArgs(1, "a group name"),
		func(ctx context.Context, e *env, args []string) error { return cmdGroupCreate(ctx, e, args[0], gf) })
	create.Flags().StringVar(&gf.preferred, "preferred-owners", "", "preferred owners in order, comma-separated")
	create.Flags().StringArrayVar(&gf.props, "prop", nil, "a group property KEY=VALUE (repeatable)")
	g.AddCommand(
		actionCommand(e, "group", model.RequestOnline, "bring a group online", false),
		actionCommand(e, "group", model.RequestOffline, "take a group offline", false),
		actionCommand(e, "group", model.RequestMove, "move a group to another node", true),
		actionCommand(e, "group", model.RequestCleanup, "reset failure counts and Failed states, try again now", false),
		create,
		leaf(e, "delete NAME", "delete an empty group", exactArgs(1, "a group name"), cmdGroupDelete),
		leaf(e, "set NAME KEY=VALUE...", "change a group's properties", rangeArgs(2, -1, "a group name and KEY=VALUE"), cmdGroupSet),
		maintenanceSwitch(e, "group"),
	)
	return g
}

func resourceCommand(e *env) *cobra.Command {
	r := objectCommand(e, "resource", "show a resource, or act on it", cmdResource)
	var cf createFlags
	create := leaf(e, "create NAME", "create a resource", exactArgs(1, "a resource name"),
		func(ctx context.Context, e *env, args []string) error { return cmdResourceCreate(ctx, e, args[0], cf) })
	create.Flags().StringVar(&cf.typ, "type", "", "resource type (required)")
	create.Flags().StringVar(&cf.group, "group", "", "group (required)")
	create.Flags().StringVar(&cf.depends, "dependencies", "", "'A,B;C': ';' between needed ones, ',' between alternatives")
	create.Flags().StringArrayVar(&cf.props, "prop", nil, "a common property KEY=VALUE (repeatable)")
	create.Flags().StringArrayVar(&cf.private, "private", nil, "a private property KEY=VALUE (repeatable)")

	var force bool
	del := leaf(e, "delete NAME", "delete a resource and its checkpoints", exactArgs(1, "a resource name"),
		func(ctx context.Context, e *env, args []string) error {
			return cmdResourceDelete(ctx, e, args[0], force)
		})
	del.Flags().BoolVar(&force, "force", false, "delete even while the resource is online")

	var private []string
	set := leaf(e, "set NAME [KEY=VALUE...]", "change a resource's common and private properties", rangeArgs(1, -1, "a resource name"),
		func(ctx context.Context, e *env, args []string) error {
			return cmdResourceSet(ctx, e, args[0], args[1:], private)
		})
	set.Flags().StringArrayVar(&private, "private", nil, "a private property KEY=VALUE; VALUE may be JSON; empty removes it")

	var crypto bool
	cp := &cobra.Command{Use: "checkpoint", Aliases: []string{"checkpoints"}, Short: "list, add and remove a resource's checkpoints", Args: noArgs}
	for _, op := range []struct{ verb, use, short string }{
		{"add", "add NAME PATH...", "checkpoint registry keys (or, with --crypto, key containers)"},
		{"remove", "remove NAME PATH...", "stop checkpointing keys; their data in etcd is deleted"},
		{"list", "list NAME", "list a resource's checkpoints"},
	} {
		c := leaf(e, op.use, op.short, rangeArgs(1, -1, "a resource name"), func(ctx context.Context, e *env, args []string) error {
			return cmdResourceCheckpoint(ctx, e, args[0], op.verb, crypto, args[1:])
		})
		c.Flags().BoolVar(&crypto, "crypto", false, `crypto key containers (Type\Provider\Container)`)
		cp.AddCommand(c)
	}
	var ctl controlFlags
	control := leaf(e, "control NAME CODE", "send a control code through the owner; print the output",
		exactArgs(2, "a resource name and a control code"),
		func(ctx context.Context, e *env, args []string) error {
			return cmdResourceControl(ctx, e, args[0], args[1], ctl)
		})
	control.Flags().StringVar(&ctl.in, "in", "", "the input: a JSON value ({…}, […], \"…\") sent as its bytes, or hex digits")
	control.Flags().DurationVar(&ctl.wait, "wait", defaultWait, "how long to wait for the owner's answer")

	r.AddCommand(
		actionCommand(e, "resource", model.RequestOnline, "bring a resource online", false),
		actionCommand(e, "resource", model.RequestOffline, "take a resource offline", false),
		actionCommand(e, "resource", model.RequestFail, "fail a resource (to test the restart policy)", false),
		actionCommand(e, "resource", model.RequestCleanup, "reset its restart count and Failed state, try again now", false),
		create, del, set, control, cp,
	)
	return r
}

func nodeCommand(e *env) *cobra.Command {
	n := objectCommand(e, "node", "show a node, or pause, resume or maintain it", cmdNode)
	var pf pauseFlags
	pause := leaf(e, "pause NAME", "pause a node: drain its groups away; it takes none", exactArgs(1, "a node name"),
		func(ctx context.Context, e *env, args []string) error { return cmdNodePause(ctx, e, args[0], pf) })
	pause.Aliases = []string{"drain", "standby", "suspend"}
	pause.Flags().DurationVar(&pf.wait, "wait", defaultWait, "how long to follow the drain before giving up")
	pause.Flags().BoolVar(&pf.noWait, "no-wait", false, "pause and return at once")
	var failback bool
	resume := leaf(e, "resume NAME", "resume a paused node", exactArgs(1, "a node name"),
		func(ctx context.Context, e *env, args []string) error {
			return cmdNodeResume(ctx, e, args[0], failback)
		})
	resume.Aliases = []string{"unstandby"}
	resume.Flags().BoolVar(&failback, "failback", false, "move the groups drained by the pause back")
	n.AddCommand(pause, resume, maintenanceSwitch(e, "node"))
	return n
}

func typeCommand(e *env) *cobra.Command {
	t := objectCommand(e, "type", "show a resource type, or change it", cmdType)
	var tf typeFlags
	create := leaf(e, "create NAME", "create a resource type", exactArgs(1, "a type name"),
		func(ctx context.Context, e *env, args []string) error { return cmdTypeCreate(ctx, e, args[0], tf) })
	create.Flags().StringVar(&tf.kind, "kind", model.KindPlugin, "plugin (go-plugin executable) or wasm")
	create.Flags().StringVar(&tf.path, "path", "", "the executable or module (required)")
	create.Flags().StringVar(&tf.sha256, "sha256", "", "pin the file: its sha256 (64 hex digits)")
	create.Flags().BoolVar(&tf.pin, "pin", false, "pin the file as it is now (reads PATH here)")
	create.Flags().StringArrayVar(&tf.props, "prop", nil, "a default common property KEY=VALUE (repeatable)")
	t.AddCommand(create,
		leaf(e, "delete NAME", "delete a resource type no resource uses", exactArgs(1, "a type name"), cmdTypeDelete),
		leaf(e, "set NAME KEY=VALUE...", "change a type: path, sha256, defaults", rangeArgs(2, -1, "a type name and KEY=VALUE"), cmdTypeSet),
	)
	return t
}

func statusCommand(e *env) *cobra.Command {
	var sf statusFlags
	c := leaf(e, "status", "one screen: quorum, nodes, groups, resources, events", noArgs,
		func(ctx context.Context, e *env, _ []string) error { return cmdStatus(ctx, e, sf) })
	c.Flags().BoolVar(&sf.watch, "watch", false, "redraw whenever the cluster changes (etcd watches)")
	c.Flags().IntVar(&sf.events, "events", 5, "how many recent events to show")
	return c
}

// maintenanceSwitch is `maintenance on|off` of the cluster, or of a node
// or a group (NAME first).
func maintenanceSwitch(e *env, scope string) *cobra.Command {
	var reason string
	use, n := "maintenance on|off", 1
	if scope != "cluster" {
		use, n = "maintenance NAME on|off", 2
	}
	args := func(cmd *cobra.Command, args []string) error {
		if err := exactArgs(n, "on or off, after a name for a node or group")(cmd, args); err != nil {
			return err
		}
		if sw := strings.ToLower(args[n-1]); sw != "on" && sw != "off" {
			return usagef("%s: %q is neither on nor off", cmd.CommandPath(), args[n-1])
		}
		return nil
	}
	c := leaf(e, use, "switch "+scope+" maintenance: the monitor takes no action", args,
		func(ctx context.Context, e *env, args []string) error {
			name, sw := "", args[0]
			if scope != "cluster" {
				name, sw = args[0], args[1]
			}
			return cmdMaintenance(ctx, e, scope, name, sw, reason)
		})
	c.Flags().StringVar(&reason, "reason", "", "why, for the event log and status")
	c.ValidArgs = []string{"on", "off"}
	return c
}

func maintenanceCommand(e *env) *cobra.Command { return maintenanceSwitch(e, "cluster") }

func configCommand(e *env) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "reconcile cluster.toml and the cluster database", Args: noArgs}
	var file string
	export := leaf(e, "export", "write the database as cluster.toml entries", noArgs,
		func(ctx context.Context, e *env, _ []string) error { return cmdConfigExport(ctx, e, file) })
	export.Flags().StringVarP(&file, "file", "f", "", "write here instead of standard output")
	var yes bool
	apply := leaf(e, "apply FILE", "make the database what FILE says (optimistic)", exactArgs(1, "a configuration file"),
		func(ctx context.Context, e *env, args []string) error { return cmdConfigApply(ctx, e, args[0], yes) })
	apply.Flags().BoolVar(&yes, "delete", false, "also delete what FILE does not list")
	c.AddCommand(export,
		leaf(e, "diff FILE", "show what apply would change", exactArgs(1, "a configuration file"),
			func(ctx context.Context, e *env, args []string) error { return cmdConfigDiff(ctx, e, args[0]) }),
		apply)
	return c
}

func checkpointCommand(e *env) *cobra.Command {
	c := &cobra.Command{Use: "checkpoint", Short: "list every checkpoint, or re-create them", Args: noArgs}
	var resource string
	var all bool
	recover := leaf(e, "recover", "re-create checkpoints from the owners' registries", noArgs,
		func(ctx context.Context, e *env, _ []string) error { return cmdRecover(ctx, e, resource, all) })
	recover.Flags().StringVar(&resource, "resource", "", "the resource whose checkpoints to re-create")
	recover.Flags().BoolVar(&all, "all", false, "re-create the checkpoints of every resource")
	var acceptResource string
	var acceptAll bool
	accept := leaf(e, "accept", "take held checkpoints as they are; resources go on", noArgs,
		func(ctx context.Context, e *env, _ []string) error {
			return cmdAccept(ctx, e, acceptResource, acceptAll)
		})
	accept.Flags().StringVar(&acceptResource, "resource", "", "the resource whose held checkpoints to accept")
	accept.Flags().BoolVar(&acceptAll, "all", false, "accept the held checkpoints of every resource")
	c.AddCommand(leaf(e, "list", "list every checkpoint: saved, no data, or stale", noArgs, cmdCheckpointList), recover, accept)
	return c
}

func regCommand(e *env) *cobra.Command {
	c := &cobra.Command{Use: "reg", Short: "read and change a node's local registry", Args: noArgs,
		Long: "reg reaches the node of --node NAME (its presence record), of --admin ADDR,\nor by default the node of the configuration."}
	for _, sub := range []struct{ use, short string }{
		{"get KEY NAME", "read a value"},
		{"set KEY NAME DATA...", "write a value (--type string, dword, ...)"},
		{"delete KEY [NAME]", "delete a value, or with --key the whole key"},
		{"list [KEY]", "list a key's subkeys and values"},
		{"export KEY", "write a key as a .reg file"},
		{"import FILE", "import a .reg file (- for standard input)"},
	} {
		var f regFlags
		name, _, _ := strings.Cut(sub.use, " ")
		cmd := localLeaf(e, sub.use, sub.short, cobra.ArbitraryArgs, func(ctx context.Context, e *env, args []string) error {
			return cmdReg(ctx, e, name, &f, args)
		})
		f.register(cmd.Flags(), name)
		c.AddCommand(cmd)
	}
	return c
}

func pkiCommand(e *env) *cobra.Command {
	c := &cobra.Command{Use: "pki", Short: "the cluster's certificates", Args: noArgs}
	var initF, listF, syncF, revokeF pkiFlags
	initC := localLeaf(e, "init", "create the CA, node certificates and operator admin", noArgs,
		func(ctx context.Context, e *env, _ []string) error { return pkiInit(ctx, e, initF) })
	initF.register(initC.Flags(), "days")
	list := localLeaf(e, "list", "list certificates with role and expiry", noArgs,
		func(ctx context.Context, e *env, _ []string) error { return pkiList(ctx, e, listF) })
	listF.register(list.Flags())
	sync := localLeaf(e, "sync", "register every certificate with etcd", noArgs,
		func(ctx context.Context, e *env, _ []string) error { return pkiSync(ctx, e, syncF) })
	syncF.register(sync.Flags())
	revoke := localLeaf(e, "revoke NAME", "delete a node's or operator's etcd user and files", exactArgs(1, "a name"),
		func(ctx context.Context, e *env, args []string) error { return pkiRevoke(ctx, e, revokeF, args[0]) })
	revokeF.register(revoke.Flags())

	issue := &cobra.Command{Use: "issue", Short: "issue a node, operator or root certificate", Args: noArgs}
	for _, k := range []struct {
		kind, use, short string
		with             []string
		args             cobra.PositionalArgs
	}{
		{"node", "node NAME", "a node certificate (addresses from the configuration)", []string{"days", "host"}, exactArgs(1, "a node name")},
		{"operator", "operator NAME", "an operator certificate (--role admin or viewer)", []string{"days", "role"}, exactArgs(1, "an operator name")},
		{"root", "root", "etcd's root, for etcdctl member add/remove", []string{"valid"}, noArgs},
	} {
		var f pkiFlags
		cmd := localLeaf(e, k.use, k.short, k.args, func(ctx context.Context, e *env, args []string) error {
			return pkiIssue(ctx, e, k.kind, f, args)
		})
		f.register(cmd.Flags(), k.with...)
		issue.AddCommand(cmd)
	}
	c.AddCommand(initC, issue, list, sync, revoke)
	return c
}
