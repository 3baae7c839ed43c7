package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/resmon/resmon/model"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Membership errors.
var (
	// ErrNodeExists reports that a presence key for the node already exists:
	// another clusterd with the same node name is running, or a previous
	// incarnation crashed and its lease has not expired yet.
	ErrNodeExists = errors.New("quorum: node is already a member")
	// ErrLeaseLost reports that a member no longer holds its lease: it
	// self-fenced (no keepalive acknowledged in time, or etcd said the lease is
	// gone) or its context ended. Everything bound to the lease must be
	// considered lost; a new Join is needed.
	ErrLeaseLost = errors.New("quorum: node lease lost")
	// ErrBadTiming reports keepalive settings that break the timing rule
	// of MemberConfig.KeepaliveInterval.
	ErrBadTiming = errors.New("quorum: keepalive timing breaks the lease rule")
)

// DefaultMemberTTL is the lease TTL a member asks for when MemberConfig.TTL is zero.
const DefaultMemberTTL = 2 * time.Second

// MemberConfig describes one node joining the cluster.
type MemberConfig struct {
	// Node is the node name; one key segment (no '/').
	Node string
	// TTL is the lease TTL to ask for, rounded up to whole seconds (at least
	// 1s); default DefaultMemberTTL. etcd may grant more: it grants
	// max(TTL, ceil(1.5 × election timeout)). The member always works with
	// the granted TTL, see Member.TTL.
	TTL time.Duration
	// Margin is how long before the earliest possible server-side expiry of
	// the lease the member declares itself fenced: the time the node has to
	// terminate its resources before another node can take them over. It must
	// be smaller than TTL. Zero picks DefaultMargin(granted TTL).
	Margin time.Duration
	// KeepaliveInterval is how often the member renews its lease, and
	// KeepaliveTimeout how long one renewal may take before the member
	// gives up on it and retries at once. Zero picks (TTL − Margin)/3 for
	// both, the longest that keep the timing rule
	//
	//	KeepaliveInterval + 2 × KeepaliveTimeout ≤ TTL − Margin
	//
	// (a renewal can be lost or time out whole and the next still has its
	// full timeout before the deadline). Join refuses values that break it.
	KeepaliveInterval, KeepaliveTimeout time.Duration
	// Info is published as the node's presence value; Node, PID, Host,
	// Started, Lease and TTL are filled in by Join when left empty.
	Info model.NodeInfo
	// Replace takes over a presence key left by a previous incarnation of this
	// node whose lease is still alive, by revoking that lease (which also
	// releases every group it owned). Use it only when the old process is
	// known to be gone (for example the same host and its pid is not running);
	// if it is in fact still alive it stops being an owner at once but keeps
	// its resources up until its own keepalive notices, up to a keepalive
	// interval later. Without Replace, Join fails with ErrNodeExists.
	Replace bool
	// OnFence, when set, is called once when the member fences itself, right
	// after Fenced() closes, on one of the member's goroutines. It should
	// start taking the node's resources down and return quickly.
	OnFence func()
	// OnRenew, when set, is told of every keepalive attempt (nil error: the
	// lease was renewed), for metrics. It must not block.
	OnRenew func(error)
	// OnDeadline, when set, is told the self-fencing deadline when Join
	// succeeds and again each time a confirmed keepalive moves it, so the
	// node can hand it to whatever must stop by itself at that instant
	// (plugin processes, the process keeper) and pet a machine watchdog.
	// Calls come one at a time, from the member's goroutines, deadlines in
	// increasing order; it must not block.
	OnDeadline func(deadline time.Time)
}

// KeepaliveTiming returns the keepalive interval and timeout a member with
// the given TTL and margin uses: interval and timeout where set (non-zero),
// (ttl − margin)/3 (at least 10ms) otherwise.
func KeepaliveTiming(ttl, margin, interval, timeout time.Duration) (time.Duration, time.Duration) {
	third := max((ttl-margin)/3, 10*time.Millisecond)
	if interval <= 0 {
		interval = third
	}
	if timeout <= 0 {
		timeout = third
	}
	return interval, timeout
}

