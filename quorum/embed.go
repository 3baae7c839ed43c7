package quorum

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// ErrEmbeddedStart reports that the embedded etcd member could not start or join.
var ErrEmbeddedStart = errors.New("quorum: embedded etcd did not start")

// EmbedConfig describes one embedded etcd member. A single-member cluster needs
// only Name and DataDir; a node-majority cluster lists every member in Peers.
type EmbedConfig struct {
	Name    string // member name, normally the node name
	DataDir string // the member's data lives in DataDir; created 0700 if missing

	// ClientURL and PeerURL are where the member listens. https:// needs
	// TLS; http:// (plaintext, for tests and insecure_plaintext setups)
	// needs none. Default https://127.0.0.1:2379 and :2380 with TLS, else
	// the http:// equivalents.
	ClientURL string
	PeerURL   string

	// TLS, when set, secures every https:// URL of the member: clients and
	// peers must present a certificate signed by the CA, and peers one valid
	// for PeerHostname as well.
	TLS *MemberTLS

	// Peers maps member name → peer URL for node-majority mode, including this
	// member. Empty means a single-member cluster.
	Peers map[string]string
	// ClusterToken keeps separate clusters from talking to each other.
	ClusterToken string
	// Join starts this member as an addition to a running cluster
	// ("existing" state); the member must first be added with `etcdctl member add`.
	Join bool

	TickMs     uint // heartbeat interval; default 100
	ElectionMs uint // election timeout; default 1000

	// LogFile receives etcd's own log; default DataDir/etcd.log.
	LogFile string
	// StartTimeout bounds waiting for the member to serve (it waits for
	// quorum in node-majority mode); default 60s.
	StartTimeout time.Duration
}

// maxSocketPath is the longest path a unix socket can be bound at
// (sockaddr_un's sun_path holds 108 bytes with its terminating NUL).
const maxSocketPath = 107

// HTTPSocket is where a member with TLS on its client URL serves etcd's
// HTTP endpoints (/health, /metrics, /version): a unix socket in DataDir,
// with the client URL's TLS and certificate check, so the client port
// serves gRPC alone. It is "" without client TLS, or when the path would
// be too long to bind; then the client port serves both, as etcd does by
// default.
func (c EmbedConfig) HTTPSocket() string {
	if c.TLS == nil || !strings.HasPrefix(c.ClientURL, "https://") {
		return ""
	}
	sock := filepath.Join(c.DataDir, "etcd-http.sock")
	if !filepath.IsAbs(sock) {
		if abs, err := filepath.Abs(sock); err == nil {
			sock = abs
		}
	}
	if len(sock) > maxSocketPath {
		return ""
	}
	return sock
}

// MemberTLS are the files that secure an embedded member.
type MemberTLS struct {
	CAFile   string // CA bundle that client and peer certificates must chain to
	CertFile string // the member's certificate: server and client usages
	KeyFile  string
	// PeerHostname, when set, is a name every peer's certificate must be
	// valid for (pki.NodeMarker), so that an operator's certificate, signed
	// by the same CA, is refused on the peer port.
	PeerHostname string
}

func (c *EmbedConfig) setDefaults() {
	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
	}
	if c.ClientURL == "" {
		c.ClientURL = scheme + "://127.0.0.1:2379"
	}
	if c.PeerURL == "" {
		c.PeerURL = scheme + "://127.0.0.1:2380"
	}
	if c.TickMs == 0 {
		c.TickMs = 100
	}
	if c.ElectionMs == 0 {
		c.ElectionMs = 1000
	}
	if c.ClusterToken == "" {
		c.ClusterToken = "resmon"
	}
	if c.LogFile == "" {
		c.LogFile = filepath.Join(c.DataDir, "etcd.log")
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
}

// Embedded is a running embedded etcd member.
type Embedded struct {
	etcd   *embed.Etcd
	config EmbedConfig
}

