// Package daemon is clusterd, the node monitor: it reads cluster.toml, starts
// or reaches the etcd quorum, joins the cluster as a node, bootstraps the
// cluster database, and runs until it is told to stop or loses its lease.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/internal/config"
	"github.com/resmon/resmon/internal/watchdog"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/monitor"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/goplugin"
	"github.com/resmon/resmon/plugins/proctrack"
	"github.com/resmon/resmon/plugins/wasm"
	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Version is the clusterd version reported in the node's presence record.
var Version = "0.1.0-dev"

// Main parses the command line and runs the daemon until SIGTERM or SIGINT.
// It returns the process exit code.
func Main(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == KeeperCommand {
		return keeperMain(args[1:], stderr)
	}
	fs := flag.NewFlagSet("clusterd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "cluster.toml", "path of the node configuration file")
	logJSON := fs.Bool("log-json", false, "log as JSON lines (overrides [log] format)")
	logLevel := fs.String("log-level", "", "log level: trace, debug, info, warn, error (overrides [log] level)")
	restore := fs.String("restore", "", "restore the backup in this directory into the cluster's etcd and exit; run it while every clusterd is stopped (with embedded etcd it starts this node's member only)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "clusterd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "clusterd: %v\n", err)
		return 2
	}
	if *logJSON {
		cfg.Log.Format = "json"
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	log := NewLogger(cfg, stderr)
	for _, w := range cfg.Warnings() {
		log.Warn(w, "file", cfg.File)
	}
	if *restore != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		info, err := Restore(ctx, cfg, *restore, log)
		if err != nil {
			log.Error("restore failed", "error", err)
			return 1
		}
		log.Info("backup restored; start clusterd on the nodes", "from", info.Dir, "backup_time", info.BackupTime,
			"db_keys", info.DBKeys, "checkpoints", len(info.Checkpoints), "missing", len(info.Missing))
		return 0
	}
	// The first SIGTERM or SIGINT stops gracefully (the node hands its
	// groups on); a second one stops at once: every resource is terminated.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	now := make(chan struct{})
	go func() {
		s := <-sigs
		log.Info("stopping: handing this node's groups on; a second signal stops at once", "signal", s.String())
		stop()
		s = <-sigs
		log.Warn("stopping at once: terminating every resource", "signal", s.String())
		close(now)
	}()
	if err := Run(WithStopNow(ctx, now), cfg, log); err != nil {
		log.Error("clusterd stopped", "error", err)
		return 1
	}
	return 0
}

type stopNowKey struct{}

// WithStopNow returns ctx carrying now: when now closes during a graceful
// stop, the node stops waiting for its groups to move and terminates them.
func WithStopNow(ctx context.Context, now <-chan struct{}) context.Context {
	return context.WithValue(ctx, stopNowKey{}, now)
}

func stopNow(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stopNowKey{}).(<-chan struct{})
	return ch // nil: never
}

// NewLogger builds the node's logger from the [log] section.
func NewLogger(cfg *config.Config, w io.Writer) hclog.Logger {
	l := hclog.New(&hclog.LoggerOptions{
		Name:       "clusterd",
		Level:      hclog.LevelFromString(cfg.Log.Level),
		JSONFormat: cfg.Log.Format == "json",
		Output:     w,
	})
	// One node field per line: everything below logs through this one.
	return readableLogger{l}.With("node", cfg.Node.Name)
}

