package quorum_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// mtStore wraps cli in a Store of cluster "mt".
func mtStore(t testing.TB, cli *clientv3.Client) *quorum.Store {
	t.Helper()
	s, err := quorum.NewStore(cli, "mt", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mtCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// mtJoin joins node with a member that lives until the test ends.
func mtJoin(t testing.TB, s *quorum.Store, cfg quorum.MemberConfig) *quorum.Member {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m, err := s.Join(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("join %s: %v", cfg.Node, err)
	}
	t.Cleanup(func() {
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		_ = m.Leave(lctx)
		cancel()
		<-m.Done()
	})
	return m
}

// mtClosed waits for ch to close, failing the test after d.
func mtClosed(t testing.TB, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s did not happen within %s", what, d)
	}
}

// mtEventually polls cond until it holds, failing the test after d.
func mtEventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s did not happen within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mtWatchDelete returns a channel that receives the time a watcher on cli saw key deleted.
func mtWatchDelete(t testing.TB, cli *clientv3.Client, key string) <-chan time.Time {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		t.Fatalf("watch %s: key absent", key)
	}
	wch := cli.Watch(ctx, key, clientv3.WithRev(resp.Header.Revision+1))
	out := make(chan time.Time, 1)
	go func() {
		for wr := range wch {
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					out <- time.Now()
					return
				}
			}
		}
	}()
	return out
}

func mtRecv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return v
	case <-time.After(d):
		t.Fatalf("%s did not happen within %s", what, d)
	}
	panic("unreachable")
}

func TestJoinPublishesPresence(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 30*time.Second)
	m := mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: 3 * time.Second, Info: model.NodeInfo{Admin: "127.0.0.1:7070", Version: "test"}})

	resp, err := cli.Get(ctx, s.Keys().Node("n1"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("presence key: %v %v", resp, err)
	}
	kv := resp.Kvs[0]
	if clientv3.LeaseID(kv.Lease) != m.LeaseID() {
		t.Fatalf("presence bound to lease %x, member lease %x", kv.Lease, m.LeaseID())
	}
	// The value is plain JSON with the lease in hex, as etcdctl shows it.
	var raw map[string]any
	if err := json.Unmarshal(kv.Value, &raw); err != nil {
		t.Fatalf("presence value %s: %v", kv.Value, err)
	}
	if raw["lease"] != fmt.Sprintf("%016x", int64(m.LeaseID())) || raw["admin"] != "127.0.0.1:7070" || raw["node"] != "n1" {
		t.Fatalf("presence value %s", kv.Value)
	}

	nodes, err := s.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Node != "n1" || nodes[0].Lease != int64(m.LeaseID()) || nodes[0].Version != "test" ||
		nodes[0].TTL.D() != m.TTL() || nodes[0].PID == 0 || nodes[0].Started.IsZero() {
		t.Fatalf("Nodes() = %+v", nodes)
	}

	// The granted TTL is the server's.
	ttl, err := cli.TimeToLive(ctx, m.LeaseID())
	if err != nil {
		t.Fatal(err)
	}
	if m.TTL() != time.Duration(ttl.GrantedTTL)*time.Second {
		t.Fatalf("member TTL %s, server granted %ds", m.TTL(), ttl.GrantedTTL)
	}
	if m.Margin() != quorum.DefaultMargin(m.TTL()) || m.Margin() <= 0 || m.Margin() >= m.TTL() {
		t.Fatalf("margin %s for TTL %s", m.Margin(), m.TTL())
	}

	// Keepalives move the deadline forward, always to last send + TTL − margin.
	first := m.Deadline()
	mtEventually(t, 5*time.Second, "a keepalive", func() bool { return m.Deadline().After(first) })
	if got, want := m.Deadline(), m.LastKeepAlive().Add(m.TTL()-m.Margin()); !got.Equal(want) {
		t.Fatalf("deadline %v, want last keepalive + TTL − margin = %v", got, want)
	}
	select {
	case <-m.Fenced():
		t.Fatalf("healthy member fenced: %v", m.Err())
	default:
	}
}

