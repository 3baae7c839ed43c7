package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/admin"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/quorum"
	"github.com/spf13/pflag"
)

// regFlags are the flags every `reg` subcommand takes: which node, and the
// client certificate for a node that serves mutual TLS.
type regFlags struct {
	node, addr          string
	cert, key, ca       string
	typ, file           string
	deleteKey, utf16Out bool
}

func (f *regFlags) register(fs *pflag.FlagSet, sub string) {
	fs.StringVar(&f.node, "node", "", "the node, by name (its admin address is in its presence record in etcd)")
	fs.StringVar(&f.addr, "admin", "", "the node's admin address, unix:PATH or tcp:HOST:PORT (default: node.admin of -config)")
	fs.StringVar(&f.cert, "admin-cert", "", "client certificate for a tcp: admin address (default: node.admin_cert of -config)")
	fs.StringVar(&f.key, "admin-key", "", "client key (default: node.admin_key of -config)")
	fs.StringVar(&f.ca, "admin-ca", "", "CA of the node certificates (default: node.admin_ca of -config)")
	switch sub {
	case "set":
		fs.StringVar(&f.typ, "type", "string", "value type: "+strings.Join(admin.TypeNames(), ", "))
	case "delete":
		fs.BoolVar(&f.deleteKey, "key", false, "delete the key and everything below it (instead of one value)")
	case "export":
		fs.StringVar(&f.file, "file", "", "write the .reg file here instead of standard output")
		fs.BoolVar(&f.utf16Out, "utf16", false, "write UTF-16LE with CRLF, as regedit does (default UTF-8)")
	}
}

// regRunners are the `reg` subcommands.
var regRunners = map[string]func(context.Context, *env, *admin.Client, *regFlags, []string) error{
	"get": regGet, "set": regSet, "delete": regDelete, "list": regList, "export": regExport, "import": regImport,
}

// cmdReg is `cluster reg SUB …`: the node-local registry through the admin API.
func cmdReg(ctx context.Context, e *env, sub string, f *regFlags, pos []string) error {
	if err := checkRegArgs(sub, f, pos); err != nil {
		return err
	}
	c, err := dialNode(ctx, e, f)
	if err != nil {
		return err
	}
	defer c.Close()
	return regRunners[sub](ctx, e, c, f, pos)
}

// checkRegArgs checks the positional arguments, and the key path, before
// any connection is made.
func checkRegArgs(sub string, f *regFlags, pos []string) error {
	want := map[string][2]int{"get": {2, 2}, "set": {2, -1}, "delete": {2, 2}, "list": {0, 1}, "export": {1, 1}, "import": {1, 1}}[sub]
	if sub == "delete" && f.deleteKey {
		want = [2]int{1, 1}
	}
	if len(pos) < want[0] || (want[1] >= 0 && len(pos) > want[1]) {
		hint := map[string]string{
			"get": "KEY NAME", "set": "[-type T] KEY NAME DATA...", "delete": "KEY NAME (or -key KEY for the whole key)",
			"list": "[KEY]", "export": "KEY", "import": "FILE (or - for standard input)",
		}[sub]
		return usagef("reg %s: expected %s, got %d arguments", sub, hint, len(pos))
	}
	if sub != "import" && len(pos) > 0 {
		if _, err := registry.ParsePath(pos[0]); err != nil {
			return usagef("reg %s: key path '%s' is malformed: %v", sub, pos[0], err)
		}
	}
	if sub == "set" {
		if _, err := admin.ValueFromText(pos[1], f.typ, pos[2:]); err != nil {
			return usagef("reg set %s: %v", pos[0], err)
		}
	}
	return nil
}

// dialNode finds the admin address (-admin, -node or the local node of
// -config) and connects to it.
func dialNode(ctx context.Context, e *env, f *regFlags) (*admin.Client, error) {
	if f.addr != "" && f.node != "" {
		return nil, usagef("give -node or -admin, not both")
	}
	cfg, cfgErr := e.loadConfig()
	addr := f.addr
	switch {
	case addr != "":
	case f.node != "":
		if err := e.connect(ctx); err != nil {
			return nil, err
		}
		nodes, err := e.store.Nodes(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if strings.EqualFold(n.Node, f.node) {
				addr = n.Admin
				if addr == "" {
					return nil, fmt.Errorf("node %q publishes no admin address", n.Node)
				}
			}
		}
		if addr == "" {
			return nil, fmt.Errorf("%w: node %q is not up (it has no presence record in etcd)", quorum.ErrNotFound, f.node)
		}
	case cfgErr == nil:
		addr = cfg.Node.Admin
	default:
		return nil, usagef("no admin address: give -admin unix:PATH|tcp:HOST:PORT or -node NAME (reading %s: %v)", e.cfgPath, cfgErr)
	}
	var tlsCfg *tls.Config
	if strings.HasPrefix(addr, "tcp:") {
		if cfgErr == nil {
			f.cert = cmp(f.cert, cfg.Node.AdminCert)
			f.key = cmp(f.key, cfg.Node.AdminKey)
			f.ca = cmp(f.ca, cfg.Node.AdminCA)
		}
		if f.cert != "" || f.key != "" || f.ca != "" {
			var err error
			if tlsCfg, err = admin.ClientTLS(f.cert, f.key, f.ca); err != nil {
				return nil, err
			}
		}
	}
	return admin.Dial(ctx, addr, tlsCfg)
}