// DefaultMargin is the self-fencing margin used when MemberConfig.Margin is
// zero: a fifth of the granted TTL, at least 100ms, and never more than half
// the TTL (400ms for the default 2s TTL, 200ms for a 1s TTL).
func DefaultMargin(ttl time.Duration) time.Duration {
	m := max(ttl/5, 100*time.Millisecond)
	return min(m, ttl/2)
}

// NodeExistsError is returned by Join when the node's presence key is held by
// a live lease. errors.Is(err, ErrNodeExists) holds.
type NodeExistsError struct {
	Node     string
	Existing model.NodeInfo // the presence record found (zero if unreadable)
	Lease    clientv3.LeaseID
	Expires  time.Duration // the old lease's remaining TTL as etcd reported it; -1 if unknown
}

func (e *NodeExistsError) Error() string {
	when := "later"
	if e.Expires >= 0 {
		when = "in at most " + e.Expires.String()
	}
	who := ""
	if e.Existing.Host != "" || e.Existing.PID != 0 {
		who = fmt.Sprintf(" (host %s pid %d, started %s)", e.Existing.Host, e.Existing.PID, e.Existing.Started.Format(time.RFC3339))
	}
	return fmt.Sprintf("quorum: node %q is already a member%s under lease %s: another clusterd with this node name is running, "+
		"or a previous one stopped without leaving and its lease has not expired yet (it expires %s if nobody keeps it alive)",
		e.Node, who, formatLease(e.Lease), when)
}

// Is makes errors.Is(err, ErrNodeExists) true.
func (e *NodeExistsError) Is(target error) bool { return target == ErrNodeExists }

// Member is a node's membership: a lease, the presence key bound to it, and a
// keepalive loop with a local watchdog. Everything the node owns (group
// ownership keys) is bound to the same lease.
//
// The member never trusts etcd's own keepalive channel for safety. Before each
// keepalive it notes the send time t on the monotonic clock; when the
// keepalive is acknowledged, the server renewed the lease no earlier than t,
// so the lease cannot expire before t + TTL. The member's deadline is
// t + TTL − Margin. If no keepalive moves the deadline forward in time the
// watchdog fires at the deadline and closes Fenced: the node must take its
// resources down, and has Margin to do so before any other node can possibly
// see its ownerships disappear.
type Member struct {
	s        *Store
	node     string
	lease    clientv3.LeaseID
	ttl      time.Duration // granted
	margin   time.Duration
	interval time.Duration // between keepalive sends
	timeout  time.Duration // how long one keepalive may take
	info     model.NodeInfo
	onFence  func()
	onRenew  func(error)
	onDL     func(time.Time)

	mu       sync.Mutex
	deadline time.Time
	lastSend time.Time // send time of the last acknowledged keepalive
	state    memberState
	err      error
	watchdog *time.Timer

	stop     chan struct{} // closed to end the loops (leave, abandon)
	stopOnce sync.Once
	kaCancel context.CancelFunc // cancels an in-flight keepalive
	fenced   chan struct{}
	done     chan struct{}
	leaveMu  sync.Mutex
	revoked  bool
}

type memberState int

const (
	memberRunning memberState = iota
	memberStopping
	memberFenced
)

