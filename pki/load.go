package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// LoadCertificates reads every certificate of a PEM file (a bundle holds
// several). Anything but CERTIFICATE blocks is refused, naming the file.
func LoadCertificates(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: reading certificate: %w", err)
	}
	return parseCertificates(file, data)
}

func parseCertificates(file string, data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: %s: PEM block %d is a %q where a CERTIFICATE was expected", ErrBadFile, file, n, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: certificate %d: %v", ErrBadFile, file, n, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrBadFile, file)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: %s: text after the last PEM block is not PEM", ErrBadFile, file)
	}
	return out, nil
}

// LoadKey reads a private key (PKCS#8, SEC 1 EC or PKCS#1 RSA PEM) from a
// file that group and others cannot read.
func LoadKey(file string) (crypto.Signer, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("pki: reading key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: key %s is accessible by group or others (mode %v); chmod 600 it", ErrBadFile, file, fi.Mode().Perm())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: reading key: %w", err)
	}
	return parseKey(file, data)
}

func parseKey(file string, data []byte) (crypto.Signer, error) {
	b, rest := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%w: %s holds no PEM private key", ErrBadFile, file)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: %s holds more than one PEM block; a key file holds only the key", ErrBadFile, file)
	}
	var (
		k   any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("%w: %s holds a %q PEM block where a private key was expected", ErrBadFile, file, b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %v", ErrBadFile, file, b.Type, err)
	}
	s, ok := signerOf(k)
	if !ok {
		return nil, fmt.Errorf("%w: %s: a %T key is not supported (ECDSA, Ed25519 or RSA)", ErrBadFile, file, k)
	}
	return s, nil
}

// LoadKeyPair loads a certificate (its file may carry intermediates after
// it) and its private key for TLS, refusing a key that does not belong to
// the certificate. Every error names the file at fault.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certs, err := LoadCertificates(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := LoadKey(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	return pair(certFile, keyFile, certs, key)
}

func pair(certFile, keyFile string, certs []*x509.Certificate, key crypto.Signer) (tls.Certificate, error) {
	if !samePublicKey(certs[0].PublicKey, key.Public()) {
		return tls.Certificate{}, fmt.Errorf("%w: %s does not belong to the certificate in %s", ErrMismatch, keyFile, certFile)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// Info describes one certificate of a PKI directory.
type Info struct {
	Kind      string    `json:"kind"` // ca, node or operator
	Name      string    `json:"name"` // the file's name: the node or operator name
	Subject   string    `json:"subject"`
	Role      string    `json:"role,omitempty"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	File      string    `json:"file"`
	// Problem says what is wrong with the file, if anything: unreadable,
	// not signed by the current CA, or its key missing or mismatched.
	Problem string `json:"problem,omitempty"`
}

// ExpiresWithin reports whether the certificate expires within d of now
// (or has expired).
func (i Info) ExpiresWithin(now time.Time, d time.Duration) bool {
	return !i.NotAfter.IsZero() && i.NotAfter.Before(now.Add(d))
}

// List describes every certificate of d: the CA bundle's certificates,
// then the nodes and the operators by name. A file that cannot be used is
// listed with its Problem rather than failing the listing.
func List(d Dir) ([]Info, error) {
	cas, err := LoadCertificates(d.CAFile())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w in %s (create one with `cluster pki init`)", ErrNoPKI, d)
		}
		return nil, err
	}
	pool := x509.NewCertPool()
	var out []Info
	for i, c := range cas {
		pool.AddCert(c)
		in := describe("ca", "ca", d.CAFile(), c)
		if i > 0 {
			in.Name = fmt.Sprintf("ca (older, #%d)", i+1)
		}
		out = append(out, in)
	}
	for _, kind := range []string{RoleNode, "operator"} {
		sub := filepath.Join(string(d), kind+"s")
		entries, err := os.ReadDir(sub)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("pki: %w", err)
		}
		var names []string
		for _, e := range entries {
			n := e.Name()
			if strings.HasSuffix(n, ".pem") && !strings.HasSuffix(n, "-key.pem") && !strings.HasPrefix(n, ".") {
				names = append(names, strings.TrimSuffix(n, ".pem"))
			}
		}
		sort.Strings(names)
		for _, name := range names {
			certFile, keyFile := d.files(kind+"s", name)
			certs, err := LoadCertificates(certFile)
			if err != nil {
				out = append(out, Info{Kind: kind, Name: name, File: certFile, Problem: err.Error()})
				continue
			}
			in := describe(kind, name, certFile, certs[0])
			if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: certs[0].NotBefore.Add(time.Second)}); err != nil {
				in.Problem = "not signed by a CA of " + d.CAFile()
			} else if key, err := LoadKey(keyFile); err != nil {
				in.Problem = err.Error()
			} else if _, err := pair(certFile, keyFile, certs, key); err != nil {
				in.Problem = err.Error()
			}
			out = append(out, in)
		}
	}
	return out, nil
}

func describe(kind, name, file string, c *x509.Certificate) Info {
	return Info{Kind: kind, Name: name, Subject: c.Subject.String(), Role: Role(c), Serial: c.SerialNumber.Text(16),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, File: file}
}
