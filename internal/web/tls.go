package web

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/resmon/resmon/pki"
)

// ServerTLS is the console's TLS: its certificate, and the CA whose
// operator certificates log in without a code (a browser without one is
// let in to the login page).
func ServerTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := pki.LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("web: the console's certificate: %w", err)
	}
	cas, err := pki.LoadCertificates(caFile)
	if err != nil {
		return nil, fmt.Errorf("web: the operators' CA: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// Listen opens the console's TLS listener on addr.
func Listen(addr string, cfg *tls.Config) (net.Listener, error) {
	ln, err := tls.Listen("tcp", addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("web: listening on %s: %w", addr, err)
	}
	return ln, nil
}