// Join makes the node a member: it grants a lease, creates the node's
// presence key bound to it (only if absent, see MemberConfig.Replace), and
// starts the keepalive loop and the self-fencing watchdog.
//
// ctx bounds the member's whole life, not just this call: when it ends the
// member stops keeping the lease alive and fences itself at once (without
// revoking the lease, so resources have the margin to go down before other
// nodes can take over). Use Leave to go away gracefully.
func (s *Store) Join(ctx context.Context, cfg MemberConfig) (*Member, error) {
	if err := model.ValidName(cfg.Node); err != nil {
		return nil, fmt.Errorf("quorum: node name: %v", err)
	}
	if cfg.TTL < 0 || cfg.Margin < 0 {
		return nil, fmt.Errorf("quorum: node %q: TTL %s and margin %s must not be negative", cfg.Node, cfg.TTL, cfg.Margin)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultMemberTTL
	}
	reqSecs := max(int64((cfg.TTL+time.Second-1)/time.Second), 1)
	if cfg.Margin >= time.Duration(reqSecs)*time.Second {
		return nil, fmt.Errorf("quorum: node %q: self-fencing margin %s must be smaller than the lease TTL %ds", cfg.Node, cfg.Margin, reqSecs)
	}

	tGrant := time.Now()
	gr, err := s.cli.Grant(ctx, reqSecs)
	if err != nil {
		return nil, fmt.Errorf("quorum: node %q: granting lease: %w", cfg.Node, err)
	}
	ttl := time.Duration(gr.TTL) * time.Second
	margin := cfg.Margin
	if margin == 0 {
		margin = DefaultMargin(ttl)
	}
	interval, timeout := KeepaliveTiming(ttl, margin, cfg.KeepaliveInterval, cfg.KeepaliveTimeout)
	if interval+2*timeout > ttl-margin {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, _ = s.cli.Revoke(rctx, gr.ID)
		cancel()
		return nil, fmt.Errorf("%w: node %q: keepalive interval %s + 2 × timeout %s is more than TTL %s − margin %s",
			ErrBadTiming, cfg.Node, interval, timeout, ttl, margin)
	}
	m := &Member{
		s:        s,
		node:     cfg.Node,
		lease:    gr.ID,
		ttl:      ttl,
		margin:   margin,
		interval: interval,
		timeout:  timeout,
		onFence:  cfg.OnFence,
		onRenew:  cfg.OnRenew,
		onDL:     cfg.OnDeadline,
		deadline: tGrant.Add(ttl - margin),
		lastSend: tGrant,
		stop:     make(chan struct{}),
		fenced:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	m.info = cfg.Info
	m.info.Node, m.info.Lease, m.info.TTL = cfg.Node, int64(gr.ID), model.Duration(ttl)
	if m.info.PID == 0 {
		m.info.PID = os.Getpid()
	}
	if m.info.Host == "" {
		m.info.Host, _ = os.Hostname()
	}
	if m.info.Started.IsZero() {
		m.info.Started = time.Now().UTC().Truncate(time.Millisecond)
	}
	if err := s.createPresence(ctx, m, cfg.Replace); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, _ = s.cli.Revoke(rctx, gr.ID)
		cancel()
		return nil, err
	}
	if time.Until(m.deadline) < m.interval {
		// Granting and publishing were slow (etcd stalled): renew once before
		// trusting the lease rather than starting close to the deadline.
		tSend := time.Now()
		resp, err := s.cli.KeepAliveOnce(ctx, gr.ID)
		if err == nil && resp.TTL > 0 {
			m.deadline, m.lastSend = tSend.Add(time.Duration(resp.TTL)*time.Second-margin), tSend
		} else {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_, _ = s.cli.Revoke(rctx, gr.ID)
			cancel()
			return nil, fmt.Errorf("%w: node %q: joining took longer than the lease TTL %s allows and the lease could not be renewed: %v",
				ErrLeaseLost, cfg.Node, ttl, err)
		}
	}
	s.log.Info("node joined", "lease", formatLease(m.lease), "ttl", ttl, "margin", margin, "keepalive_every", m.interval)

	m.watchdog = time.NewTimer(time.Until(m.deadline))
	if m.onDL != nil {
		m.onDL(m.deadline)
	}
	kctx, kcancel := context.WithCancel(context.WithoutCancel(ctx))
	m.kaCancel = kcancel
	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		m.keepLoop(kctx)
	}()
	go m.watch(ctx, keeperDone)
	return m, nil
}

