package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/monitor"
	"github.com/resmon/resmon/quorum"
)

// metrics are the node's Prometheus metrics. They implement
// monitor.Observer and take the checkpoint and lease hooks. States are
// labels (resmon_group_state{group,state} is 1 for the state the group is
// in and 0 for the others), as Prometheus would have them; the Windows
// numbers are in the help text and the published statuses.
type metrics struct {
	reg        *prometheus.Registry
	resState   *prometheus.GaugeVec
	entry      *prometheus.HistogramVec
	restarts   *prometheus.CounterVec
	failovers  *prometheus.CounterVec
	cptWrites  *prometheus.CounterVec
	cptLatency prometheus.Histogram
	renewals   *prometheus.CounterVec
	fences     prometheus.Counter
	mu         sync.Mutex
	hosted     map[string]map[string]bool  // group → resources with a series
	owned      map[string]model.GroupState // groups this node owns, for clusterCollector
}

var _ monitor.Observer = (*metrics)(nil)

// Buckets people can read: 100µs to 3 minutes (PendingTimeout's default),
// in 1-2.5-5 steps.
var (
	entryBuckets      = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180}
	checkpointBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
)

// resourceStates and groupStates are every state a series is kept for.
var (
	resourceStates = []model.ResourceState{model.ResourceOnline, model.ResourceOffline, model.ResourceFailed,
		model.ResourceOnlinePending, model.ResourceOfflinePending, model.ResourcePending, model.ResourceInitializing, model.ResourceUnknown}
	groupStates = []model.GroupState{model.GroupOnline, model.GroupOffline, model.GroupFailed, model.GroupPartialOnline, model.GroupPending}
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		resState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "resmon_resource_state",
			Help: "1 for the state each resource of a group this node owns is in, 0 for the other states (Windows numbers: Online 2, Offline 3, Failed 4, OnlinePending 129, OfflinePending 130)."},
			[]string{"group", "resource", "state"}),
		entry: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "resmon_entry_point_seconds",
			Help: "Duration of resource entry-point calls, by resource type.", Buckets: entryBuckets},
			[]string{"type", "entry", "result"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resmon_resource_restarts_total",
			Help: "Resources restarted by their restart policy on this node."}, []string{"group", "resource"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resmon_group_failovers_total",
			Help: "Groups that failed over to this node (crash or resource failure)."}, []string{"group"}),
		cptWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resmon_checkpoint_writes_total",
			Help: "Checkpoint writes to etcd."}, []string{"result"}),
		cptLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "resmon_checkpoint_write_seconds",
			Help: "Duration of checkpoint writes to etcd.", Buckets: checkpointBuckets}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resmon_lease_renewals_total",
			Help: "Keepalives of this node's lease."}, []string{"result"}),
		fences: prometheus.NewCounter(prometheus.CounterOpts{Name: "resmon_self_fences_total",
			Help: "Times this node fenced itself (lease deadline passed without a confirmed keepalive)."}),
		hosted: map[string]map[string]bool{},
		owned:  map[string]model.GroupState{},
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "resmon_build_info",
		Help: "1, with the version of clusterd and of Go that built it."}, []string{"version", "goversion"})
	build.WithLabelValues(Version, runtime.Version()).Set(1)
	m.reg.MustRegister(m.resState, m.entry, m.restarts, m.failovers, m.cptWrites, m.cptLatency, m.renewals, m.fences, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (m *metrics) ResourceState(group, resource string, s model.ResourceState) {
	m.mu.Lock()
	if m.hosted[group] == nil {
		m.hosted[group] = map[string]bool{}
	}
	m.hosted[group][resource] = true
	m.mu.Unlock()
	for _, st := range resourceStates {
		m.resState.WithLabelValues(group, resource, st.String()).Set(b2f(st == s))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *metrics) GroupState(group string, s model.GroupState, owned bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if owned {
		m.owned[group] = s
		return
	}
	// The group left this node: its series go with it (the next owner, or
	// the reporter of unowned groups, reports it from now on).
	delete(m.owned, group)
	for r := range m.hosted[group] {
		m.resState.DeletePartialMatch(prometheus.Labels{"group": group, "resource": r})
	}
	delete(m.hosted, group)
}

func (m *metrics) EntryPoint(typ, entry string, d time.Duration, err error) {
	m.entry.WithLabelValues(typ, entry, result(err)).Observe(d.Seconds())
}

func (m *metrics) Restart(group, resource string) { m.restarts.WithLabelValues(group, resource).Inc() }
func (m *metrics) Failover(group string)          { m.failovers.WithLabelValues(group).Inc() }

func (m *metrics) checkpointStored(d time.Duration, err error) {
	m.cptWrites.WithLabelValues(result(err)).Inc()
	if err == nil {
		m.cptLatency.Observe(d.Seconds())
	}
}

func (m *metrics) renewed(err error) { m.renewals.WithLabelValues(result(err)).Inc() }

// health is what /healthz reports: the node is healthy while it is a member
// whose lease is confirmed.
type health struct {
	mu     sync.Mutex
	member *quorum.Member
	state  string
}

func (h *health) set(m *quorum.Member, state string) {
	h.mu.Lock()
	h.member, h.state = m, state
	h.mu.Unlock()
}

// confirmed reports whether the node is a member whose lease is confirmed.
func (h *health) confirmed() bool {
	h.mu.Lock()
	m := h.member
	h.mu.Unlock()
	if m == nil {
		return false
	}
	select {
	case <-m.Fenced():
		return false
	default:
		return true
	}
}

func (h *health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	m, state := h.member, h.state
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if m == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not a member: %s\n", state)
		return
	}
	select {
	case <-m.Fenced():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "fenced: %v\n", m.Err())
		return
	default:
	}
	fmt.Fprintf(w, "ok: node %s, lease %x, deadline in %s, %s\n", m.Node(), int64(m.LeaseID()), time.Until(m.Deadline()).Round(time.Millisecond), state)
}

