package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/internal/config"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
)

// LocalOperator is the admin operator certificate a single node makes with
// its PKI, for the machine's administrator to run the cluster CLI.
const LocalOperator = "admin"

// ErrNoCertificate reports that the node has no certificate to serve etcd
// with, and cannot make one.
var ErrNoCertificate = errors.New("clusterd: no node certificate")

// preparePKI makes sure the embedded member has its certificate. A single
// node with no PKI creates one (CA, its certificate, the local admin
// operator's); a node whose PKI holds the CA key issues its own missing
// certificate; otherwise the certificate must be there already.
func preparePKI(cfg *config.Config, log hclog.Logger) error {
	d := pki.Dir(cfg.Cluster.PKIDir)
	single := len(cfg.Quorum.Embedded.Peers) == 0
	cert, _ := d.NodeFiles(cfg.Node.Name)
	if !d.HasCA() && !single {
		return fmt.Errorf("%w: %s holds no cluster PKI (set in %s as cluster.pki_dir): create it on one machine with `cluster -config %s pki init`, which issues every member's certificate, and copy it to each node",
			ErrNoCertificate, d, cfg.File, cfg.File)
	}
	operator := "" // the operators of a multi-node cluster are issued by hand
	if single {
		operator = LocalOperator
	}
	written, err := pki.Bootstrap(d, cfg.Cluster.Name, cfg.Node.Name, cfg.NodeHosts(), operator)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoCertificate, cert, err)
	}
	if len(written) > 0 {
		log.Info("created the cluster PKI files", "pki_dir", d, "files", written)
	}
	return nil
}

// authSpec is what etcd auth grants on this node's cluster: every member
// of the embedded cluster is a node, and every operator certificate of the
// PKI directory has its role.
func authSpec(cfg *config.Config, log hclog.Logger) quorum.AuthSpec {
	spec := quorum.AuthSpec{Prefix: quorum.NewKeys(cfg.Cluster.Name).Prefix()}
	nodes := []string{cfg.Node.Name}
	for n := range cfg.Quorum.Embedded.Peers {
		if n != cfg.Node.Name {
			nodes = append(nodes, n)
		}
	}
	sort.Strings(nodes[1:])
	for _, n := range nodes {
		spec.Users = append(spec.Users, quorum.AuthUser{Name: n, Role: pki.RoleNode})
	}
	infos, err := pki.List(pki.Dir(cfg.Cluster.PKIDir))
	if err != nil {
		log.Warn("listing the operator certificates", "error", err)
	}
	for _, in := range infos {
		if in.Kind != "operator" {
			continue
		}
		if in.Problem != "" || (in.Role != pki.RoleAdmin && in.Role != pki.RoleViewer) {
			log.Warn("operator certificate not registered with etcd", "file", in.File, "problem", in.Problem, "role", in.Role)
			continue
		}
		spec.Users = append(spec.Users, quorum.AuthUser{Name: in.Name, Role: in.Role})
	}
	return spec
}

// setUpAuth turns etcd auth on for the embedded member and registers the
// users it knows of. With the CA key at hand it acts as etcd's root (a
// certificate made in memory for a few minutes), which may also register
// users on a cluster whose auth is on already; without it, it acts as the
// node, which can only turn auth on where it is still off.
func setUpAuth(ctx context.Context, cfg *config.Config, endpoints []string, log hclog.Logger) error {
	d := pki.Dir(cfg.Cluster.PKIDir)
	cc := quorum.ClientConfig{Endpoints: endpoints, DialTimeout: cfg.Quorum.DialTimeout.D()}
	asRoot := false
	ca, err := pki.LoadCA(d)
	switch {
	case err == nil:
		rc, err := ca.RootCertificate(pki.RootValidity)
		if err != nil {
			return err
		}
		cc.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool, Certificates: []tls.Certificate{rc}}
		asRoot = true
	case errors.Is(err, fs.ErrNotExist): // no CA key here: the usual case on a production node
		node, nerr := cfg.ClientConfig()
		if nerr != nil {
			return nerr
		}
		cc = node
	default:
		return err
	}
	cli, err := quorum.Connect(ctx, cc)
	if err != nil {
		return err
	}
	defer cli.Close()
	spec := authSpec(cfg, log)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	enabled, err := quorum.EnableAuth(actx, cli, spec)
	if err != nil {
		return err
	}
	if !enabled && asRoot {
		err = quorum.RegisterUsers(actx, cli, spec)
	}
	if err != nil {
		return err
	}
	names := make([]string, len(spec.Users))
	for i, u := range spec.Users {
		names[i] = u.Name + " (" + u.Role + ")"
	}
	if enabled {
		log.Info("etcd auth enabled", "users", names)
	} else if asRoot {
		log.Debug("etcd users registered", "users", names)
	}
	return nil
}