// createPresence writes the node's presence key bound to m's lease if absent.
func (s *Store) createPresence(ctx context.Context, m *Member, replace bool) error {
	key := s.keys.Node(m.node)
	val, err := json.Marshal(m.info)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 5; attempt++ {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(val), clientv3.WithLease(m.lease))).
			Else(clientv3.OpGet(key)).
			Commit()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			// etcd took longer than the new lease's TTL to get here.
			return fmt.Errorf("quorum: node %q: publishing presence %s: %w: the new lease expired before it could be used", m.node, key, ErrLeaseLost)
		}
		if err != nil {
			return fmt.Errorf("quorum: node %q: publishing presence %s: %w", m.node, key, err)
		}
		if resp.Succeeded {
			return nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			continue // deleted in between: try again
		}
		kv := kvs[0]
		old := clientv3.LeaseID(kv.Lease)
		if old == clientv3.NoLease {
			// Not bound to any lease (written by hand or restored): stale.
			if _, err := s.cli.Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
				Then(clientv3.OpDelete(key)).Commit(); err != nil {
				return fmt.Errorf("quorum: node %q: removing stale presence %s: %w", m.node, key, err)
			}
			s.log.Warn("removed a presence key not bound to any lease", "key", key)
			continue
		}
		if replace && attempt < 3 {
			s.log.Warn("replacing previous incarnation", "old_lease", formatLease(old))
			if _, err := s.cli.Revoke(ctx, old); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return fmt.Errorf("quorum: node %q: revoking the previous incarnation's lease %s: %w", m.node, formatLease(old), err)
			}
			continue
		}
		e := &NodeExistsError{Node: m.node, Lease: old, Expires: -1}
		_ = json.Unmarshal(kv.Value, &e.Existing)
		if ttl, err := s.cli.TimeToLive(ctx, old); err == nil && ttl.TTL >= 0 {
			e.Expires = time.Duration(ttl.TTL) * time.Second
		}
		return e
	}
	return fmt.Errorf("quorum: node %q: presence key %s kept changing while joining", m.node, key)
}

// SetDraining marks the node's presence as draining, so other nodes stop
// choosing it as a group's next owner while it moves its groups away.
func (m *Member) SetDraining(ctx context.Context) error {
	if err := m.live(); err != nil {
		return err
	}
	m.mu.Lock()
	m.info.Draining = true
	info := m.info
	m.mu.Unlock()
	val, err := json.Marshal(info)
	if err != nil {
		return err
	}
	key := m.s.keys.Node(m.node)
	resp, err := m.s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(key), "=", m.lease)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(m.lease))).
		Commit()
	if err != nil {
		return fmt.Errorf("quorum: node %q: marking presence draining: %w", m.node, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: node %q: presence key is not ours any more", ErrLeaseLost, m.node)
	}
	return nil
}

// keepLoop sends a keepalive every interval (sooner after a failure) until
// stopped, and reports acknowledged ones to the watchdog.
func (m *Member) keepLoop(ctx context.Context) {
	next := time.NewTimer(m.interval)
	defer next.Stop()
	retry := max(m.interval/4, 10*time.Millisecond)
	for {
		select {
		case <-ctx.Done():
			return
		case <-next.C:
		}
		tSend := time.Now()
		actx, cancel := context.WithTimeout(ctx, m.timeout)
		resp, err := m.s.cli.KeepAliveOnce(actx, m.lease)
		cancel()
		if m.onRenew != nil && ctx.Err() == nil {
			if err == nil && resp.TTL <= 0 {
				m.onRenew(ErrLeaseLost)
			} else {
				m.onRenew(err)
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && resp.TTL > 0:
			if d, moved := m.extend(tSend, time.Duration(resp.TTL)*time.Second); moved && m.onDL != nil {
				m.onDL(d)
			}
			next.Reset(time.Until(tSend.Add(m.interval)))
		case err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound):
			m.fence(fmt.Errorf("%w: node %q: etcd reports lease %s not found (expired or revoked)", ErrLeaseLost, m.node, formatLease(m.lease)))
			return
		default:
			m.s.log.Warn("lease keepalive failed", "lease", formatLease(m.lease), "error", err,
				"fence_in", time.Until(m.Deadline()).Round(time.Millisecond))
			next.Reset(retry)
		}
	}
}

// extend moves the deadline after a keepalive sent at tSend was acknowledged
// with the lease's granted ttl, and reports the new deadline if it moved. A
// deadline that has already passed is never extended: the watchdog is
// about to fence.
func (m *Member) extend(tSend time.Time, ttl time.Duration) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != memberRunning || !time.Now().Before(m.deadline) {
		return time.Time{}, false
	}
	d := tSend.Add(ttl - m.margin)
	if d.After(m.deadline) {
		m.deadline = d
		m.lastSend = tSend
		m.watchdog.Reset(time.Until(d))
		return d, true
	}
	return time.Time{}, false
}

