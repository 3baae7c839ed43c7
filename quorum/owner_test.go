package quorum_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestAcquireContendedReleaseToken(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 30*time.Second)
	a := mtJoin(t, s, quorum.MemberConfig{Node: "a", TTL: 5 * time.Second})
	b := mtJoin(t, s, quorum.MemberConfig{Node: "b", TTL: 5 * time.Second})

	oa, err := s.Acquire(ctx, a, "web")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, s.Keys().Owner("web"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("owner key: %v %v", resp, err)
	}
	if kv := resp.Kvs[0]; oa.Token != kv.CreateRevision || clientv3.LeaseID(kv.Lease) != a.LeaseID() || oa.Node != "a" || oa.Group != "web" {
		t.Fatalf("ownership %+v, owner key create_revision %d lease %x", oa, kv.CreateRevision, kv.Lease)
	}
	if again, err := s.Acquire(ctx, a, "web"); err != nil || again != oa {
		t.Fatalf("re-acquire by the owner: %+v %v, want %+v", again, err, oa)
	}

	_, err = s.Acquire(ctx, b, "web")
	var oe *model.OwnedError
	if !errors.Is(err, model.ErrOwned) || !errors.As(err, &oe) || oe.Node != "a" || oe.Token != oa.Token || oe.Group != "web" {
		t.Fatalf("contended acquire: %v (%+v)", err, oe)
	}

	if o, err := s.Owner(ctx, "web"); err != nil || o != oa {
		t.Fatalf("Owner: %+v %v", o, err)
	}
	ob, err := s.Acquire(ctx, b, "db")
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.Owners(ctx)
	if err != nil || len(all) != 2 || all["web"] != oa || all["db"] != ob {
		t.Fatalf("Owners: %+v %v", all, err)
	}

	if err := s.Release(ctx, oa); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Owner(ctx, "web"); !errors.Is(err, quorum.ErrNotFound) {
		t.Fatalf("Owner after release: %v", err)
	}
	ob2, err := s.Acquire(ctx, b, "web")
	if err != nil {
		t.Fatal(err)
	}
	if ob2.Token <= oa.Token || ob2.Node != "b" {
		t.Fatalf("new tenure %+v after %+v: token must grow", ob2, oa)
	}
	if err := s.Release(ctx, oa); !errors.Is(err, model.ErrFenced) {
		t.Fatalf("stale release: %v, want ErrFenced", err)
	}
	if o, err := s.Owner(ctx, "web"); err != nil || o != ob2 {
		t.Fatalf("stale release touched the new tenure: %+v %v", o, err)
	}
}

func TestStaleOwnerFencedWriteRejected(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 30*time.Second)
	a := mtJoin(t, s, quorum.MemberConfig{Node: "a", TTL: 5 * time.Second})
	b := mtJoin(t, s, quorum.MemberConfig{Node: "b", TTL: 5 * time.Second})
	state := s.Keys().GroupState("web")

	oa, err := s.Acquire(ctx, a, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FencedTxn(ctx, oa.Fence(), clientv3.OpPut(state, "online on a")); err != nil {
		t.Fatalf("owner's fenced write: %v", err)
	}

	// A's lease is revoked behind its back (as if it expired); B takes over.
	if _, err := cli.Revoke(ctx, a.LeaseID()); err != nil {
		t.Fatal(err)
	}
	ob, err := s.Acquire(ctx, b, "web")
	if err != nil {
		t.Fatal(err)
	}

	if err := s.FencedTxn(ctx, oa.Fence(), clientv3.OpPut(state, "online on a (stale)")); !errors.Is(err, model.ErrFenced) {
		t.Fatalf("stale owner's write: %v, want ErrFenced", err)
	}
	if err := s.FencedTxn(ctx, ob.Fence(), clientv3.OpPut(state, "online on b"), clientv3.OpPut(state+".note", "x")); err != nil {
		t.Fatalf("new owner's write: %v", err)
	}
	resp, err := cli.Get(ctx, state)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "online on b" {
		t.Fatalf("state after both writes: %v %v", resp.Kvs, err)
	}
	// A write for a group nobody owns is fenced too.
	if err := s.FencedTxn(ctx, model.Fence{Group: "nobody", Token: ob.Token}, clientv3.OpPut(state, "x")); !errors.Is(err, model.ErrFenced) {
		t.Fatalf("write without ownership: %v", err)
	}
}

