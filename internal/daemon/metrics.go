package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
// monitor.Observer and take the checkpoint and lease hooks.
type metrics struct {
	reg         *prometheus.Registry
	resState    *prometheus.GaugeVec
	groupState  *prometheus.GaugeVec
	entry       *prometheus.HistogramVec
	restarts    *prometheus.CounterVec
	failovers   *prometheus.CounterVec
	cptWrites   *prometheus.CounterVec
	cptLatency  prometheus.Histogram
	renewals    *prometheus.CounterVec
	fences      prometheus.Counter
	mu          sync.Mutex
	groupHosted map[string]map[string]bool // group → resources with a series
}

var _ monitor.Observer = (*metrics)(nil)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		resState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "resmon_resource_state",
			Help: "State of each resource hosted by this node, with the Windows numbers (2 Online, 3 Offline, 4 Failed, 129 OnlinePending, 130 OfflinePending)."},
			[]string{"group", "resource"}),
		groupState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "resmon_group_state",
			Help: "State of each group this node owns, with the Windows numbers (0 Online, 1 Offline, 2 Failed, 3 PartialOnline, 4 Pending)."},
			[]string{"group"}),
		entry: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "resmon_entry_point_seconds",
			Help:    "Duration of resource entry-point calls.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10)}, []string{"entry", "result"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resmon_resource_restarts_total",
			Help: "Resources restarted by their restart policy on this node."}, []string{"group", "resource"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resmon_group_failovers_total",
			Help: "Groups that failed over to this node (crash or resource failure)."}, []string{"group"}),
		cptWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resmon_checkpoint_writes_total",
			Help: "Checkpoint writes to etcd."}, []string{"result"}),
		cptLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "resmon_checkpoint_write_seconds",
			Help: "Duration of checkpoint writes to etcd.", Buckets: prometheus.ExponentialBuckets(100e-6, 3, 10)}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "resmon_lease_renewals_total",
			Help: "Keepalives of this node's lease."}, []string{"result"}),
		fences: prometheus.NewCounter(prometheus.CounterOpts{Name: "resmon_self_fences_total",
			Help: "Times this node fenced itself (lease deadline passed without a confirmed keepalive)."}),
		groupHosted: map[string]map[string]bool{},
	}
	m.reg.MustRegister(m.resState, m.groupState, m.entry, m.restarts, m.failovers, m.cptWrites, m.cptLatency, m.renewals, m.fences,
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
	if m.groupHosted[group] == nil {
		m.groupHosted[group] = map[string]bool{}
	}
	m.groupHosted[group][resource] = true
	m.mu.Unlock()
	m.resState.WithLabelValues(group, resource).Set(float64(s))
}

func (m *metrics) GroupState(group string, s model.GroupState, owned bool) {
	if owned {
		m.groupState.WithLabelValues(group).Set(float64(s))
		return
	}
	// The group left this node: its series go with it.
	m.groupState.DeleteLabelValues(group)
	m.mu.Lock()
	for r := range m.groupHosted[group] {
		m.resState.DeleteLabelValues(group, r)
	}
	delete(m.groupHosted, group)
	m.mu.Unlock()
}

func (m *metrics) EntryPoint(entry string, d time.Duration, err error) {
	m.entry.WithLabelValues(entry, result(err)).Observe(d.Seconds())
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