// cmp returns a unless it is empty, else b.
func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// valueName shows the default value's empty name as regedit does.
func valueName(n string) string {
	if n == "" {
		return "(default)"
	}
	return n
}

// regValue is a value with its key, for -o json.
type regValue struct {
	Key string `json:"key"`
	admin.Value
	Warnings []string `json:"warnings,omitempty"`
}

func regGet(ctx context.Context, e *env, c *admin.Client, _ *regFlags, pos []string) error {
	v, err := c.GetValue(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	return e.emit(regValue{Key: pos[0], Value: admin.FromSDK(v)}, func(w *tabwriter.Writer) {
		printf(w, "Name\tType\tData\n%s\t%s\t%s\n", valueName(v.Name), v.Type, admin.Text(v))
	})
}

func regSet(ctx context.Context, e *env, c *admin.Client, f *regFlags, pos []string) error {
	v, err := admin.ValueFromText(pos[1], f.typ, pos[2:])
	if err != nil {
		return usagef("reg set %s: %v", pos[0], err)
	}
	ch, err := c.SetValue(ctx, pos[0], v)
	if err != nil {
		return err
	}
	if e.json {
		return e.emit(regValue{Key: pos[0], Value: admin.FromSDK(v), Warnings: ch.Warnings}, nil)
	}
	printf(e.out, "Set %s value '%s' (%s) to %s.\n", pos[0], valueName(v.Name), v.Type, admin.Text(v))
	e.warn(ch.Warnings)
	return nil
}

func regDelete(ctx context.Context, e *env, c *admin.Client, f *regFlags, pos []string) error {
	if f.deleteKey {
		ch, err := c.DeleteKey(ctx, pos[0])
		if err != nil {
			return err
		}
		printf(e.out, "Deleted key %s and everything below it.\n", pos[0])
		e.warn(ch.Warnings)
		return nil
	}
	ch, err := c.DeleteValue(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	printf(e.out, "Deleted %s value '%s'.\n", pos[0], valueName(pos[1]))
	e.warn(ch.Warnings)
	return nil
}

func regList(ctx context.Context, e *env, c *admin.Client, _ *regFlags, pos []string) error {
	key := ""
	if len(pos) == 1 {
		key = pos[0]
	}
	l, err := c.List(ctx, key)
	if err != nil {
		return err
	}
	if !e.json {
		key := l.Key
		if key == "" {
			key = "(root)"
		}
		printf(e.out, "Key %s: %d subkeys, %d values\n\n", key, len(l.SubKeys), len(l.Values))
	}
	return e.emit(l, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "Name\tType\tData")
		for _, s := range l.SubKeys {
			printf(w, "%s\\\t<key>\t\n", s)
		}
		for _, wv := range l.Values {
			v, err := wv.SDK()
			data := admin.Text(v)
			if err != nil {
				data = err.Error()
			}
			printf(w, "%s\t%s\t%s\n", valueName(wv.Name), v.Type, data)
		}
	})
}

func regExport(ctx context.Context, e *env, c *admin.Client, f *regFlags, pos []string) error {
	enc := registry.UTF8
	if f.utf16Out {
		enc = registry.UTF16
	}
	data, err := c.Export(ctx, pos[0], enc)
	if err != nil {
		return err
	}
	if f.file == "" {
		_, err = e.out.Write(data)
		return err
	}
	if err := os.WriteFile(f.file, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", f.file, err)
	}
	printf(e.out, "Exported %s into %s.\n", pos[0], f.file)
	return nil
}

func regImport(ctx context.Context, e *env, c *admin.Client, _ *regFlags, pos []string) error {
	name := pos[0]
	var data []byte
	var err error
	if name == "-" {
		name = "standard input"
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	// Checked here first, so a bad file is reported at once with its line.
	keys, err := registry.ParseReg(name, data)
	if err != nil {
		return err
	}
	// The node applies the file in one transaction, which for a large file
	// takes longer than -timeout: wait for it as long as it takes (Ctrl-C
	// ends the wait), saying so.
	ictx, stop := signalContext()
	defer stop()
	printf(e.progress(), "Importing %s (%d keys, %d bytes) into node %s in one transaction...\n", name, len(keys), len(data), c.Addr())
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				printf(e.progress(), "still importing: %s\n", time.Since(start).Round(time.Second))
			}
		}
	}()
	res, err := c.Import(ictx, name, data)
	if err != nil {
		if ictx.Err() != nil {
			return fmt.Errorf("interrupted after %s while node %s was importing %s: the node may still complete the import (it is applied whole or not at all); check with cluster reg list", time.Since(start).Round(time.Second), c.Addr(), name)
		}
		return err
	}
	if err := e.emit(res, func(w *tabwriter.Writer) {
		printf(w, "Imported %s: %d keys, %d values set; %d keys, %d values deleted.\n",
			res.Name, res.Keys, res.Values, res.DeletedKeys, res.DeletedValues)
	}); err != nil {
		return err
	}
	if !e.json {
		e.warn(res.Warnings)
	}
	return nil
}

// warn prints the warnings the node gave with a change, on stderr: the
// change was made, but the operator must know what will undo it.
func (e *env) warn(ws []string) {
	for _, w := range ws {
		printf(e.err, "warning: %s\n", w)
	}
}