func TestJoinHonoursGrantedTTLAboveRequest(t *testing.T) {
	t.Parallel()
	// With a 1s election timeout etcd grants at least ceil(1.5s) = 2s.
	cfg := quorum.EmbedConfig{
		Name: "slow", DataDir: t.TempDir(), ClientURL: quorumtest.FreeURL(t), PeerURL: quorumtest.FreeURL(t),
		TickMs: 100, ElectionMs: 1000, StartTimeout: 30 * time.Second,
	}
	e, err := quorum.StartEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli := quorumtest.Client(t, e.Endpoints()...)
	s := mtStore(t, cli)
	m := mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: 300 * time.Millisecond})
	ttl, err := cli.TimeToLive(mtCtx(t, 10*time.Second), m.LeaseID())
	if err != nil {
		t.Fatal(err)
	}
	if ttl.GrantedTTL < 2 || m.TTL() != time.Duration(ttl.GrantedTTL)*time.Second {
		t.Fatalf("asked 1s: server granted %ds, member uses %s", ttl.GrantedTTL, m.TTL())
	}
	if got, want := m.Deadline(), m.LastKeepAlive().Add(m.TTL()-m.Margin()); !got.Equal(want) {
		t.Fatalf("deadline %v, want %v", got, want)
	}
}

func TestJoinValidatesConfig(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 10*time.Second)
	for _, c := range []quorum.MemberConfig{
		{Node: ""},
		{Node: "a/b"},
		{Node: "n", TTL: time.Second, Margin: time.Second},
		{Node: "n", TTL: 2 * time.Second, Margin: 3 * time.Second},
		{Node: "n", Margin: -time.Second},
	} {
		if m, err := s.Join(ctx, c); err == nil {
			m.Leave(ctx)
			t.Errorf("Join(%+v) succeeded", c)
		}
	}
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 0 {
		t.Fatalf("nodes after refused joins: %v %v", nodes, err)
	}
}

func TestJoinRefusesSecondIncarnationUnlessReplace(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 30*time.Second)
	oldFenced := make(chan time.Time, 1)
	old := mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: 3 * time.Second, Info: model.NodeInfo{PID: 4242},
		OnFence: func() { oldFenced <- time.Now() }})
	if _, err := s.Acquire(ctx, old, "g"); err != nil {
		t.Fatal(err)
	}

	_, err := s.Join(ctx, quorum.MemberConfig{Node: "n1", TTL: time.Second})
	var ne *quorum.NodeExistsError
	if !errors.Is(err, quorum.ErrNodeExists) || !errors.As(err, &ne) {
		t.Fatalf("second join: %v, want ErrNodeExists", err)
	}
	if ne.Lease != old.LeaseID() || ne.Existing.PID != 4242 || ne.Expires <= 0 ||
		!strings.Contains(err.Error(), "another clusterd with this node name is running") {
		t.Fatalf("error lacks details: %+v: %v", ne, err)
	}
	leases, err := cli.Leases(ctx)
	if err != nil || len(leases.Leases) != 1 {
		t.Fatalf("the refused join left its lease behind: %v %v", leases, err)
	}

	// Replace revokes the old incarnation's lease: its ownership goes, and
	// the old member, if still running, fences itself at its next keepalive.
	revokedAt := time.Now()
	m := mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: time.Second, Replace: true})
	if _, err := s.Owner(ctx, "g"); !errors.Is(err, quorum.ErrNotFound) {
		t.Fatalf("old incarnation's ownership survived Replace: %v", err)
	}
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Lease != int64(m.LeaseID()) {
		t.Fatalf("nodes after replace: %+v %v", nodes, err)
	}
	deadline := old.Deadline()
	fencedAt := mtRecv(t, oldFenced, 10*time.Second, "old incarnation fencing (OnFence)")
	mtClosed(t, old.Fenced(), time.Second, "Fenced")
	if !errors.Is(old.Err(), quorum.ErrLeaseLost) || !strings.Contains(old.Err().Error(), "not found") {
		t.Fatalf("old member error: %v", old.Err())
	}
	if fencedAt.Before(revokedAt) || !fencedAt.Before(deadline) {
		t.Fatalf("a lost lease must fence at the next keepalive, before the deadline")
	}
	mtClosed(t, old.Done(), 5*time.Second, "old member stopping")
}

func TestLeaveRevokesPresenceAndOwnership(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 30*time.Second)
	m, err := s.Join(context.Background(), quorum.MemberConfig{Node: "n1", TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, m, "g"); err != nil {
		t.Fatal(err)
	}
	presenceGone := mtWatchDelete(t, cli, s.Keys().Node("n1"))
	ownerGone := mtWatchDelete(t, cli, s.Keys().Owner("g"))

	start := time.Now()
	if err := m.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	// Both keys go with the revoke, long before the 10s lease could expire.
	expiry := start.Add(m.TTL())
	for _, ch := range []<-chan time.Time{presenceGone, ownerGone} {
		at := mtRecv(t, ch, 5*time.Second, "delete after leave")
		if !at.Before(expiry) {
			t.Fatalf("delete seen at +%s, not before the lease TTL %s", at.Sub(start), m.TTL())
		}
	}
	mtClosed(t, m.Done(), time.Second, "Done after Leave")
	select {
	case <-m.Fenced():
		t.Fatal("Leave closed Fenced")
	default:
	}
	if m.Err() != nil {
		t.Fatalf("Err after Leave: %v", m.Err())
	}
	if err := m.Leave(ctx); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	if _, err := s.Acquire(ctx, m, "g2"); !errors.Is(err, quorum.ErrLeaseLost) {
		t.Fatalf("acquire after leave: %v", err)
	}
}

