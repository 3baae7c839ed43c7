// Package pki is the cluster's certificate authority: a CA, node
// certificates (server and client, for etcd members and clusterd) and
// operator certificates (client only, carrying a role), kept as PEM files
// with mode 0600 in a directory of mode 0700. Whoever holds the CA key can
// mint any identity, so it is the cluster's root credential; see SECURITY.md.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors of the package; every error wraps one of them (or an fs error) and
// names the file or name at fault.
var (
	// ErrNoPKI reports a PKI directory without a CA.
	ErrNoPKI = errors.New("pki: no certificate authority")
	// ErrExists reports a CA or certificate that is already there.
	ErrExists = errors.New("pki: already exists")
	// ErrBadFile reports a file that does not hold what it should: no PEM,
	// the wrong PEM block, an unparsable certificate or key, an unsupported
	// key type, or a key readable by group or others.
	ErrBadFile = errors.New("pki: unusable file")
	// ErrMismatch reports a private key that does not belong to its certificate.
	ErrMismatch = errors.New("pki: key does not match certificate")
	// ErrName reports a name that cannot be a certificate's subject.
	ErrName = errors.New("pki: invalid name")
	// ErrRole reports an unknown operator role.
	ErrRole = errors.New("pki: invalid role")
)

// Roles, kept in a certificate's Subject OrganizationalUnit. Node and
// operator certificates share one name space: the common name is the etcd
// user name, so a node and an operator must not share a name.
const (
	RoleNode   = "node"   // a clusterd node: reads and writes its cluster's keys
	RoleAdmin  = "admin"  // an operator who may change the cluster
	RoleViewer = "viewer" // an operator who may only read it
	// RoleRoot is the etcd root identity. clusterd and the cluster CLI make
	// its certificates in memory, for a few minutes, to administer etcd
	// users (see CA.RootCertificate); only `cluster pki issue root` writes
	// one, valid an hour at most, for etcdctl's membership commands.
	RoleRoot = "root"
)

// RootName is the common name of the etcd root identity. It cannot be
// issued to a node or an operator.
const RootName = "root"

// NodeMarker is a DNS name that every node certificate carries and no
// operator certificate does. etcd members accept peer connections only from
// certificates valid for it, so an operator certificate, even an admin's,
// cannot speak raft to a member.
const NodeMarker = "node.resmon.internal"

// Organization is the Subject Organization of every certificate made here.
const Organization = "resmon"

// Validity periods.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	CertValidity = 365 * 24 * time.Hour
	// RootValidity is how long an in-memory root certificate lives.
	RootValidity = 5 * time.Minute
	// MaxRootValidity bounds any root certificate.
	MaxRootValidity = time.Hour
	// ExpiryWarning is how close to expiry List's callers should warn.
	ExpiryWarning = 30 * 24 * time.Hour
)

// File and directory modes.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// Dir is the layout of a PKI directory:
//
//	ca.pem, ca-key.pem                 the CA (ca.pem may hold older CAs after it, during a rotation)
//	nodes/NAME.pem, nodes/NAME-key.pem node certificates
//	operators/NAME.pem, NAME-key.pem   operator certificates
//
// A Dir is only a path; making one does no I/O.
type Dir string

// CAFile is the CA certificate bundle.
func (d Dir) CAFile() string { return filepath.Join(string(d), "ca.pem") }

// CAKeyFile is the CA's private key.
func (d Dir) CAKeyFile() string { return filepath.Join(string(d), "ca-key.pem") }

// NodeFiles are the certificate and key files of node name.
func (d Dir) NodeFiles(name string) (cert, key string) { return d.files("nodes", name) }

// OperatorFiles are the certificate and key files of operator name.
func (d Dir) OperatorFiles(name string) (cert, key string) { return d.files("operators", name) }

func (d Dir) files(sub, name string) (string, string) {
	base := filepath.Join(string(d), sub, name)
	return base + ".pem", base + "-key.pem"
}

// HasCA reports whether the directory holds a CA certificate.
func (d Dir) HasCA() bool {
	_, err := os.Stat(d.CAFile())
	return err == nil
}

// CheckName checks a node or operator name: it becomes a certificate's
// common name, an etcd user name and a file name.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrName)
	case len(name) > 64:
		return fmt.Errorf("%w: %.20q… is longer than 64 bytes (the limit of a common name)", ErrName, name)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("%w: %q holds control characters or invalid UTF-8", ErrName, name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%w: %q contains a slash", ErrName, name)
	case name == "." || name == ".." || strings.HasPrefix(name, "-") || strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: %q is not a usable name", ErrName, name)
	case name == RootName:
		return fmt.Errorf("%w: %q is etcd's administrator; it is never issued to a node or an operator", ErrName, name)
	}
	return nil
}

// CheckRole checks an operator role.
func CheckRole(role string) error {
	if role != RoleAdmin && role != RoleViewer {
		return fmt.Errorf("%w: %q: an operator's role is %s or %s", ErrRole, role, RoleAdmin, RoleViewer)
	}
	return nil
}