// Run runs the node until ctx ends (a clean stop: the node leaves the cluster
// and revokes its lease) or a fatal error.
func Run(ctx context.Context, cfg *config.Config, log hclog.Logger) error {
	q, err := startQuorum(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer q.close()
	embedded, cli, store := q.embedded, q.cli, q.store
	n := &node{cfg: cfg, log: log, store: store, cli: cli, metrics: newMetrics(), health: &health{state: "starting"},
		events: make(chan quorum.Event, eventQueue)}
	recCtx, stopRec := context.WithCancel(ctx)
	recorded := make(chan struct{})
	go func() { defer close(recorded); n.recordEvents(recCtx) }()
	defer func() { stopRec(); <-recorded }()
	if embedded != nil {
		n.etcdErr = embedded.Err()
	}
	// Applications that resources start (a Generic Application's command)
	// find their node here: the node's name and its admin API, which serves
	// the node-local registry.
	os.Setenv("RESMON_NODE", cfg.Node.Name)
	os.Setenv("RESMON_ADMIN", cfg.Node.Admin)
	// Whatever a previous run of this node left running dies before the
	// node joins: the groups it ran may be elsewhere by now.
	stopTracking, err := n.startTracking(ctx)
	if err != nil {
		return err
	}
	defer stopTracking()
	if err := n.openLocal(); err != nil {
		return err
	}
	defer n.closeLocal()
	n.metrics.reg.MustRegister(newClusterCollector(n.metrics, store, cfg.Node.Name, n.health))
	if cfg.Node.Metrics != "" {
		stopMetrics, err := n.serveMetrics(ctx, cfg.Node.Metrics)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	if cfg.Web.Listen != "" {
		stopWeb, err := n.startWeb(ctx)
		if err != nil {
			return err
		}
		defer stopWeb()
	}
	stopAdmin, err := n.startAdmin(ctx)
	if err != nil {
		return err
	}
	defer stopAdmin()
	return n.run(ctx)
}

// Restore restores the backup in dir into the cluster's etcd while no node
// runs: with embedded etcd it starts this node's member alone (it needs a
// majority of the members: start the others the same way, or as nodes
// after this one is up), checks that no node is up and restores, then stops
// it again. With external etcd `cluster restore` does the same.
// Checkpoints the backup holds come back marked as restored: each waits for
// an operator's recover or accept before its resource comes online.
func Restore(ctx context.Context, cfg *config.Config, dir string, log hclog.Logger) (quorum.RestoreInfo, error) {
	q, err := startQuorum(ctx, cfg, log)
	if err != nil {
		return quorum.RestoreInfo{}, err
	}
	defer q.close()
	info, err := q.store.Restore(ctx, dir, false)
	if err != nil {
		return info, err
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := q.store.AppendEvent(ectx, quorum.Event{Node: cfg.Node.Name, Kind: "cluster.restore", Subject: cfg.Cluster.Name,
		Message: fmt.Sprintf("restored from %s (backup of %s) by clusterd -restore on %s", info.Dir, info.BackupTime.Format(time.RFC3339), cfg.Node.Name)}); err != nil {
		log.Warn("could not record the restore in the event log", "error", err)
	}
	return info, nil
}

// quorum is the node's way to the cluster's etcd: its embedded member, if
// it runs one, and a client.
type quorumConn struct {
	embedded *quorum.Embedded
	cli      *clientv3.Client
	store    *quorum.Store
	log      hclog.Logger
}

func (q *quorumConn) close() {
	if q.cli != nil {
		q.cli.Close()
	}
	if q.embedded != nil {
		q.embedded.Close()
		q.log.Info("embedded etcd stopped")
	}
}

// startQuorum starts the embedded member (with its PKI and etcd auth) or
// reaches the external cluster, and connects to it.
func startQuorum(ctx context.Context, cfg *config.Config, log hclog.Logger) (_ *quorumConn, err error) {
	if err := os.MkdirAll(cfg.Node.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	q := &quorumConn{log: log}
	defer func() {
		if err != nil {
			q.close()
		}
	}()
	if cfg.Quorum.InsecurePlaintext {
		log.Warn("quorum.insecure_plaintext is set: etcd traffic on loopback may be plaintext, without TLS or etcd auth, so every local user can read and change the cluster database",
			"file", cfg.File)
	}
	if cfg.Quorum.Mode == config.ModeEmbedded {
		ecfg := cfg.EmbedConfig()
		if ecfg.TLS != nil {
			if err := preparePKI(cfg, log); err != nil {
				return nil, err
			}
		}
		log.Info("starting embedded etcd", "client_url", ecfg.ClientURL, "peer_url", ecfg.PeerURL, "members", len(ecfg.Peers), "data_dir", ecfg.DataDir)
		start := time.Now()
		e, err := quorum.StartEmbedded(ctx, ecfg)
		if err != nil {
			return nil, err
		}
		q.embedded = e
		log.Info("embedded etcd ready", "took", time.Since(start).Round(time.Millisecond))
		if cfg.EmbeddedTLS() {
			if err := setUpAuth(ctx, cfg, e.Endpoints(), log); err != nil {
				return nil, err
			}
		}
	}
	ccfg, err := cfg.ClientConfig()
	if err != nil {
		return nil, err
	}
	if q.cli, err = quorum.Connect(ctx, ccfg); err != nil {
		return nil, err
	}
	if q.store, err = quorum.NewStore(q.cli, cfg.Cluster.Name, log); err != nil {
		return nil, err
	}
	return q, nil
}

// Node-local state under data_dir.
const (
	RegistryFile = "registry.db" // the node-local registry
	KeystoreDir  = "keys"        // the node-local crypto key containers
	PluginDir    = "plugins"     // the go-plugin host's sockets and pinned binaries
	WASMCacheDir = "wasm-cache"  // compiled WASM modules
)

// openLocal opens the node-local registry and keystore and the checkpoint
// manager over them.
func (n *node) openLocal() error {
	reg, err := registry.Open(filepath.Join(n.cfg.Node.DataDir, RegistryFile))
	if err != nil {
		return err
	}
	ks, err := checkpoint.OpenKeystore(filepath.Join(n.cfg.Node.DataDir, KeystoreDir))
	if err != nil {
		reg.Close()
		return err
	}
	key, err := n.cfg.CryptoKey()
	if err != nil {
		reg.Close()
		return err
	}
	cpm, err := checkpoint.NewManager(checkpoint.Config{
		Node: n.cfg.Node.Name, Store: n.store, Registry: reg, Keystore: ks, CryptoKey: key,
		Log: n.log.Named("checkpoint"), OnStore: n.metrics.checkpointStored,
	})
	if err != nil {
		reg.Close()
		return err
	}
	n.registry, n.checkpoints = reg, cpm
	hosted := monitor.NewHosted()
	n.hosted = hosted
	svc := &services{log: n.log, hosted: hosted, registry: reg, checkpoints: cpm}
	pd, err := goplugin.New(goplugin.Config{Services: svc, DataDir: filepath.Join(n.cfg.Node.DataDir, PluginDir), Node: n.cfg.Node.Name,
		Logger: n.log.Named("plugin"), Tracker: n.tracker})
	if err != nil {
		cpm.Close()
		reg.Close()
		return fmt.Errorf("the go-plugin host: %w", err)
	}
	n.drivers = map[string]plugins.Driver{
		model.KindPlugin: pd,
		model.KindWASM:   wasm.New(wasm.Config{Services: svc, CacheDir: filepath.Join(n.cfg.Node.DataDir, WASMCacheDir), Tracker: n.tracker}),
	}
	mon, err := monitor.New(monitor.Config{
		Node: n.cfg.Node.Name, Cluster: n.store, Checkpoints: cpm, Drivers: n.drivers, Hosted: hosted,
		Log:      n.log.Named("monitor"),
		Events:   n.event,
		Observer: n.metrics,
	})
	if err != nil {
		cpm.Close()
		reg.Close()
		return err
	}
	n.monitor = mon
	return nil
}

// session offers a membership to the monitor.
type session struct{ *quorum.Member }

func (s session) Acquire(ctx context.Context, group string) (monitor.Tenure, error) {
	t, err := s.Member.Acquire(ctx, group)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (n *node) closeLocal() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for kind, d := range n.drivers {
		if err := d.Close(ctx); err != nil {
			n.log.Warn("stopping the plugin host", "kind", kind, "error", err)
		}
	}
	if err := n.checkpoints.Close(); err != nil {
		n.log.Warn("closing the checkpoint manager", "error", err)
	}
	if err := n.registry.Close(); err != nil {
		n.log.Warn("closing the registry", "error", err)
	}
}

type node struct {
	cfg     *config.Config
	log     hclog.Logger
	store   *quorum.Store
	cli     *clientv3.Client
	etcdErr <-chan error

	registry    *registry.Registry
	checkpoints *checkpoint.Manager
	monitor     *monitor.Monitor
	hosted      *monitor.Hosted
	drivers     map[string]plugins.Driver
	tracker     *proctrack.Tracker
	watchdog    *watchdog.Watchdog // nil: none configured; set before the node joins
	metrics     *metrics
	health      *health
	events      chan quorum.Event // to the event log, in order
}

// eventQueue bounds the events waiting for etcd; past it new ones are
// dropped (and logged): the node never waits for its event log.
const eventQueue = 1024

// event records an event in the cluster event log without waiting for
// etcd: a node that lost its quorum must stop, fence and rejoin as fast
// with events to record as without.
func (n *node) event(kind, subject, msg string) {
	n.record(quorum.Event{Node: n.cfg.Node.Name, Kind: kind, Subject: subject, Message: msg})
}

func (n *node) record(e quorum.Event) {
	select {
	case n.events <- e:
	default:
		n.log.Warn("event log queue full; event dropped", "kind", e.Kind, "subject", e.Subject, "message", e.Message)
	}
}

// recordEvents writes queued events until ctx ends, then for at most two
// seconds more what is still queued (the events of the stop itself).
func (n *node) recordEvents(ctx context.Context) {
	write := func(e quorum.Event, d time.Duration) {
		wctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		if err := n.store.AppendEvent(wctx, e); err != nil {
			n.log.Warn("could not record event", "kind", e.Kind, "subject", e.Subject, "error", err)
		}
	}
	for {
		select {
		case e := <-n.events:
			write(e, 5*time.Second)
		case <-ctx.Done():
			end := time.Now().Add(2 * time.Second)
			for {
				select {
				case e := <-n.events:
					if left := time.Until(end); left > 0 {
						write(e, left)
					}
				default:
					return
				}
			}
		}
	}
}

func (n *node) run(ctx context.Context) error {
	types, groups, resources := n.cfg.Records()
	res, err := n.store.Bootstrap(ctx, n.cfg.Node.Name, quorum.Spec{Types: types, Groups: groups, Resources: resources})
	if err != nil {
		return err
	}
	if res.Created {
		n.log.Info("bootstrapped the cluster database from the configuration",
			"types", len(types), "groups", len(groups), "resources", len(resources))
		n.event("cluster.bootstrap", n.cfg.Cluster.Name, fmt.Sprintf("database created from %s", n.cfg.File))
	}
	for _, d := range res.Differences {
		n.log.Warn("configuration differs from the cluster database (database kept)", "difference", d)
	}
	if len(res.Differences) > 0 {
		n.log.Warn("the database was kept: see the differences with `cluster config diff FILE`, make the database match with `cluster config apply FILE`, or write it back into the file with `cluster config export`",
			"file", n.cfg.File, "differences", len(res.Differences))
		n.event("config.differs", n.cfg.Node.Name, fmt.Sprintf("%d differences between %s and the cluster database; the database was kept (cluster config diff %s, cluster config apply %s)",
			len(res.Differences), n.cfg.File, n.cfg.File, n.cfg.File))
	}

	go n.trimEvents(ctx)
	go n.systemdWatchdog(ctx)
	go n.publishSchemas(ctx)
	go func() {
		if err := n.checkpoints.Serve(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("checkpoint requests stopped", "error", err)
		}
	}()

	if err := n.newWatchdog(); err != nil {
		return err
	}
	defer n.disarmWatchdog()
	for {
		m, err := n.join(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := n.armWatchdog(m); err != nil {
			// Required and not armed: this node must own nothing.
			n.health.set(nil, "refusing groups: "+err.Error())
			lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = m.Leave(lctx)
			cancel()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(watchdogRetry):
			}
			continue
		}
		n.health.set(m, "serving")
		n.notify(sd.SdNotifyReady + "\nSTATUS=member of cluster " + n.cfg.Cluster.Name)
		fenced, err := n.serve(ctx, m)
		n.health.set(nil, "stopped")
		if !fenced {
			return err
		}
		n.metrics.fences.Inc()
		n.health.set(nil, "fenced itself; rejoining")
		n.log.Error("self-fenced: every resource was terminated; rejoining with a new lease")
	}
}

// DrainTimeout bounds how long a stopping node waits for its groups to move
// to other nodes before it terminates what is left and leaves.
const DrainTimeout = 5 * time.Minute

// serve runs the monitor for one membership. It returns fenced when the
// node fenced itself and must rejoin; otherwise the node has stopped.
func (n *node) serve(ctx context.Context, m *quorum.Member) (fenced bool, err error) {
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	runErr := make(chan error, 1)
	go func() { runErr <- n.runMonitor(runCtx, m) }()
	select {
	case <-ctx.Done():
		n.notify(sd.SdNotifyStopping + "\nSTATUS=moving this node's groups to other nodes")
		n.log.Info("stopping: moving this node's groups to other nodes")
		// The drain ends at DrainTimeout, at a second signal, or when the
		// node fences itself (etcd unreachable: nothing can be handed on,
		// and the fence has terminated everything).
		dctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
		go func() {
			select {
			case <-stopNow(ctx):
			case <-m.Fenced():
			case <-dctx.Done():
			}
			cancel()
		}()
		if err := n.monitor.Drain(dctx, session{m}); err != nil {
			n.log.Warn("drain incomplete; terminating what is left", "error", err)
		}
		cancel()
		cancelRun()
		<-runErr
		n.event("node.leave", n.cfg.Node.Name, "clusterd stopping")
		select {
		case <-m.Fenced():
			n.log.Info("left the cluster; its lease had already lapsed (the node fenced itself)")
			return false, nil
		default:
		}
		lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := m.Leave(lctx)
		cancel()
		if err != nil {
			n.log.Warn("leaving the cluster: the lease could not be revoked; it lapses within its TTL", "error", err, "ttl", m.TTL())
			return false, nil
		}
		n.log.Info("left the cluster; lease revoked")
		return false, nil
	case err := <-n.etcdErr:
		cancelRun()
		<-runErr
		return false, fmt.Errorf("embedded etcd failed: %w", err)
	case err := <-runErr:
		return true, err
	}
}

// runMonitor runs the monitor until it fences or ctx ends, restarting it
// after errors such as etcd being briefly unreachable at start.
func (n *node) runMonitor(ctx context.Context, m *quorum.Member) error {
	for {
		err := n.monitor.Run(ctx, session{m})
		if errors.Is(err, monitor.ErrSelfFenced) || ctx.Err() != nil {
			return err
		}
		n.log.Warn("monitor stopped; restarting it", "error", err)
		select {
		case <-m.Fenced():
			return monitor.ErrSelfFenced
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// joinOnce joins once. The membership outlives ctx (SIGTERM): it ends with
// Leave, which revokes the lease, never by cancellation, which would read
// as a fence. But a stop while etcd cannot answer (quorum lost) must not
// wait for it: joinOnce returns at once and a membership granted later is
// left again.
func (n *node) joinOnce(ctx context.Context, mc quorum.MemberConfig) (*quorum.Member, error) {
	type joined struct {
		m   *quorum.Member
		err error
	}
	ch := make(chan joined, 1)
	go func() {
		m, err := n.store.Join(context.WithoutCancel(ctx), mc)
		ch <- joined{m, err}
	}()
	select {
	case j := <-ch:
		return j.m, j.err
	case <-ctx.Done():
		go func() {
			if j := <-ch; j.m != nil {
				lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = j.m.Leave(lctx)
			}
		}()
		return nil, ctx.Err()
	}
}

// join registers the node, retrying while a previous incarnation's lease
// still holds the presence key.
func (n *node) join(ctx context.Context) (*quorum.Member, error) {
	info := model.NodeInfo{Node: n.cfg.Node.Name, Admin: n.cfg.Node.Admin, PID: os.Getpid(), Version: Version, Started: time.Now().UTC()}
	mc := quorum.MemberConfig{Node: n.cfg.Node.Name, TTL: n.cfg.Quorum.LeaseTTL.D(), Margin: n.cfg.Quorum.FenceMargin.D(), Info: info,
		KeepaliveInterval: n.cfg.Quorum.KeepaliveInterval.D(), KeepaliveTimeout: n.cfg.Quorum.KeepaliveTimeout.D(),
		OnRenew: n.metrics.renewed, OnDeadline: n.deadline}
	backoff := 250 * time.Millisecond
	for {
		m, err := n.joinOnce(ctx, mc)
		if err == nil {
			n.event("node.join", n.cfg.Node.Name, fmt.Sprintf("node joined with a %s lease", m.TTL()))
			return m, nil
		}
		var exists *quorum.NodeExistsError
		if errors.Is(err, quorum.ErrLeaseLost) && ctx.Err() == nil {
			// etcd was too slow to grant and confirm a lease within its
			// TTL (an overloaded machine): try again with a fresh one.
			n.log.Warn("joining: the new lease could not be confirmed in time; retrying", "error", err)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		if !errors.As(err, &exists) {
			return nil, err
		}
		if previousIncarnationGone(exists.Existing) && !mc.Replace {
			// Our own earlier process on this host died without leaving:
			// take over its lease instead of waiting for it to expire.
			n.log.Warn("replacing the lease left by a previous clusterd of this node", "old_pid", exists.Existing.PID)
			mc.Replace = true
			continue
		}
		n.log.Warn("waiting for the previous lease of this node to expire", "error", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// previousIncarnationGone reports whether a presence record was left by a
// clusterd process of this host that no longer runs.
func previousIncarnationGone(old model.NodeInfo) bool {
	host, err := os.Hostname()
	if err != nil || old.Host != host || old.PID <= 0 || old.PID == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(old.PID, 0), syscall.ESRCH)
}

func (n *node) trimEvents(ctx context.Context) {
	r := quorum.Retention{MaxEntries: n.cfg.Events.MaxEntries, MaxAge: n.cfg.Events.MaxAge.D()}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if removed, err := n.store.TrimEvents(ctx, r); err != nil && ctx.Err() == nil {
			n.log.Warn("trimming the event log", "error", err)
		} else if removed > 0 {
			n.log.Debug("trimmed the event log", "removed", removed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