func TestLeaseExpiryDeletesPresenceAndOwnership(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 30*time.Second)
	m := mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: time.Second})
	if _, err := s.Acquire(ctx, m, "g"); err != nil {
		t.Fatal(err)
	}
	nodes := s.WatchNodes(ctx)
	if ev := mtRecv(t, nodes, 5*time.Second, "initial node event"); !ev.Up || ev.Node != "n1" {
		t.Fatalf("initial node event %+v", ev)
	}
	owner := s.WatchOwner(ctx, "g")
	if ev := mtRecv(t, owner, 5*time.Second, "initial owner event"); !ev.Owned || ev.Ownership.Node != "n1" {
		t.Fatalf("initial owner event %+v", ev)
	}

	// A crash: keepalives stop, nothing is revoked; etcd expires the lease.
	m.Abandon()
	last := m.LastKeepAlive()
	if ev := mtRecv(t, owner, 10*time.Second, "owner delete on expiry"); ev.Owned {
		t.Fatalf("owner event %+v", ev)
	}
	ownerGoneAt := time.Now()
	if ev := mtRecv(t, nodes, 10*time.Second, "node down on expiry"); ev.Up || ev.Node != "n1" {
		t.Fatalf("node event %+v", ev)
	}
	// etcd renewed the lease no earlier than the last send, so it cannot
	// have expired before last send + TTL.
	if ownerGoneAt.Before(last.Add(m.TTL())) {
		t.Fatalf("lease expired %s after the last keepalive, before its TTL %s", ownerGoneAt.Sub(last), m.TTL())
	}
	mtClosed(t, m.Done(), time.Second, "Done after abandon")
	if r, err := cli.TimeToLive(ctx, m.LeaseID()); err != nil || r.TTL != -1 {
		t.Fatalf("lease still alive after expiry: %+v %v", r, err)
	}
}

func TestMemberFencesBeforeServerExpiry(t *testing.T) {
	// Not parallel: the margin must cover the watchdog's wake-up latency,
	// which a loaded test binary stretches. A 1s margin leaves room for a
	// busy CI machine; the default margin (TTL/5) is for a dedicated host.
	e, cli := quorumtest.Start(t)
	// The member talks through its own client; closing it makes every
	// keepalive fail while the server keeps running and expires the lease.
	own := quorumtest.Client(t, e.Endpoints()...)
	s := mtStore(t, own)
	ctx := mtCtx(t, 30*time.Second)
	fencedAt := make(chan time.Time, 1)
	m := mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: 2 * time.Second, Margin: time.Second,
		OnFence: func() { fencedAt <- time.Now() }})
	if m.Margin() != time.Second {
		t.Fatalf("margin %s, configured 1s", m.Margin())
	}
	if _, err := s.Acquire(ctx, m, "g"); err != nil {
		t.Fatal(err)
	}
	joined := m.LastKeepAlive()
	mtEventually(t, 5*time.Second, "an acknowledged keepalive", func() bool { return m.LastKeepAlive().After(joined) })
	ownerGone := mtWatchDelete(t, cli, mtStore(t, cli).Keys().Owner("g"))

	own.Close()
	fenced := mtRecv(t, fencedAt, 10*time.Second, "self-fencing")
	mtClosed(t, m.Fenced(), time.Second, "Fenced")
	last, deadline := m.LastKeepAlive(), m.Deadline()
	if !deadline.Equal(last.Add(m.TTL() - m.Margin())) {
		t.Fatalf("deadline %v is not last send %v + TTL %s − margin %s", deadline, last, m.TTL(), m.Margin())
	}
	if fenced.Before(deadline) {
		t.Fatalf("fenced %s before the deadline with a live lease", deadline.Sub(fenced))
	}
	earliestExpiry := last.Add(m.TTL())
	if !fenced.Before(earliestExpiry) {
		t.Fatalf("fenced %s after the earliest possible server expiry", fenced.Sub(earliestExpiry))
	}
	gone := mtRecv(t, ownerGone, 10*time.Second, "owner key expiry")
	if !fenced.Before(gone) {
		t.Fatalf("the server expired the ownership %s before the member fenced", fenced.Sub(gone))
	}
	t.Logf("last keepalive +0; fenced +%s (deadline +%s); server expiry seen +%s",
		fenced.Sub(last).Round(time.Millisecond), deadline.Sub(last), gone.Sub(last).Round(time.Millisecond))
	if !errors.Is(m.Err(), quorum.ErrLeaseLost) {
		t.Fatalf("Err() = %v", m.Err())
	}
	mtClosed(t, m.Done(), 5*time.Second, "Done after fencing")
}