// CA is a loaded certificate authority that can sign certificates.
type CA struct {
	Dir  Dir
	Cert *x509.Certificate // the current CA: it signs
	// Pool holds every CA of ca.pem: the current one and, during a
	// rotation, the older ones whose certificates are still trusted.
	Pool *x509.CertPool
	key  crypto.Signer
	now  func() time.Time
}

// Init creates a new CA in d: the directory (0700) and ca.pem and
// ca-key.pem (0600). It refuses with ErrExists when d already holds a CA.
// The CA is named after the cluster.
func Init(d Dir, cluster string) (*CA, error) {
	if d.HasCA() {
		return nil, fmt.Errorf("%w: %s holds a CA already", ErrExists, d.CAFile())
	}
	if err := os.MkdirAll(string(d), DirMode); err != nil {
		return nil, fmt.Errorf("pki: creating %s: %w", d, err)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "resmon " + cluster + " CA", Organization: []string{Organization}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: making the CA certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding the CA key: %w", err)
	}
	// The key first: a CA certificate without its key would read as a CA
	// that cannot sign. Both are created exclusively, so two processes
	// initializing one directory cannot mix their halves.
	if err := writeNew(d.CAKeyFile(), "PRIVATE KEY", kder); err != nil {
		return nil, err
	}
	if err := writeNew(d.CAFile(), "CERTIFICATE", der); err != nil {
		os.Remove(d.CAKeyFile())
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Dir: d, Cert: cert, Pool: pool, key: key, now: time.Now}, nil
}

// LoadCA loads the CA of d: the first certificate of ca.pem and the key in
// ca-key.pem, which must belong together.
func LoadCA(d Dir) (*CA, error) {
	certs, err := LoadCertificates(d.CAFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (create one with `cluster pki init`): %w", ErrNoPKI, d, err)
	}
	if err != nil {
		return nil, err
	}
	key, err := LoadKey(d.CAKeyFile())
	if err != nil {
		return nil, err
	}
	if !samePublicKey(certs[0].PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: %s does not belong to the first certificate of %s", ErrMismatch, d.CAKeyFile(), d.CAFile())
	}
	if !certs[0].IsCA {
		return nil, fmt.Errorf("%w: the first certificate of %s is not a CA", ErrBadFile, d.CAFile())
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &CA{Dir: d, Cert: certs[0], Pool: pool, key: key, now: time.Now}, nil
}

// LoadPool loads every CA certificate of d's ca.pem, for verifying peers
// where the CA key is not at hand.
func LoadPool(d Dir) (*x509.CertPool, error) {
	certs, err := LoadCertificates(d.CAFile())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// NodeHosts are the names and addresses a node certificate is valid for
// besides those given: loopback, localhost, and NodeMarker.
var NodeHosts = []string{"127.0.0.1", "::1", "localhost", NodeMarker}

// IssueNode signs a certificate for node name, usable to serve (etcd client
// and peer ports) and as a client (clusterd to etcd, member to member), and
// writes it with its new key into d/nodes, replacing an older one. hosts
// are the node's addresses (IP addresses or DNS names, such as the hosts of
// its client and peer URLs); the node's name is added when it is a valid
// DNS name, and so are NodeHosts.
func (ca *CA) IssueNode(name string, hosts []string, validity time.Duration) (*x509.Certificate, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if op, _ := ca.Dir.OperatorFiles(name); exists(op) {
		return nil, fmt.Errorf("%w: %q is an operator's name (%s); nodes and operators share the etcd user names", ErrName, name, op)
	}
	tmpl := ca.template(name, RoleNode, validity)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	all := slices.Concat(hosts, NodeHosts)
	if isDNSName(name) {
		all = append(all, name)
	}
	for _, h := range all {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if isDNSName(h) && !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		} else if !isDNSName(h) {
			return nil, fmt.Errorf("%w: host %q of node %q is neither an IP address nor a DNS name", ErrName, h, name)
		}
	}
	cert, key := ca.Dir.NodeFiles(name)
	return ca.issue(tmpl, cert, key)
}

// IssueOperator signs a client certificate for operator name with role
// (RoleAdmin or RoleViewer) and writes it with its new key into
// d/operators, replacing an older one.
func (ca *CA) IssueOperator(name, role string, validity time.Duration) (*x509.Certificate, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if err := CheckRole(role); err != nil {
		return nil, err
	}
	if n, _ := ca.Dir.NodeFiles(name); exists(n) {
		return nil, fmt.Errorf("%w: %q is a node's name (%s); nodes and operators share the etcd user names", ErrName, name, n)
	}
	tmpl := ca.template(name, role, validity)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	cert, key := ca.Dir.OperatorFiles(name)
	return ca.issue(tmpl, cert, key)
}

// RootCertificate makes the etcd root identity in memory: a client
// certificate with common name "root", valid for validity (at most
// MaxRootValidity).
func (ca *CA) RootCertificate(validity time.Duration) (tls.Certificate, error) {
	tmpl := ca.template(RootName, RoleRoot, min(validity, MaxRootValidity))
	tmpl.NotBefore = ca.now().Add(-time.Minute)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: signing the root certificate: %w", err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// RootFiles are where WriteRoot puts a root certificate and its key.
func (d Dir) RootFiles() (cert, key string) {
	return filepath.Join(string(d), "root.pem"), filepath.Join(string(d), "root-key.pem")
}

// WriteRoot writes a root certificate made by RootCertificate to d's root
// files (0600), replacing older ones.
func WriteRoot(d Dir, rc tls.Certificate) (cert, key string, err error) {
	cert, key = d.RootFiles()
	kder, err := x509.MarshalPKCS8PrivateKey(rc.PrivateKey)
	if err != nil {
		return "", "", fmt.Errorf("pki: encoding the root key: %w", err)
	}
	if err := writeReplace(key, "PRIVATE KEY", kder); err != nil {
		return "", "", err
	}
	if err := writeReplace(cert, "CERTIFICATE", rc.Certificate[0]); err != nil {
		return "", "", err
	}
	return cert, key, nil
}

func (ca *CA) template(cn, role string, validity time.Duration) *x509.Certificate {
	if validity <= 0 {
		validity = CertValidity
	}
	now := ca.now()
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{Organization}, OrganizationalUnit: []string{role}},
		NotBefore:    now.Add(-time.Hour), // clocks of the cluster's machines differ a little
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func (ca *CA) issue(tmpl *x509.Certificate, certFile, keyFile string) (*x509.Certificate, error) {
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: signing %q: %w", tmpl.Subject.CommonName, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding the key of %q: %w", tmpl.Subject.CommonName, err)
	}
	if err := os.MkdirAll(filepath.Dir(certFile), DirMode); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	// Key then certificate, each replaced atomically; a reader between the
	// two renames sees a mismatch and says so, never a half-written file.
	if err := writeReplace(keyFile, "PRIVATE KEY", kder); err != nil {
		return nil, err
	}
	if err := writeReplace(certFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, nil
}

// Role is the role a certificate carries in its Subject OrganizationalUnit,
// or "" when it carries none of ours.
func Role(c *x509.Certificate) string {
	for _, ou := range c.Subject.OrganizationalUnit {
		switch ou {
		case RoleNode, RoleAdmin, RoleViewer, RoleRoot:
			return ou
		}
	}
	return ""
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating a key: %w", err)
	}
	return k, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("pki: crypto/rand failed: %v", err)) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// isDNSName reports whether s can be a DNS subject alternative name.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// writeNew writes a PEM file that must not exist yet.