// watch is the watchdog: it fences at the deadline or when ctx ends, and
// closes done once the keeper has stopped.
func (m *Member) watch(ctx context.Context, keeperDone <-chan struct{}) {
	defer func() {
		m.watchdog.Stop()
		m.kaCancel()
		<-keeperDone
		close(m.done)
	}()
	for {
		select {
		case <-m.stop:
			return
		case <-ctx.Done():
			m.fence(fmt.Errorf("%w: node %q: member context ended: %w", ErrLeaseLost, m.node, ctx.Err()))
			return
		case <-m.fenced:
			return // the keeper found the lease gone
		case <-m.watchdog.C:
			m.mu.Lock()
			d, last := m.deadline, m.lastSend
			m.mu.Unlock()
			if time.Now().Before(d) {
				m.watchdog.Reset(time.Until(d)) // extended concurrently
				continue
			}
			m.fence(fmt.Errorf("%w: node %q: no keepalive acknowledged since %s ago; self-fenced at the deadline (TTL %s − margin %s)",
				ErrLeaseLost, m.node, time.Since(last).Round(time.Millisecond), m.ttl, m.margin))
			return
		}
	}
}

// fence marks the member fenced (once), closes Fenced and runs OnFence.
func (m *Member) fence(err error) {
	m.mu.Lock()
	if m.state != memberRunning {
		m.mu.Unlock()
		return
	}
	m.state, m.err = memberFenced, err
	m.mu.Unlock()
	m.kaCancel()
	m.s.log.Error("node self-fenced: taking resources down", "lease", formatLease(m.lease), "reason", err)
	close(m.fenced)
	if m.onFence != nil {
		m.onFence()
	}
}

// halt stops the loops without fencing (Leave, or a simulated crash).
func (m *Member) halt() bool {
	m.mu.Lock()
	running := m.state == memberRunning
	if running {
		m.state = memberStopping
	}
	m.mu.Unlock()
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
	return running
}

// Leave revokes the member's lease, so its presence key and every ownership
// bound to it disappear at once, and stops the member. Take the node's
// resources offline first. Leave may also be called after the member fenced
// itself (once its resources are down) to let other nodes take over without
// waiting for the lease to expire. Calling it again is harmless.
func (m *Member) Leave(ctx context.Context) error {
	m.halt()
	m.leaveMu.Lock()
	defer m.leaveMu.Unlock()
	if m.revoked {
		return nil
	}
	if _, err := m.s.cli.Revoke(ctx, m.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("quorum: node %q leaving: revoking lease %s: %w (its keys go when the lease expires, within %s)",
			m.node, formatLease(m.lease), err, m.ttl)
	}
	m.revoked = true
	m.s.log.Info("node left", "lease", formatLease(m.lease))
	return nil
}

// abandon stops the keepalives as a crashed process would: no revoke, no
// fence. Tests use it to let the lease expire on the server.
func (m *Member) abandon() { m.halt() }

// Fenced closes when the member fenced itself: no keepalive was acknowledged
// before the deadline, etcd reported the lease gone, or the Join context
// ended. The node must take its resources down at once. It does not close on
// Leave.
func (m *Member) Fenced() <-chan struct{} { return m.fenced }

// Done closes when the member has stopped for any reason (Leave, fencing,
// the Join context) and its goroutines have exited.
func (m *Member) Done() <-chan struct{} { return m.done }

// Err is nil while the member runs and after Leave; after fencing it says why
// (errors.Is(err, ErrLeaseLost)).
func (m *Member) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Deadline is the instant (monotonic) at which the member fences itself unless
// a keepalive is acknowledged first: last acknowledged send + TTL − Margin.
func (m *Member) Deadline() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deadline
}

// LeaseID is the member's etcd lease.
func (m *Member) LeaseID() clientv3.LeaseID { return m.lease }

// TTL is the lease TTL etcd granted (possibly more than asked for).
func (m *Member) TTL() time.Duration { return m.ttl }