func TestWatchOwner(t *testing.T) {
	t.Parallel()
	_, cli := quorumtest.Start(t)
	s := mtStore(t, cli)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := mtJoin(t, s, quorum.MemberConfig{Node: "a", TTL: 5 * time.Second})
	b := mtJoin(t, s, quorum.MemberConfig{Node: "b", TTL: 5 * time.Second})
	ch := s.WatchOwner(ctx, "web")
	if ev := mtRecv(t, ch, 5*time.Second, "initial"); ev.Owned || ev.Group != "web" {
		t.Fatalf("initial %+v", ev)
	}
	oa, err := s.Acquire(ctx, a, "web")
	if err != nil {
		t.Fatal(err)
	}
	if ev := mtRecv(t, ch, 5*time.Second, "acquired by a"); !ev.Owned || ev.Ownership != oa {
		t.Fatalf("event %+v, want %+v", ev, oa)
	}
	if err := s.Release(ctx, oa); err != nil {
		t.Fatal(err)
	}
	if ev := mtRecv(t, ch, 5*time.Second, "released"); ev.Owned {
		t.Fatalf("event %+v", ev)
	}
	ob, err := s.Acquire(ctx, b, "web")
	if err != nil {
		t.Fatal(err)
	}
	if ev := mtRecv(t, ch, 5*time.Second, "acquired by b"); !ev.Owned || ev.Ownership != ob {
		t.Fatalf("event %+v, want %+v", ev, ob)
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

func TestOwnershipSurvivesLeaderLoss(t *testing.T) {
	members, cli := quorumtest.StartCluster(t, 3)
	s := mtStore(t, cli)
	ctx := mtCtx(t, 60*time.Second)
	m := mtJoin(t, s, quorum.MemberConfig{Node: "a", TTL: 5 * time.Second})
	o1, err := s.Acquire(ctx, m, "g1")
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	for _, mb := range members {
		if mb.IsLeader() {
			mb.Stop()
			stopped = true
			break
		}
	}
	if !stopped {
		t.Fatal("no leader")
	}
	// The client has every endpoint; a request in flight when the leader
	// went may fail, but the cluster must serve again within a deadline.
	var o2 model.Ownership
	mtEventually(t, 20*time.Second, "acquire after leader loss", func() bool {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		o2, err = s.Acquire(actx, m, "g2")
		return err == nil
	})
	if o2.Token <= o1.Token {
		t.Fatalf("token %d after %d", o2.Token, o1.Token)
	}
	mtEventually(t, 20*time.Second, "fenced write after leader loss", func() bool {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		err = s.FencedTxn(actx, o1.Fence(), clientv3.OpPut(s.Keys().GroupState("g1"), "online"))
		if errors.Is(err, model.ErrFenced) {
			t.Fatalf("ownership of g1 lost with the leader: %v", err)
		}
		return err == nil
	})
	if o, err := s.Owner(ctx, "g1"); err != nil || o != o1 {
		t.Fatalf("g1 after leader loss: %+v %v", o, err)
	}
	// Checkpoint data, small and chunked, is written and read back too.
	for _, size := range []int{1 << 10, 3 << 20} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		mtEventually(t, 20*time.Second, "checkpoint put after leader loss", func() bool {
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err = s.PutCheckpoint(actx, o1.Fence(), "00000000-0000-0000-0000-000000000001", model.RegistryCheckpoint, 1, "a", data)
			return err == nil
		})
		got, _, err := s.GetCheckpoint(ctx, "00000000-0000-0000-0000-000000000001", model.RegistryCheckpoint, 1)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("checkpoint of %d bytes after leader loss: %v", size, err)
		}
	}
	select {
	case <-m.Fenced():
		t.Fatalf("member fenced during the leader change: %v", m.Err())
	default:
	}
}

// memberExampleStore starts a single embedded etcd member for the examples.
func memberExampleStore() (*quorum.Store, func()) {
	dir, err := os.MkdirTemp("", "resmon-example-")
	if err != nil {
		panic(err)
	}
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}
	e, err := quorum.StartEmbedded(context.Background(), quorum.EmbedConfig{
		Name: "example", DataDir: dir, ClientURL: free(), PeerURL: free(), TickMs: 10, ElectionMs: 100,
	})
	if err != nil {
		panic(err)
	}
	cli, err := quorum.Connect(context.Background(), quorum.ClientConfig{Endpoints: e.Endpoints()})
	if err != nil {
		panic(err)
	}
	s, err := quorum.NewStore(cli, "example", nil)
	if err != nil {
		panic(err)
	}
	return s, func() { cli.Close(); e.Close(); os.RemoveAll(dir) }
}

// ExampleStore_Acquire shows group ownership and an owner-only write fenced
// by the ownership's token.
func ExampleStore_Acquire() {
	s, stop := memberExampleStore()
	defer stop()
	ctx := context.Background()
	n1, _ := s.Join(ctx, quorum.MemberConfig{Node: "node1"})
	n2, _ := s.Join(ctx, quorum.MemberConfig{Node: "node2"})
	defer n1.Leave(ctx)
	defer n2.Leave(ctx)

	own, err := s.Acquire(ctx, n1, "web")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("owner:", own.Node)

	// Only the current tenure may write the group's state.
	err = s.FencedTxn(ctx, own.Fence(), clientv3.OpPut(s.Keys().GroupState("web"), `{"state":"online"}`))
	fmt.Println("owner's write:", err)

	_, err = s.Acquire(ctx, n2, "web")
	var owned *model.OwnedError
	if errors.As(err, &owned) {
		fmt.Println("node2 cannot take it, owned by", owned.Node)
	}

	// node1 lets go; node2 takes over with a new, larger token.
	_ = s.Release(ctx, own)
	own2, _ := s.Acquire(ctx, n2, "web")
	fmt.Println("new owner:", own2.Node, "newer token:", own2.Token > own.Token)

	err = s.FencedTxn(ctx, own.Fence(), clientv3.OpPut(s.Keys().GroupState("web"), `{"state":"online"}`))
	fmt.Println("stale owner's write fenced:", errors.Is(err, model.ErrFenced))
	// Output:
	// owner: node1
	// owner's write: <nil>
	// node2 cannot take it, owned by node1
	// new owner: node2 newer token: true
	// stale owner's write fenced: true
}