// serveMetrics serves /metrics and /healthz on addr until ctx ends.
func (n *node) serveMetrics(ctx context.Context, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node.metrics %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	mux.Handle("/healthz", n.health)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("metrics endpoint stopped", "error", err)
		}
	}()
	n.log.Info("serving metrics and health", "address", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}, nil
}

// clusterCollector reports, at scrape time, what this node sees of the
// cluster: the nodes up, whether etcd answers and the lease is confirmed,
// the state of the groups this node owns, and — on one node only, the
// first up by name, so that each series has one reporter — the state of
// every group no node owns.
type clusterCollector struct {
	m      *metrics
	store  *quorum.Store
	node   string
	health *health

	nodesUp, etcdUp, quorumOK, groupState *prometheus.Desc
}

func newClusterCollector(m *metrics, store *quorum.Store, node string, h *health) *clusterCollector {
	return &clusterCollector{m: m, store: store, node: node, health: h,
		nodesUp:  prometheus.NewDesc("resmon_nodes_up", "Nodes up (with a presence record in etcd), as this node sees them.", nil, nil),
		etcdUp:   prometheus.NewDesc("resmon_etcd_up", "1 when etcd answered this node's last scrape-time read within 2s.", nil, nil),
		quorumOK: prometheus.NewDesc("resmon_lease_confirmed", "1 while this node's lease is confirmed (it is a member and not fenced).", nil, nil),
		groupState: prometheus.NewDesc("resmon_group_state",
			"1 for the state each group is in, 0 for the other states: reported by its owner, and for a group without an owner by one node, the first up by name (Windows numbers: Online 0, Offline 1, Failed 2, PartialOnline 3, Pending 4).",
			[]string{"group", "state"}, nil),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.nodesUp
	ch <- c.etcdUp
	ch <- c.quorumOK
	ch <- c.groupState
}

func (c *clusterCollector) emitGroup(ch chan<- prometheus.Metric, group string, now model.GroupState) {
	for _, st := range groupStates {
		ch <- prometheus.MustNewConstMetric(c.groupState, prometheus.GaugeValue, b2f(st == now), group, st.String())
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	owned := maps.Clone(c.m.owned)
	c.m.mu.Unlock()
	for g, st := range owned {
		c.emitGroup(ch, g, st)
	}
	ch <- prometheus.MustNewConstMetric(c.quorumOK, prometheus.GaugeValue, b2f(c.health.confirmed()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	nodes, err := c.store.Nodes(ctx)
	ch <- prometheus.MustNewConstMetric(c.etcdUp, prometheus.GaugeValue, b2f(err == nil))
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.nodesUp, prometheus.GaugeValue, float64(len(nodes)))
	reporter := ""
	for _, n := range nodes {
		if reporter == "" || n.Node < reporter {
			reporter = n.Node
		}
	}
	if reporter != c.node {
		return
	}
	groups, err1 := c.store.Groups(ctx)
	owners, err2 := c.store.Owners(ctx)
	statuses, err3 := c.store.GroupStatuses(ctx)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	for _, g := range groups {
		_, mine := owned[g.Value.Name]
		if _, isOwned := owners[g.Value.Name]; isOwned || mine {
			continue
		}
		// Nobody runs it: it is offline, or failed if that is how its
		// last owner left it.
		now := model.GroupOffline
		if statuses[g.Value.Name].State == model.GroupFailed.String() {
			now = model.GroupFailed
		}
		c.emitGroup(ch, g.Value.Name, now)
	}
}