// Margin is the self-fencing margin in use.
func (m *Member) Margin() time.Duration { return m.margin }

// Node is the member's node name.
func (m *Member) Node() string { return m.node }

// Info is the presence record the member published.
func (m *Member) Info() model.NodeInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.info
}

// live reports an error unless the member still holds its lease.
func (m *Member) live() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.state == memberFenced:
		return m.err
	case m.state != memberRunning:
		return fmt.Errorf("%w: node %q has left", ErrLeaseLost, m.node)
	case !time.Now().Before(m.deadline):
		return fmt.Errorf("%w: node %q is past its self-fencing deadline", ErrLeaseLost, m.node)
	}
	return nil
}

// Nodes lists the nodes that are members now, sorted by name.
func (s *Store) Nodes(ctx context.Context) ([]model.NodeInfo, error) {
	resp, err := s.cli.Get(ctx, s.keys.Nodes(), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("quorum: listing nodes: %w", err)
	}
	out := make([]model.NodeInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, s.decodeNode(kv))
	}
	return out, nil
}

func (s *Store) decodeNode(kv *mvccpb.KeyValue) model.NodeInfo {
	name := string(kv.Key[len(s.keys.Nodes()):])
	var n model.NodeInfo
	if err := json.Unmarshal(kv.Value, &n); err != nil {
		s.log.Warn("unreadable node presence record", "key", string(kv.Key), "error", err)
	}
	n.Node = name
	if n.Lease == 0 {
		n.Lease = kv.Lease
	}
	return n
}

// NodeEvent reports a node coming up (its presence key created) or going
// down (deleted: it left, or its lease expired). Info is set when Up.
type NodeEvent struct {
	Node string
	Up   bool
	Info model.NodeInfo
}

// WatchNodes first reports every current member as Up, then every change;
// a change of a node's record (it starts draining) is reported as Up again
// with the new Info.
// After a watch interruption it re-lists and reports the difference, so no
// transition is lost (brief flaps may be merged). The channel closes when ctx ends.
func (s *Store) WatchNodes(ctx context.Context) <-chan NodeEvent {
	ch := make(chan NodeEvent, 16)
	go func() {
		defer close(ch)
		send := func(ev NodeEvent) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		up := map[string]bool{}
		for ctx.Err() == nil {
			resp, err := s.cli.Get(ctx, s.keys.Nodes(), clientv3.WithPrefix())
			if err != nil {
				s.log.Warn("listing nodes for watch", "error", err)
				if !memberSleep(ctx, time.Second) {
					return
				}
				continue
			}
			seen := map[string]bool{}
			for _, kv := range resp.Kvs {
				n := s.decodeNode(kv)
				seen[n.Node] = true
				if !up[n.Node] {
					up[n.Node] = true
					if !send(NodeEvent{Node: n.Node, Up: true, Info: n}) {
						return
					}
				}
			}
			for name := range up {
				if !seen[name] {
					delete(up, name)
					if !send(NodeEvent{Node: name}) {
						return
					}
				}
			}
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			wch := s.cli.Watch(wctx, s.keys.Nodes(), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
			for wr := range wch {
				if wr.Err() != nil {
					s.log.Warn("node watch interrupted; re-listing", "error", wr.Err())
					break
				}
				for _, ev := range wr.Events {
					name := string(ev.Kv.Key[len(s.keys.Nodes()):])
					switch {
					case ev.Type == clientv3.EventTypeDelete:
						if up[name] {
							delete(up, name)
							if !send(NodeEvent{Node: name}) {
								cancel()
								return
							}
						}
					default: // created, or changed (draining)
						up[name] = true
						if !send(NodeEvent{Node: name, Up: true, Info: s.decodeNode(ev.Kv)}) {
							cancel()
							return
						}
					}
				}
			}
			cancel()
			if !memberSleep(ctx, 50*time.Millisecond) {
				return
			}
		}
	}()
	return ch
}

// memberSleep waits d or until ctx ends; it reports whether ctx is still live.
func memberSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func formatLease(id clientv3.LeaseID) string { return model.FormatLease(int64(id)) }
