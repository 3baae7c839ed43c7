package quorum

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/resmon/resmon/pki"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ErrUnreachable reports that no etcd endpoint answered.
var ErrUnreachable = errors.New("quorum: etcd is unreachable")

// ClientConfig says how to reach etcd: the embedded member's endpoint or an
// external cluster with optional TLS and username/password auth.
type ClientConfig struct {
	Endpoints   []string
	DialTimeout time.Duration // default 5s

	CAFile   string // verify the server with this CA bundle
	CertFile string // client certificate for mutual TLS
	KeyFile  string
	Username string
	Password string

	// TLSConfig, when set, is used as is instead of the files above (an
	// in-memory identity, such as the CA holder's short-lived root).
	TLSConfig *tls.Config `json:"-"`
	// Prefix is the key range the client's identity may read, which Connect
	// reads to prove that the cluster answers and admits it: the cluster's
	// prefix for a node or an operator. Default Root.
	Prefix string
}

// TLS builds the client TLS configuration, or nil when no TLS file is set.
func (c ClientConfig) TLS() (*tls.Config, error) {
	if c.TLSConfig != nil {
		return c.TLSConfig, nil
	}
	if c.CAFile == "" && c.CertFile == "" && c.KeyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		certs, err := pki.LoadCertificates(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("quorum: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		for _, cert := range certs {
			pool.AddCert(cert)
		}
		tc.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, fmt.Errorf("quorum: cert_file and key_file must be given together")
	}
	if c.CertFile != "" {
		cert, err := pki.LoadKeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("quorum: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Connect opens a client and checks, within DialTimeout, that the cluster
// answers (and that the credentials are accepted).
func Connect(ctx context.Context, c ClientConfig) (*clientv3.Client, error) {
	if len(c.Endpoints) == 0 {
		return nil, fmt.Errorf("quorum: no etcd endpoints configured")
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	tc, err := c.TLS()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints,
		DialTimeout: c.DialTimeout,
		TLS:         tc,
		Username:    c.Username,
		Password:    c.Password,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w at %v: %v", ErrUnreachable, c.Endpoints, err)
	}
	pctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	// A linearizable read proves reachability, a working quorum, and that
	// etcd lets this identity read what it came for.
	prefix := c.Prefix
	if prefix == "" {
		prefix = Root
	}
	if _, err := cli.Get(pctx, prefix, clientv3.WithCountOnly()); err != nil {
		cli.Close()
		if errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrUserEmpty) {
			return nil, fmt.Errorf("%w: %s may not read %s at %v: %v (with certificates, etcd's user is the certificate's common name: is it registered? see `cluster pki sync`)",
				ErrDenied, identity(tc, c.Username), prefix, c.Endpoints, err)
		}
		return nil, fmt.Errorf("%w at %v: %v", ErrUnreachable, c.Endpoints, err)
	}
	return cli, nil
}

// ErrDenied reports that etcd answered but refused the client's identity.
var ErrDenied = errors.New("quorum: etcd refused access")

// identity names who a client is to etcd: its user name, or its
// certificate's common name.
func identity(tc *tls.Config, username string) string {
	if username != "" {
		return fmt.Sprintf("user %q", username)
	}
	if tc != nil && len(tc.Certificates) > 0 {
		if leaf := tc.Certificates[0].Leaf; leaf != nil {
			return fmt.Sprintf("certificate %q", leaf.Subject.CommonName)
		}
	}
	return "an anonymous client"
}
