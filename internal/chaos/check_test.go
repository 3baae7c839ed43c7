package chaos

import (
	"strconv"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum"
)

// The checkers must catch what they are meant to catch: these feed them
// made-up histories rather than waiting for the product to misbehave.

func TestCheckDualOnline(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	owner := func(int64) string { return "" }
	old := interval{Group: "g1", Token: 10, PID: 1, Node: "node1", Start: at(0), End: at(5), Why: "terminate"}
	next := interval{Group: "g1", Token: 20, PID: 2, Node: "node2", Start: at(2), End: at(9), Why: "offline"}
	stopped := []window{{Kind: KindStop, Node: "node1", Start: at(1), End: at(3)}}
	grace := 2 * time.Second

	if vs, n := checkDualOnline([]interval{old, next}, stopped, grace, t0, at(10), owner); len(vs) != 0 || n != 1 {
		t.Errorf("a stopped node's tenure ending within the grace: violations %v, tolerated %d", vs, n)
	}
	if vs, _ := checkDualOnline([]interval{old, next}, nil, grace, t0, at(10), owner); len(vs) != 1 {
		t.Errorf("an overlap with no fault: violations %v, want 1", vs)
	}
	late := old
	late.End = at(8) // past SIGCONT + grace
	if vs, _ := checkDualOnline([]interval{late, next}, stopped, grace, t0, at(10), owner); len(vs) != 1 {
		t.Errorf("a stale tenure that outlived the grace: violations %v, want 1", vs)
	}
	restarted := []window{{Kind: KindRestart, Node: "node1", Start: at(1), End: at(3)}}
	if vs, _ := checkDualOnline([]interval{old, next}, restarted, grace, t0, at(10), owner); len(vs) != 1 {
		t.Errorf("an overlap during a graceful restart: violations %v, want 1", vs)
	}
	sameToken := next
	sameToken.Token, sameToken.PID = 10, 3
	if vs, _ := checkDualOnline([]interval{old, sameToken}, nil, grace, t0, at(10), owner); len(vs) != 0 {
		t.Errorf("one tenure's restart is not a dual online: %v", vs)
	}
}

func TestHistoryFlagsStaleWrites(t *testing.T) {
	k := quorum.NewKeys("c")
	h := newHistory(k)
	put := func(token int64, rev int64) {
		h.apply(k.GroupState("g1"), []byte(`{"group":"g1","owner":"n","token":`+strconv.FormatInt(token, 10)+`}`), rev)
	}
	put(5, 1)
	put(7, 2)
	put(7, 3)
	if vs, _ := h.result(); len(vs) != 0 {
		t.Fatalf("monotone tokens flagged: %v", vs)
	}
	put(5, 4)
	if vs, _ := h.result(); len(vs) != 1 {
		t.Fatalf("a write under token 5 after 7: violations %v, want 1", vs)
	}
	h.apply(k.ResourceState("id"), []byte(`{"id":"id","group":"g1","token":6}`), 5)
	if vs, _ := h.result(); len(vs) != 2 {
		t.Fatalf("a resource state under a stale token: violations %v, want 2", vs)
	}
}
