package quorum_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"go.etcd.io/etcd/server/v3/embed"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, into dir.
func testPKI(t *testing.T, dir string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "resmon test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		return write(cn+".pem", "CERTIFICATE", der), write(cn+"-key.pem", "EC PRIVATE KEY", kder)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	serverCert, serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	return
}

// TestExternalClientTLSAndAuth runs etcd as an "external" server with mutual
// TLS and auth enabled and reaches it through ClientConfig.
func TestExternalClientTLSAndAuth(t *testing.T) {
	dir := t.TempDir()
	ca, sc, sk, cc, ck := testPKI(t, dir)
	clientURL := strings.Replace(quorumtest.FreeURL(t), "http:", "https:", 1)
	peerURL := quorumtest.FreeURL(t)
	ec := embed.NewConfig()
	ec.Name, ec.Dir = "ext", filepath.Join(dir, "etcd")
	ec.TickMs, ec.ElectionMs = 10, 100
	ec.LogLevel, ec.LogOutputs = "error", []string{filepath.Join(dir, "etcd.log")}
	cu, _ := url.Parse(clientURL)
	pu, _ := url.Parse(peerURL)
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	ec.InitialCluster = "ext=" + peerURL
	ec.ClientTLSInfo.CertFile, ec.ClientTLSInfo.KeyFile = sc, sk
	ec.ClientTLSInfo.TrustedCAFile, ec.ClientTLSInfo.ClientCertAuth = ca, true
	e, err := embed.StartEtcd(ec)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tlsOnly := quorum.ClientConfig{Endpoints: []string{clientURL}, CAFile: ca, CertFile: cc, KeyFile: ck, DialTimeout: 5 * time.Second}
	admin, err := quorum.Connect(ctx, tlsOnly)
	if err != nil {
		t.Fatalf("mutual TLS connect: %v", err)
	}
	// Turn on auth: a root user and a resmon user with a role on /resmon/.
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "resmon"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "resmon", quorum.Root, "/resmon0", 2 /* readwrite */)
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "resmon", "s3cret"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "resmon", "resmon"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("enabling auth: %v", err)
		}
	}
	admin.Close()

	// No client certificate: refused.
	if _, err := quorum.Connect(ctx, quorum.ClientConfig{Endpoints: []string{clientURL}, CAFile: ca, Username: "resmon", Password: "s3cret", DialTimeout: 2 * time.Second}); !errors.Is(err, quorum.ErrUnreachable) {
		t.Fatalf("connect without client certificate: %v", err)
	}
	// Wrong password: refused with a clear error.
	bad := tlsOnly
	bad.Username, bad.Password = "resmon", "wrong"
	if _, err := quorum.Connect(ctx, bad); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("connect with a wrong password: %v", err)
	}
	good := tlsOnly
	good.Username, good.Password = "resmon", "s3cret"
	cli, err := quorum.Connect(ctx, good)
	if err != nil {
		t.Fatalf("connect with TLS and auth: %v", err)
	}
	defer cli.Close()
	s, _ := quorum.NewStore(cli, "ext", nil)
	if err := s.CreateGroup(ctx, model.DefaultGroup("g")); err != nil {
		t.Fatalf("write through TLS+auth: %v", err)
	}
	if _, err := s.Group(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	// A CA file that is not PEM is reported as such.
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("nope"), 0o600)
	if _, err := quorum.Connect(ctx, quorum.ClientConfig{Endpoints: []string{clientURL}, CAFile: junk}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("junk CA: %v", err)
	}
}