func writeNew(path, typ string, der []byte) error {
	tmp, err := writeTemp(path, typ, der)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

// writeReplace writes a PEM file, replacing any older one atomically.
func writeReplace(path, typ string, der []byte) error {
	tmp, err := writeTemp(path, typ, der)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func writeTemp(path, typ string, der []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return "", fmt.Errorf("pki: %w", err)
	}
	// CreateTemp makes the file 0600 already; Chmod says so explicitly
	// should that ever change.
	err = f.Chmod(FileMode)
	if err == nil {
		err = pem.Encode(f, &pem.Block{Type: typ, Bytes: der})
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("pki: writing %s: %w", path, err)
	}
	return f.Name(), nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// keep the key types LoadKey accepts in one place.
func signerOf(k any) (crypto.Signer, bool) {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return k, true
	case *rsa.PrivateKey:
		return k, true
	case ed25519.PrivateKey:
		return k, true
	}
	return nil, false
}

// Bootstrap readies d for a node that finds no PKI on its first start: when
// d holds no CA it creates one, the node's certificate, and an admin
// operator certificate named operator (for the local administrator); when d
// holds a CA and its key but no certificate for node, it issues that one.
// It returns the files it wrote, and none when d was ready.
func Bootstrap(d Dir, cluster, node string, hosts []string, operator string) ([]string, error) {
	nodeCert, _ := d.NodeFiles(node)
	if d.HasCA() && exists(nodeCert) {
		return nil, nil
	}
	var (
		ca      *CA
		err     error
		written []string
	)
	if d.HasCA() {
		if !exists(d.CAKeyFile()) {
			return nil, fmt.Errorf("%w: no certificate for node %q in %s, and no CA key there to issue one (issue it where the CA key is: `cluster pki issue node %s`)",
				ErrNoPKI, node, d, node)
		}
		ca, err = LoadCA(d)
	} else {
		ca, err = Init(d, cluster)
		written = append(written, d.CAFile(), d.CAKeyFile())
	}
	if err != nil {
		return written, err
	}
	if _, err := ca.IssueNode(node, hosts, 0); err != nil {
		return written, err
	}
	c, k := d.NodeFiles(node)
	written = append(written, c, k)
	if operator != "" {
		if op, _ := d.OperatorFiles(operator); !exists(op) {
			if _, err := ca.IssueOperator(operator, RoleAdmin, 0); err != nil {
				return written, err
			}
			c, k := d.OperatorFiles(operator)
			written = append(written, c, k)
		}
	}
	return written, nil
}