// StartEmbedded starts an etcd member in this process and waits until it serves
// clients, which in node-majority mode means until a majority of Peers is up.
// Data in DataDir survives restarts.
func StartEmbedded(ctx context.Context, c EmbedConfig) (*Embedded, error) {
	c.setDefaults()
	if c.Name == "" || c.DataDir == "" {
		return nil, fmt.Errorf("%w: member name and data dir are required", ErrEmbeddedStart)
	}
	if c.ElectionMs < 5*c.TickMs {
		return nil, fmt.Errorf("%w: election timeout %dms must be at least 5 heartbeats (%dms)", ErrEmbeddedStart, c.ElectionMs, 5*c.TickMs)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEmbeddedStart, err)
	}
	ec := embed.NewConfig()
	ec.Name = c.Name
	ec.Dir = filepath.Join(c.DataDir, "member")
	ec.TickMs = c.TickMs
	ec.ElectionMs = c.ElectionMs
	ec.InitialClusterToken = c.ClusterToken
	ec.LogLevel = "warn"
	ec.LogOutputs = []string{c.LogFile}
	// Keep an hour of history for watches that resume; bounded disk use.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"
	cu, err := url.Parse(c.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("%w: client URL %q: %v", ErrEmbeddedStart, c.ClientURL, err)
	}
	pu, err := url.Parse(c.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("%w: peer URL %q: %v", ErrEmbeddedStart, c.PeerURL, err)
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	if err := c.applyTLS(ec, cu, pu); err != nil {
		return nil, err
	}
	peers := c.Peers
	if len(peers) == 0 {
		peers = map[string]string{c.Name: c.PeerURL}
	}
	if u, ok := peers[c.Name]; !ok || u != c.PeerURL {
		return nil, fmt.Errorf("%w: member %q must be listed in the peers with its peer URL %s", ErrEmbeddedStart, c.Name, c.PeerURL)
	}
	ec.InitialCluster = initialCluster(peers)
	ec.ClusterState = embed.ClusterStateFlagNew
	if c.Join {
		ec.ClusterState = embed.ClusterStateFlagExisting
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (log: %s)", ErrEmbeddedStart, err, c.LogFile)
	}
	t := time.NewTimer(c.StartTimeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return &Embedded{etcd: e, config: c}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("%w: %v (log: %s)", ErrEmbeddedStart, err, c.LogFile)
	case <-t.C:
		e.Close()
		return nil, fmt.Errorf("%w: not ready after %s; in node-majority mode a majority of %d members must be running (log: %s)",
			ErrEmbeddedStart, c.StartTimeout, len(peers), c.LogFile)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("%w: %v", ErrEmbeddedStart, ctx.Err())
	}
}

// applyTLS secures the https:// URLs: TLS with client-certificate
// authentication, so that a client's certificate common name is its etcd
// user name (see auth.go).
func (c *EmbedConfig) applyTLS(ec *embed.Config, cu, pu *url.URL) error {
	for _, u := range []*url.URL{cu, pu} {
		switch {
		case u.Scheme == "https" && c.TLS == nil:
			return fmt.Errorf("%w: %s is https but the member has no TLS files", ErrEmbeddedStart, u)
		case u.Scheme != "https" && u.Scheme != "http":
			return fmt.Errorf("%w: %s: the scheme must be https or http", ErrEmbeddedStart, u)
		}
	}
	if c.TLS == nil {
		return nil
	}
	for _, f := range []string{c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile} {
		// etcd would start and then fail every handshake; say which file now.
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%w: TLS: %w", ErrEmbeddedStart, err)
		}
	}
	info := func() transport.TLSInfo {
		return transport.TLSInfo{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, TrustedCAFile: c.TLS.CAFile,
			ClientCertAuth: true, MinVersion: tls.VersionTLS12}
	}
	if cu.Scheme == "https" {
		ec.ClientTLSInfo = info()
		// No HTTP/JSON gateway: the gRPC port is all that clusterd, the CLI
		// and etcdctl use, and the gateway cannot carry a certificate's
		// identity.
		ec.EnableGRPCGateway = false
		// etcd serves gRPC over TLS through net/http's HTTP/2 server while
		// its HTTP endpoints share the port; with those on a socket of
		// their own, gRPC gets its native server, which costs etcd about
		// 30% less CPU for the same requests (the mass failover report).
		if sock := c.HTTPSocket(); sock != "" {
			ec.ListenClientHttpUrls = []url.URL{{Scheme: "unixs", Path: sock}}
		}
	}
	if pu.Scheme == "https" {
		ec.PeerTLSInfo = info()
		if c.TLS.PeerHostname != "" {
			ec.PeerTLSInfo.AllowedHostnames = []string{c.TLS.PeerHostname}
		}
	}
	return nil
}

func initialCluster(peers map[string]string) string {
	names := make([]string, 0, len(peers))
	for n := range peers {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + peers[n]
	}
	return strings.Join(parts, ",")
}

// Endpoints are the client URLs of this member.
func (e *Embedded) Endpoints() []string { return []string{e.config.ClientURL} }

// Err reports a fatal error of the running member; it never closes on a clean stop.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// IsLeader reports whether this member currently leads the raft group.
func (e *Embedded) IsLeader() bool { return e.etcd.Server.Leader() == e.etcd.Server.MemberID() }

// Close stops the member and waits for it to release its data directory.
func (e *Embedded) Close() {
	e.etcd.Close()
	<-e.etcd.Server.StopNotify()
}
