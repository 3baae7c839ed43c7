package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/internal/config"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// pkiFlags are the flags of the pki subcommands.
type pkiFlags struct {
	dir   string
	days  int
	role  string
	hosts string
	valid time.Duration
}

// register adds the flags named in with (and always --dir) to fs.
func (f *pkiFlags) register(fs *pflag.FlagSet, with ...string) {
	fs.StringVar(&f.dir, "dir", "", "the PKI directory (default: cluster.pki_dir of the configuration)")
	if slices.Contains(with, "days") {
		fs.IntVar(&f.days, "days", int(pki.CertValidity/(24*time.Hour)), "days the certificates are valid")
	}
	if slices.Contains(with, "role") {
		fs.StringVar(&f.role, "role", "", "the operator's role: admin or viewer")
	}
	if slices.Contains(with, "host") {
		fs.StringVar(&f.hosts, "host", "", "more addresses of the node, comma-separated IPs or DNS names")
	}
	if slices.Contains(with, "valid") {
		fs.DurationVar(&f.valid, "valid", 15*time.Minute, "how long the root certificate is valid (at most 1h)")
	}
}

func (f *pkiFlags) check(name string) error {
	if f.days < 0 {
		return usagef("pki %s: --days must be positive", name)
	}
	return nil
}

func (f *pkiFlags) validity() time.Duration { return time.Duration(f.days) * 24 * time.Hour }

// pkiDir finds the PKI directory (-dir, else the config's) and loads the
// config when there is one.
func (e *env) pkiDir(dir string) (pki.Dir, *config.Config, error) {
	cfg, err := e.loadConfig()
	if dir != "" {
		return pki.Dir(dir), cfgOrNil(cfg, err), nil
	}
	if err != nil {
		return "", nil, usagef("pki: no PKI directory: give --dir, or --config with cluster.pki_dir (%v)", err)
	}
	return pki.Dir(cfg.Cluster.PKIDir), cfg, nil
}

func cfgOrNil(c *config.Config, err error) *config.Config {
	if err != nil {
		return nil
	}
	return c
}

// pkiInit is `cluster pki init`: a new CA, a certificate for every member
// the config names (this node and its peers), and the operator "admin".
func pkiInit(ctx context.Context, e *env, f pkiFlags) error {
	if err := f.check("init"); err != nil {
		return err
	}
	d, cfg, err := e.pkiDir(f.dir)
	if err != nil {
		return err
	}
	cluster := "resmon"
	nodes := map[string][]string{}
	if cfg != nil {
		cluster = cfg.Cluster.Name
		nodes = cfg.PeerHosts()
		nodes[cfg.Node.Name] = cfg.NodeHosts()
	}
	if e.cluster != "" {
		cluster = e.cluster
	}
	ca, err := pki.Init(d, cluster)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "Created the CA of cluster %q: %s (its key, the cluster's root credential: %s)\n", cluster, d.CAFile(), d.CAKeyFile())
	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c, err := ca.IssueNode(n, nodes[n], f.validity())
		if err != nil {
			return err
		}
		cf, _ := d.NodeFiles(n)
		fmt.Fprintf(e.out, "Issued node %s: %s (valid until %s for %s)\n", n, cf, c.NotAfter.Format(time.DateOnly), strings.Join(sans(c), ", "))
	}
	c, err := ca.IssueOperator(DefaultOperator, pki.RoleAdmin, f.validity())
	if err != nil {
		return err
	}
	cf, _ := d.OperatorFiles(DefaultOperator)
	fmt.Fprintf(e.out, "Issued operator %s (admin): %s (valid until %s)\n", DefaultOperator, cf, c.NotAfter.Format(time.DateOnly))
	if len(names) > 1 {
		fmt.Fprintf(e.out, "Each node needs ca.pem and its own nodes/NAME.pem and nodes/NAME-key.pem in its pki_dir; keep ca-key.pem off the nodes if you can (see SECURITY.md).\n")
	}
	return nil
}

