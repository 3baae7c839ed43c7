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

func TestCheckConfirmed(t *testing.T) {
	t0 := time.Unix(1000, 0)
	on := func(tok, found int64) interval {
		return interval{Group: "g1", Token: tok, PID: int(tok), Start: t0, Found: found}
	}
	confs := []confirmation{{Group: "g1", Token: 10, Value: 7, At: t0}, {Group: "g1", Token: 10, Value: 9, At: t0}, {Group: "g2", Token: 10, Value: 50, At: t0}}
	for _, tc := range []struct {
		name   string
		ivs    []interval
		resets map[string][]int64
		want   int
	}{
		{"later tenure found the last confirmed value", []interval{on(10, 0), on(20, 9)}, nil, 0},
		{"later tenure found more", []interval{on(20, 12)}, nil, 0},
		{"later tenure lost a confirmed value", []interval{on(20, 8)}, nil, 1},
		{"the same tenure restarting is not checked", []interval{on(10, 3)}, nil, 0},
		{"an earlier tenure is not checked", []interval{on(5, 0)}, nil, 0},
		{"not reported", []interval{on(20, -1)}, nil, 0},
		{"forgiven by a corrupt recovery after token 10", []interval{on(20, 1)}, map[string][]int64{"g1": {10}}, 0},
		{"a reset before the confirmations forgives nothing", []interval{on(20, 1)}, map[string][]int64{"g1": {5}}, 1},
	} {
		if vs := checkConfirmed(tc.ivs, confs, tc.resets); len(vs) != tc.want {
			t.Errorf("%s: violations %v, want %d", tc.name, vs, tc.want)
		}
	}
}

func TestTrackerReadsWitnessLines(t *testing.T) {
	tr := newTracker(nil, func(int) string { return "" }, func(int64) string { return "node2" }, func(string, time.Time) int { return 0 })
	for _, l := range []string{
		"online 10 0 1000000000 4",
		"stored 10 0 1100000000 5",
		"stored 10 0 1200000000 6",
		"fault 10 0 1300000000 trap",
		"online 10 0 1400000000 6",
		"terminate 10 0 1500000000",
		"garbage line",
		"stored 10 0 x 7",
		"online 20 0 1600000000 6",
	} {
		tr.apply("w1", l)
	}
	ivs := tr.intervals()
	if len(ivs) != 3 || ivs[0].Found != 4 || ivs[0].Why != "fault trap" || ivs[1].Found != 6 || ivs[1].Why != "terminate" {
		t.Fatalf("intervals: %+v", ivs)
	}
	if c := tr.confirmations(); len(c) != 2 || c[1].Value != 6 || c[1].Token != 10 {
		t.Fatalf("confirmations: %+v", c)
	}
	tr.poll() // resolves the WASM host through the owner of the token
	if ivs := tr.intervals(); ivs[2].Node != "node2" || !ivs[2].End.IsZero() {
		t.Fatalf("open WASM interval not attributed to its owner: %+v", ivs[2])
	}
}
