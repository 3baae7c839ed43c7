package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/pki"
)

func newCA(t *testing.T) (*pki.CA, pki.Dir) {
	t.Helper()
	d := pki.Dir(filepath.Join(t.TempDir(), "pki"))
	ca, err := pki.Init(d, "test")
	if err != nil {
		t.Fatal(err)
	}
	return ca, d
}

func TestInitWritesPrivateFilesAndRefusesASecondCA(t *testing.T) {
	ca, d := newCA(t)
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "resmon test CA" {
		t.Fatalf("CA subject %s, IsCA %v", ca.Cert.Subject, ca.Cert.IsCA)
	}
	if _, err := ca.IssueNode("node1", []string{"10.0.0.1"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.IssueOperator("alice", pki.RoleViewer, 0); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(string(d), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := e.Info()
		want := pki.FileMode
		if e.IsDir() {
			want = pki.DirMode
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Init(d, "test"); !errors.Is(err, pki.ErrExists) {
		t.Fatalf("second Init: %v, want ErrExists", err)
	}
	again, err := pki.LoadCA(d)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("LoadCA: %v", err)
	}
}

func TestNodeCertificateUsagesAndNames(t *testing.T) {
	ca, d := newCA(t)
	if _, err := ca.IssueNode("node1", []string{"10.0.0.1", "db1.example.org", "10.0.0.1"}, 0); err != nil {
		t.Fatal(err)
	}
	cf, kf := d.NodeFiles("node1")
	pair, err := pki.LoadKeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	c := pair.Leaf
	if c.Subject.CommonName != "node1" || pki.Role(c) != pki.RoleNode {
		t.Fatalf("subject %s, role %q", c.Subject, pki.Role(c))
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if !slices.Contains(c.ExtKeyUsage, u) {
			t.Errorf("usage %v missing", u)
		}
	}
	for _, h := range []string{"10.0.0.1", "127.0.0.1", "db1.example.org", "node1", "localhost", pki.NodeMarker} {
		if err := c.VerifyHostname(h); err != nil {
			t.Errorf("not valid for %s: %v", h, err)
		}
	}
	if n := len(c.IPAddresses); n != 3 { // 10.0.0.1 once, 127.0.0.1, ::1
		t.Errorf("IP SANs %v", c.IPAddresses)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("does not chain to the CA: %v", err)
	}
	// A name that is no DNS name is still a fine node name: only left out of the SANs.
	if _, err := ca.IssueNode("nœud 2", nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.IssueNode("node3", []string{"bad host!"}, 0); !errors.Is(err, pki.ErrName) {
		t.Fatalf("bad host: %v", err)
	}
}

func TestOperatorCertificateCarriesItsRole(t *testing.T) {
	ca, d := newCA(t)
	for _, role := range []string{pki.RoleAdmin, pki.RoleViewer} {
		name := "op-" + role
		if _, err := ca.IssueOperator(name, role, 48*time.Hour); err != nil {
			t.Fatal(err)
		}
		cf, kf := d.OperatorFiles(name)
		pair, err := pki.LoadKeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		c := pair.Leaf
		if c.Subject.CommonName != name || pki.Role(c) != role || !slices.Equal(c.Subject.OrganizationalUnit, []string{role}) {
			t.Errorf("subject %s, role %q", c.Subject, pki.Role(c))
		}
		if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
			t.Errorf("%s: usages %v, want client only", name, c.ExtKeyUsage)
		}
		if len(c.DNSNames)+len(c.IPAddresses) != 0 || c.VerifyHostname(pki.NodeMarker) == nil {
			t.Errorf("%s: an operator certificate must carry no host names", name)
		}
		if d := time.Until(c.NotAfter); d > 49*time.Hour || d < 47*time.Hour {
			t.Errorf("%s: expires in %s, want 48h", name, d)
		}
	}
}

func TestNamesAndRolesRefused(t *testing.T) {
	ca, _ := newCA(t)
	if _, err := ca.IssueNode("node1", nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.IssueOperator("alice", pki.RoleAdmin, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, role string
		want       error
	}{
		{"root", pki.RoleAdmin, pki.ErrName},
		{"", pki.RoleAdmin, pki.ErrName},
		{"a/b", pki.RoleAdmin, pki.ErrName},
		{"..", pki.RoleAdmin, pki.ErrName},
		{"-flag", pki.RoleAdmin, pki.ErrName},
		{"bell\a", pki.RoleAdmin, pki.ErrName},
		{strings.Repeat("x", 65), pki.RoleAdmin, pki.ErrName},
		{"node1", pki.RoleAdmin, pki.ErrName}, // a node's name
		{"bob", "superuser", pki.ErrRole},
		{"bob", pki.RoleNode, pki.ErrRole},
	} {
		if _, err := ca.IssueOperator(c.name, c.role, 0); !errors.Is(err, c.want) {
			t.Errorf("operator %q role %q: %v, want %v", c.name, c.role, err, c.want)
		}
	}
	if _, err := ca.IssueNode("alice", nil, 0); !errors.Is(err, pki.ErrName) {
		t.Errorf("node named like an operator: %v", err)
	}
	if _, err := ca.IssueNode("root", nil, 0); !errors.Is(err, pki.ErrName) {
		t.Errorf("node named root: %v", err)
	}
}

func TestRootCertificateIsShortLivedAndNotWritten(t *testing.T) {
	ca, d := newCA(t)
	before, _ := os.ReadDir(string(d))
	rc, err := ca.RootCertificate(pki.RootValidity)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Leaf.Subject.CommonName != pki.RootName || pki.Role(rc.Leaf) != pki.RoleRoot || time.Until(rc.Leaf.NotAfter) > pki.RootValidity {
		t.Fatalf("root certificate %s until %s", rc.Leaf.Subject, rc.Leaf.NotAfter)
	}
	if long, err := ca.RootCertificate(24 * time.Hour); err != nil || time.Until(long.Leaf.NotAfter) > pki.MaxRootValidity {
		t.Fatalf("a day-long root certificate: %v, until %s", err, long.Leaf.NotAfter)
	}
	after, _ := os.ReadDir(string(d))
	if len(after) != len(before) {
		t.Fatalf("RootCertificate wrote files: %v → %v", before, after)
	}
}

func TestBootstrapMakesASingleNodePKIOnce(t *testing.T) {
	d := pki.Dir(filepath.Join(t.TempDir(), "pki"))
	files, err := pki.Bootstrap(d, "resmon", "node1", []string{"127.0.0.1"}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Fatalf("wrote %v", files)
	}
	if files, err := pki.Bootstrap(d, "resmon", "node1", nil, "admin"); err != nil || len(files) != 0 {
		t.Fatalf("second bootstrap wrote %v, %v", files, err)
	}
	// A CA without its key cannot issue the missing node certificate.
	os.Remove(d.CAKeyFile())
	if _, err := pki.Bootstrap(d, "resmon", "node2", nil, "admin"); !errors.Is(err, pki.ErrNoPKI) || !strings.Contains(err.Error(), "cluster pki issue node node2") {
		t.Fatalf("bootstrap without the CA key: %v", err)
	}
}

func TestListReportsRolesExpiryAndProblems(t *testing.T) {
	ca, d := newCA(t)
	ca.IssueNode("node1", nil, 0)
	ca.IssueOperator("alice", pki.RoleViewer, 10*24*time.Hour)
	ca.IssueOperator("bob", pki.RoleAdmin, 0)
	// bob's key replaced by another: a mismatch, reported, not fatal.
	_, kf := d.OperatorFiles("bob")
	writeKey(t, kf)
	list, err := pki.List(d)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]pki.Info{}
	for _, in := range list {
		got[in.Kind+"/"+in.Name] = in
	}
	if in := got["node/node1"]; in.Role != pki.RoleNode || in.Problem != "" {
		t.Errorf("node1: %+v", in)
	}
	if in := got["operator/alice"]; in.Role != pki.RoleViewer || !in.ExpiresWithin(time.Now(), pki.ExpiryWarning) {
		t.Errorf("alice: %+v", in)
	}
	if in := got["operator/bob"]; in.Role != pki.RoleAdmin || in.ExpiresWithin(time.Now(), pki.ExpiryWarning) || !strings.Contains(in.Problem, "does not belong") {
		t.Errorf("bob: %+v", in)
	}
	if in := got["ca/ca"]; in.Kind != "ca" || in.NotAfter.Before(time.Now().Add(9*365*24*time.Hour)) {
		t.Errorf("ca: %+v", in)
	}
	if _, err := pki.List(pki.Dir(t.TempDir())); !errors.Is(err, pki.ErrNoPKI) {
		t.Errorf("empty dir: %v", err)
	}
}

func writeKey(t *testing.T, file string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	ca, d := newCA(t)
	ca.IssueOperator("alice", pki.RoleAdmin, 0)
	goodCert, goodKey := d.OperatorFiles("alice")
	certPEM, _ := os.ReadFile(goodCert)
	keyPEM, _ := os.ReadFile(goodKey)
	pub, _ := x509.MarshalPKIXPublicKey(ca.Cert.PublicKey)
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	otherKey := filepath.Join(dir, "other-key.pem")
	writeKey(t, otherKey)
	for _, c := range []struct {
		name       string
		cert, key  string
		want       error
		wantInText string
	}{
		{"no PEM in the certificate", write("garbage.pem", []byte("hello"), 0o600), goodKey, pki.ErrBadFile, "garbage.pem holds no PEM certificate"},
		{"key where the certificate should be", write("keyascert.pem", keyPEM, 0o600), goodKey, pki.ErrBadFile, `"PRIVATE KEY" where a CERTIFICATE was expected`},
		{"certificate where the key should be", goodCert, write("certaskey.pem", certPEM, 0o600), pki.ErrBadFile, `certaskey.pem holds a "CERTIFICATE" PEM block where a private key`},
		{"a public key", goodCert, write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600), pki.ErrBadFile, `"PUBLIC KEY"`},
		{"corrupt key", goodCert, write("corrupt-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("xx")}), 0o600), pki.ErrBadFile, "corrupt-key.pem"},
		{"corrupt certificate", write("corrupt.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("xx")}), 0o600), goodKey, pki.ErrBadFile, "corrupt.pem: certificate 1"},
		{"mismatched key", goodCert, otherKey, pki.ErrMismatch, "other-key.pem does not belong to the certificate in " + goodCert},
		{"world-readable key", goodCert, write("open-key.pem", keyPEM, 0o644), pki.ErrBadFile, "open-key.pem is accessible by group or others"},
		{"missing certificate", filepath.Join(dir, "none.pem"), goodKey, fs.ErrNotExist, "none.pem"},
	} {
		_, err := pki.LoadKeyPair(c.cert, c.key)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.wantInText) {
			t.Errorf("%s: %v\nwant %v containing %q", c.name, err, c.want, c.wantInText)
		}
	}
	if _, err := pki.LoadKeyPair(goodCert, goodKey); err != nil {
		t.Fatal(err)
	}
}

// FuzzLoadKeyPair feeds arbitrary certificate and key files to the loader:
// it never panics, and it either returns a pair whose key matches its
// certificate or an error that names one of the two files.
func FuzzLoadKeyPair(f *testing.F) {
	d := pki.Dir(filepath.Join(f.TempDir(), "pki"))
	ca, err := pki.Init(d, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	ca.IssueOperator("alice", pki.RoleAdmin, 0)
	cf, kf := d.OperatorFiles("alice")
	certPEM, _ := os.ReadFile(cf)
	keyPEM, _ := os.ReadFile(kf)
	caPEM, _ := os.ReadFile(d.CAFile())
	caKeyPEM, _ := os.ReadFile(d.CAKeyFile())
	f.Add(certPEM, keyPEM)
	f.Add(keyPEM, certPEM)
	f.Add(certPEM, caKeyPEM)
	f.Add(append(certPEM, caPEM...), keyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte{}, []byte("\x00\xff"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, certData, keyData []byte) {
		certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		if err := os.WriteFile(certFile, certData, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, keyData, 0o600); err != nil {
			t.Fatal(err)
		}
		pair, err := pki.LoadKeyPair(certFile, keyFile)
		if err != nil {
			if !strings.Contains(err.Error(), certFile) && !strings.Contains(err.Error(), keyFile) {
				t.Fatalf("error names neither file: %v", err)
			}
			if !errors.Is(err, pki.ErrBadFile) && !errors.Is(err, pki.ErrMismatch) {
				t.Fatalf("error is neither ErrBadFile nor ErrMismatch: %v", err)
			}
			return
		}
		if pair.Leaf == nil || len(pair.Certificate) == 0 {
			t.Fatal("a loaded pair without its certificate")
		}
		type pub interface{ Equal(crypto.PublicKey) bool }
		if !pair.Leaf.PublicKey.(pub).Equal(pair.PrivateKey.(crypto.Signer).Public()) {
			t.Fatal("loaded a key that does not match its certificate")
		}
		// And the CA bundle loader agrees on what is a certificate.
		if _, err := pki.LoadCertificates(certFile); err != nil {
			t.Fatalf("pair loaded, certificates not: %v", err)
		}
	})
}