// sans lists the names and addresses a certificate is valid for.
func sans(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// pkiIssue is `cluster pki issue node|operator|root …`. A new node or
// operator is registered with etcd right away when the cluster of -config
// answers; otherwise at the next start of a node whose pki_dir holds the CA
// key, or with `cluster pki sync`.
func pkiIssue(ctx context.Context, e *env, kind string, f pkiFlags, rest []string) error {
	if err := f.check("issue " + kind); err != nil {
		return err
	}
	d, cfg, err := e.pkiDir(f.dir)
	if err != nil {
		return err
	}
	ca, err := pki.LoadCA(d)
	if err != nil {
		return err
	}
	if kind == "root" {
		if len(rest) > 0 {
			return usagef("pki issue root: unexpected argument %q", rest[0])
		}
		return issueRoot(e, ca, d, f.valid)
	}
	name, err := oneArg(rest, kind+" name")
	if err != nil {
		return usagef("pki issue %s: %v", kind, err)
	}
	var user quorum.AuthUser
	var file string
	var until time.Time
	if kind == "node" {
		hosts := splitList(f.hosts, ",")
		if cfg != nil {
			if name == cfg.Node.Name {
				hosts = append(hosts, cfg.NodeHosts()...)
			}
			hosts = append(hosts, cfg.PeerHosts()[name]...)
		}
		c, err := ca.IssueNode(name, hosts, f.validity())
		if err != nil {
			return err
		}
		file, _ = d.NodeFiles(name)
		until = c.NotAfter
		user = quorum.AuthUser{Name: name, Role: pki.RoleNode}
	} else {
		if err := pki.CheckRole(f.role); err != nil {
			return usagef("pki issue operator %s: -role: %v", name, err)
		}
		c, err := ca.IssueOperator(name, f.role, f.validity())
		if err != nil {
			return err
		}
		file, _ = d.OperatorFiles(name)
		until = c.NotAfter
		user = quorum.AuthUser{Name: name, Role: f.role}
	}
	fmt.Fprintf(e.out, "Issued %s %s (%s): %s (valid until %s)\n", kind, name, user.Role, file, until.Format(time.DateOnly))
	if cfg == nil || !cfg.EmbeddedTLS() || cfg.Quorum.Mode == config.ModeExternal {
		return nil
	}
	if err := e.register(ctx, ca, cfg, []quorum.AuthUser{user}); err != nil {
		fmt.Fprintf(e.out, "Not registered with etcd yet (%v).\nA node whose pki_dir holds the CA key registers it when it starts; or run `cluster pki sync` once the cluster is up.\n", err)
		return nil
	}
	fmt.Fprintf(e.out, "Registered etcd user %q with role %s.\n", user.Name, user.Role)
	return nil
}

// issueRoot writes a short-lived root certificate for etcdctl's
// membership commands, which only etcd's root may run.
func issueRoot(e *env, ca *pki.CA, d pki.Dir, valid time.Duration) error {
	if valid <= 0 || valid > pki.MaxRootValidity {
		return usagef("pki issue root: -valid must be more than 0 and at most %s", pki.MaxRootValidity)
	}
	rc, err := ca.RootCertificate(valid)
	if err != nil {
		return err
	}
	cf, kf, err := pki.WriteRoot(d, rc)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "Wrote etcd's root identity, valid until %s: %s and %s.\nIt may do anything to etcd: delete both files when done.\n",
		rc.Leaf.NotAfter.Local().Format(time.DateTime), cf, kf)
	return nil
}

// register creates etcd users as root.
func (e *env) register(ctx context.Context, ca *pki.CA, cfg *config.Config, users []quorum.AuthUser) error {
	cli, store, err := e.rootClient(ctx, ca, cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	if err := quorum.RegisterUsers(ctx, cli, quorum.AuthSpec{Prefix: store.Keys().Prefix(), Users: users}); err != nil {
		return err
	}
	for _, u := range users {
		store.AppendEvent(ctx, quorum.Event{Kind: "pki.register", Subject: u.Name, Message: "etcd user registered with role " + u.Role, Operator: pki.RootName})
	}
	return nil
}

// rootClient connects to the cluster of cfg as etcd's root, with a
// certificate made in memory from the CA key.
func (e *env) rootClient(ctx context.Context, ca *pki.CA, cfg *config.Config) (*clientv3.Client, *quorum.Store, error) {
	rc, err := ca.RootCertificate(pki.RootValidity)
	if err != nil {
		return nil, nil, err
	}
	cc := quorum.ClientConfig{Endpoints: []string{cfg.Quorum.Embedded.ClientURL}, DialTimeout: min(e.timeout, 5*time.Second),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool, Certificates: []tls.Certificate{rc}}}
	if e.endpoints != "" {
		cc.Endpoints = strings.Split(e.endpoints, ",")
	}
	cli, err := quorum.Connect(ctx, cc)
	if err != nil {
		return nil, nil, err
	}
	store, err := quorum.NewStore(cli, cfg.Cluster.Name, nil)
	if err != nil {
		cli.Close()
		return nil, nil, err
	}
	return cli, store, nil
}

