package quorum

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// ErrEmbeddedStart reports that the embedded etcd member could not start or join.
var ErrEmbeddedStart = errors.New("quorum: embedded etcd did not start")

// EmbedConfig describes one embedded etcd member. A single-member cluster needs
// only Name and DataDir; a node-majority cluster lists every member in Peers.
type EmbedConfig struct {
	Name    string // member name, normally the node name
	DataDir string // the member's data lives in DataDir; created 0700 if missing

	ClientURL string // default http://127.0.0.1:2379
	PeerURL   string // default http://127.0.0.1:2380

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

func (c *EmbedConfig) setDefaults() {
	if c.ClientURL == "" {
		c.ClientURL = "http://127.0.0.1:2379"
	}
	if c.PeerURL == "" {
		c.PeerURL = "http://127.0.0.1:2380"
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