func TestMemberFencesWhenEtcdStops(t *testing.T) {
	e, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	m := mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: time.Second})
	joined := m.LastKeepAlive()
	mtEventually(t, 5*time.Second, "an acknowledged keepalive", func() bool { return m.LastKeepAlive().After(joined) })
	e.Stop()
	mtClosed(t, m.Fenced(), 10*time.Second, "self-fencing with etcd down")
	fenced := time.Now()
	if fenced.Before(m.Deadline()) || !m.Deadline().Equal(m.LastKeepAlive().Add(m.TTL()-m.Margin())) {
		t.Fatalf("fenced at %v, deadline %v", fenced, m.Deadline())
	}
	if _, err := s.Acquire(context.Background(), m, "g"); !errors.Is(err, quorum.ErrLeaseLost) {
		t.Fatalf("acquire after fencing: %v", err)
	}
	mtClosed(t, m.Done(), 5*time.Second, "Done after fencing")
}

func TestMemberContextEndFencesWithoutRevoking(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx, cancel := context.WithCancel(context.Background())
	m, err := s.Join(ctx, quorum.MemberConfig{Node: "n1", TTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	mtClosed(t, m.Fenced(), 5*time.Second, "Fenced on context end")
	mtClosed(t, m.Done(), 5*time.Second, "Done on context end")
	if !errors.Is(m.Err(), quorum.ErrLeaseLost) || !errors.Is(m.Err(), context.Canceled) {
		t.Fatalf("Err() = %v", m.Err())
	}
	// The lease is left to expire, so resources have the margin to go down.
	r, err := cli.TimeToLive(mtCtx(t, 5*time.Second), m.LeaseID())
	if err != nil || r.TTL <= 0 {
		t.Fatalf("lease after context end: %+v %v", r, err)
	}
	// Leave after fencing revokes it for a prompt takeover.
	if err := m.Leave(mtCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if r, _ := cli.TimeToLive(mtCtx(t, 5*time.Second), m.LeaseID()); r.TTL != -1 {
		t.Fatalf("lease after Leave: %+v", r)
	}
}

func TestWatchNodes(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	mtJoin(t, s, quorum.MemberConfig{Node: "a", TTL: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.WatchNodes(ctx)
	if ev := mtRecv(t, ch, 5*time.Second, "initial"); ev.Node != "a" || !ev.Up || ev.Info.Node != "a" {
		t.Fatalf("initial event %+v", ev)
	}
	b, err := s.Join(context.Background(), quorum.MemberConfig{Node: "b", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if ev := mtRecv(t, ch, 5*time.Second, "b up"); ev.Node != "b" || !ev.Up || ev.Info.Lease != int64(b.LeaseID()) {
		t.Fatalf("event %+v", ev)
	}
	if err := b.Leave(mtCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ev := mtRecv(t, ch, 5*time.Second, "b down"); ev.Node != "b" || ev.Up {
		t.Fatalf("event %+v", ev)
	}
	cancel()
	mtEventually(t, 5*time.Second, "channel close", func() bool {
		select {
		case _, ok := <-ch:
			return !ok
		default:
			return false
		}
	})
}

// ExampleStore_Join shows a node's life: join, watch for fencing, leave.
func ExampleStore_Join() {
	s, stop := memberExampleStore()
	defer stop()
	ctx := context.Background()

	m, err := s.Join(ctx, quorum.MemberConfig{Node: "node1", TTL: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		<-m.Fenced()
		// Take every resource down now: the lease cannot be trusted past
		// m.Deadline(), and other nodes may take over Margin later.
	}()
	nodes, _ := s.Nodes(ctx)
	fmt.Println("members:", nodes[0].Node, "TTL", m.TTL(), "margin", m.Margin())

	_, err = s.Join(ctx, quorum.MemberConfig{Node: "node1"})
	fmt.Println("second clusterd named node1:", errors.Is(err, quorum.ErrNodeExists))

	if err := m.Leave(ctx); err != nil {
		fmt.Println(err)
	}
	nodes, _ = s.Nodes(ctx)
	fmt.Println("members after leave:", len(nodes))
	// Output:
	// members: node1 TTL 5s margin 1s
	// second clusterd named node1: true
	// members after leave: 0
}

func TestJoinTakesOverPresenceWithoutLease(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 10*time.Second)
	// A presence key bound to no lease (written by hand, or restored) is stale.
	if _, err := cli.Put(ctx, s.Keys().Node("n1"), `{"node":"n1"}`); err != nil {
		t.Fatal(err)
	}
	m := mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: 2 * time.Second})
	resp, err := cli.Get(ctx, s.Keys().Node("n1"))
	if err != nil || len(resp.Kvs) != 1 || clientv3.LeaseID(resp.Kvs[0].Lease) != m.LeaseID() {
		t.Fatalf("presence after join: %v %v", resp.Kvs, err)
	}
}

// TestMemberReportsEveryDeadline: OnDeadline hears the deadline at Join
// and at each confirmed renewal, in increasing order, each equal to the
// member's Deadline at that moment; after a fence it hears nothing more.
func TestMemberReportsEveryDeadline(t *testing.T) {
	e, _ := quorumtest.Start(t)
	own := quorumtest.Client(t, e.Endpoints()...)
	s := mtStore(t, own)
	got := make(chan time.Time, 64)
	m := mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: time.Second, OnDeadline: func(d time.Time) { got <- d }})
	first := mtRecv(t, got, 5*time.Second, "the deadline at Join")
	second := mtRecv(t, got, 5*time.Second, "a renewed deadline")
	if !second.After(first) {
		t.Fatalf("deadline went from %v to %v", first, second)
	}
	own.Close()
	mtClosed(t, m.Fenced(), 10*time.Second, "self-fencing")
	last := second
	for {
		select {
		case d := <-got:
			if !d.After(last) {
				t.Fatalf("deadline went from %v to %v", last, d)
			}
			last = d
			continue
		default:
		}
		break
	}
	if !last.Equal(m.Deadline()) {
		t.Fatalf("last deadline reported %v, member's %v", last, m.Deadline())
	}
	select {
	case d := <-got:
		t.Fatalf("a deadline %v reported after the fence", d)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestKeepaliveTiming: unset keepalive settings default to a third of
// TTL − margin (interval + 2 × timeout = TTL − margin exactly); set ones
// are kept.
func TestKeepaliveTiming(t *testing.T) {
	for _, tt := range []struct {
		ttl, margin, iv, to time.Duration
		wantIv, wantTo      time.Duration
	}{
		{10 * time.Second, 2 * time.Second, 0, 0, 8 * time.Second / 3, 8 * time.Second / 3},
		{2 * time.Second, 400 * time.Millisecond, 0, 0, 1600 * time.Millisecond / 3, 1600 * time.Millisecond / 3},
		{2 * time.Second, 400 * time.Millisecond, 100 * time.Millisecond, 0, 100 * time.Millisecond, 1600 * time.Millisecond / 3},
		{2 * time.Second, 400 * time.Millisecond, 0, time.Second, 1600 * time.Millisecond / 3, time.Second},
		{20 * time.Millisecond, 10 * time.Millisecond, 0, 0, 10 * time.Millisecond, 10 * time.Millisecond},
	} {
		iv, to := quorum.KeepaliveTiming(tt.ttl, tt.margin, tt.iv, tt.to)
		if iv != tt.wantIv || to != tt.wantTo {
			t.Errorf("KeepaliveTiming(%s, %s, %s, %s) = %s, %s; want %s, %s", tt.ttl, tt.margin, tt.iv, tt.to, iv, to, tt.wantIv, tt.wantTo)
		}
	}
}

// TestJoinRefusesBadKeepaliveTiming: a member whose keepalive interval + 2
// × timeout exceeds TTL − margin would fence whenever one renewal is slow;
// Join refuses it with ErrBadTiming and leaves no presence behind.
func TestJoinRefusesBadKeepaliveTiming(t *testing.T) {
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 10*time.Second)
	_, err := s.Join(ctx, quorum.MemberConfig{Node: "n1", TTL: 2 * time.Second, KeepaliveInterval: time.Second})
	if !errors.Is(err, quorum.ErrBadTiming) {
		t.Fatalf("join with interval 1s, TTL 2s: %v, want ErrBadTiming", err)
	}
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 0 {
		t.Fatalf("nodes after a refused join: %v, %v; want none", nodes, err)
	}
	// Settings that keep the rule are taken (mtJoin fails the test otherwise).
	mtJoin(t, s, quorum.MemberConfig{Node: "n1", TTL: 2 * time.Second, KeepaliveInterval: 200 * time.Millisecond, KeepaliveTimeout: 600 * time.Millisecond})
}
