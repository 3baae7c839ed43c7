package quorum

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

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
}

// TLS builds the client TLS configuration, or nil when no TLS file is set.
func (c ClientConfig) TLS() (*tls.Config, error) {
	if c.CAFile == "" && c.CertFile == "" && c.KeyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("quorum: reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("quorum: CA file %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, fmt.Errorf("quorum: cert_file and key_file must be given together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("quorum: loading client certificate: %w", err)
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
	// A linearizable read proves both reachability and a working quorum.
	if _, err := cli.Get(pctx, Root, clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w at %v: %v", ErrUnreachable, c.Endpoints, err)
	}
	return cli, nil
}