// pkiList is `cluster pki list`: every certificate with its role and
// expiry, warning about those that expire within 30 days.
func pkiList(ctx context.Context, e *env, f pkiFlags) error {
	d, _, err := e.pkiDir(f.dir)
	if err != nil {
		return err
	}
	infos, err := pki.List(d)
	if err != nil {
		return err
	}
	now := time.Now()
	err = e.emit(infos, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "Kind\tName\tRole\tExpires\tSubject\tProblem")
		for _, in := range infos {
			exp := "-"
			if !in.NotAfter.IsZero() {
				exp = in.NotAfter.Local().Format(time.DateOnly)
			}
			// A certificate's subject is whatever its issuer wrote: escaped.
			fmt.Fprint(w, sprintf("%s\t%s\t%s\t%s\t%s\t%s\n", in.Kind, in.Name, orDash(in.Role), exp, orDash(in.Subject), orDash(in.Problem)))
		}
	})
	for _, in := range infos {
		switch {
		case in.NotAfter.IsZero():
		case in.NotAfter.Before(now):
			fmt.Fprintf(e.err, "WARNING: %s %s expired on %s: reissue it (see SECURITY.md, rotation)\n", in.Kind, in.Name, in.NotAfter.Local().Format(time.DateOnly))
		case in.ExpiresWithin(now, pki.ExpiryWarning):
			fmt.Fprintf(e.err, "WARNING: %s %s expires in %d days, on %s: reissue it (see SECURITY.md, rotation)\n",
				in.Kind, in.Name, int(in.NotAfter.Sub(now).Hours()/24), in.NotAfter.Local().Format(time.DateOnly))
		}
	}
	return err
}

// pkiSync is `cluster pki sync`: registers with etcd every node the
// config names and every certificate of the PKI directory.
func pkiSync(ctx context.Context, e *env, f pkiFlags) error {
	d, cfg, err := e.pkiDir(f.dir)
	if err != nil {
		return err
	}
	if cfg == nil {
		return usagef("pki sync: needs -config, to find the cluster")
	}
	ca, err := pki.LoadCA(d)
	if err != nil {
		return err
	}
	infos, err := pki.List(d)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var users []quorum.AuthUser
	add := func(name, role string) {
		if !seen[name] {
			seen[name] = true
			users = append(users, quorum.AuthUser{Name: name, Role: role})
		}
	}
	add(cfg.Node.Name, pki.RoleNode)
	for n := range cfg.Quorum.Embedded.Peers {
		add(n, pki.RoleNode)
	}
	for _, in := range infos {
		if in.Kind == "ca" {
			continue
		}
		if in.Problem != "" {
			fmt.Fprintf(e.err, "skipping %s %s: %s\n", in.Kind, in.Name, in.Problem)
			continue
		}
		add(in.Name, in.Role)
	}
	if err := e.register(ctx, ca, cfg, users); err != nil {
		return err
	}
	for _, u := range users {
		fmt.Fprintf(e.out, "Registered etcd user %q with role %s.\n", u.Name, u.Role)
	}
	return nil
}

// pkiRevoke is `cluster pki revoke NAME`: deletes the etcd user of a node
// or operator, so its certificate reaches no key any more, and its files
// in the PKI directory.
func pkiRevoke(ctx context.Context, e *env, f pkiFlags, name string) error {
	if err := pki.CheckName(name); err != nil {
		return usagef("pki revoke: %v", err)
	}
	d, cfg, err := e.pkiDir(f.dir)
	if err != nil {
		return err
	}
	if cfg == nil {
		return usagef("pki revoke: needs -config, to find the cluster")
	}
	ca, err := pki.LoadCA(d)
	if err != nil {
		return err
	}
	cli, store, err := e.rootClient(ctx, ca, cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	if err := quorum.DeleteUser(ctx, cli, name); err != nil {
		return err
	}
	store.AppendEvent(ctx, quorum.Event{Kind: "pki.revoke", Subject: name, Message: "etcd user deleted", Operator: pki.RootName})
	fmt.Fprintf(e.out, "Deleted etcd user %q: its certificate reaches no key any more.\n", name)
	for _, files := range [][2]string{pair(d.NodeFiles(name)), pair(d.OperatorFiles(name))} {
		for _, file := range files {
			if err := os.Remove(file); err == nil {
				fmt.Fprintf(e.out, "Removed %s.\n", file)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

func pair(a, b string) [2]string { return [2]string{a, b} }
