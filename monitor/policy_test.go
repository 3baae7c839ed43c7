package monitor

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDepsOrderAndSatisfaction(t *testing.T) {
	// App needs Disk and (IP A or IP B); Name needs IP A.
	d, err := NewDeps(map[string][][]string{
		"App":  {{"disk"}, {"IP A", "IP B"}},
		"Disk": nil,
		"IP A": nil,
		"IP B": nil,
		"Name": {{"IP A"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	on := d.OnlineOrder()
	pos := func(n string) int { return slices.Index(on, n) }
	for _, c := range [][2]string{{"Disk", "App"}, {"IP A", "App"}, {"IP B", "App"}, {"IP A", "Name"}} {
		if pos(c[0]) > pos(c[1]) {
			t.Errorf("online order %v puts %s after %s", on, c[0], c[1])
		}
	}
	off := d.OfflineOrder()
	if slices.Index(off, "App") > slices.Index(off, "Disk") {
		t.Errorf("offline order %v takes Disk down before App", off)
	}
	online := map[string]bool{"Disk": true, "IP B": true}
	if !d.Satisfied("App", func(n string) bool { return online[n] }) {
		t.Error("App should be satisfied by Disk and IP B")
	}
	online["Disk"] = false
	if d.Satisfied("App", func(n string) bool { return online[n] }) {
		t.Error("App satisfied without Disk")
	}
	if got := d.Dependents("IP A"); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"App", "Name"}) {
		t.Errorf("dependents of IP A: %v", got)
	}
}

func TestDepsRejectCyclesAndOutsiders(t *testing.T) {
	_, err := NewDeps(map[string][][]string{"A": {{"B"}}, "B": {{"C"}}, "C": {{"A"}}})
	if !errors.Is(err, ErrDependency) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: %v", err)
	}
	_, err = NewDeps(map[string][][]string{"A": {{"Disk P"}}})
	if !errors.Is(err, ErrDependency) || !strings.Contains(err.Error(), `"Disk P"`) {
		t.Fatalf("outsider: %v", err)
	}
}

func TestWindowAndRestartDecision(t *testing.T) {
	w := Window{Period: 900 * time.Second}
	t0 := time.Unix(1000, 0)
	for i, c := range []struct {
		at   time.Duration
		want int
	}{{0, 1}, {10 * time.Second, 2}, {20 * time.Second, 3}, {905 * time.Second, 3}, {2000 * time.Second, 1}} {
		if got := w.Add(t0.Add(c.at)); got != c.want {
			t.Errorf("event %d at +%s: count %d, want %d", i, c.at, got, c.want)
		}
	}
	for _, c := range []struct {
		action, threshold, n int
		want                 RestartDecision
	}{
		{0, 3, 1, StayFailed},
		{1, 3, 3, Restart},
		{1, 3, 4, StayFailed},
		{2, 3, 3, Restart},
		{2, 3, 4, FailoverGroup},
		{2, 0, 1, FailoverGroup},
	} {
		if got := DecideRestart(c.action, c.threshold, c.n); got != c.want {
			t.Errorf("action %d threshold %d failure %d: %v, want %v", c.action, c.threshold, c.n, got, c.want)
		}
	}
}

func TestNextOwner(t *testing.T) {
	pref := []string{"n1", "n2", "n3"}
	for _, c := range []struct {
		current  string
		up       []string
		possible []string
		allowCur bool
		want     string
	}{
		{"n1", []string{"n1", "n2", "n3"}, nil, false, "n2"},
		{"n2", []string{"n1", "n2", "n3"}, nil, false, "n3"},
		{"n3", []string{"n1", "n2", "n3"}, nil, false, "n1"}, // wraps
		{"n1", []string{"n1", "n3"}, nil, false, "n3"},       // n2 down
		{"n1", []string{"n1", "n2", "n3"}, []string{"n1", "n3"}, false, "n3"},
		{"n1", []string{"n1", "n4"}, nil, false, "n4"}, // not preferred, still up
		{"n1", []string{"n1"}, nil, false, ""},
		{"n1", []string{"n1"}, nil, true, "n1"},
		{"", []string{"n2", "n3"}, nil, false, "n2"},       // no current owner: first preferred up
		{"n1", []string{"n1", "n2"}, []string{}, true, ""}, // no node may own every resource
	} {
		var canOwn func(string) bool
		if c.possible != nil {
			canOwn = func(n string) bool { return containsFold(c.possible, n) }
		}
		if got := NextOwner(pref, c.current, c.up, canOwn, c.allowCur); got != c.want {
			t.Errorf("from %q up %v possible %v: %q, want %q", c.current, c.up, c.possible, got, c.want)
		}
	}
}

func TestFailbackTarget(t *testing.T) {
	pref := []string{"n1", "n2", "n3"}
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 30, 0, 0, time.Local) }
	for _, c := range []struct {
		current    string
		up         []string
		start, end int
		hour       int
		want       string
	}{
		{"n2", []string{"n1", "n2"}, -1, -1, 12, "n1"},
		{"n1", []string{"n1", "n2"}, -1, -1, 12, ""},
		{"n3", []string{"n2", "n3"}, -1, -1, 12, "n2"},
		{"n2", []string{"n1", "n2"}, 22, 2, 23, "n1"}, // window wraps midnight
		{"n2", []string{"n1", "n2"}, 22, 2, 12, ""},
		{"n2", []string{"n1", "n2"}, 3, 3, 3, "n1"},
		{"n4", []string{"n1", "n4"}, -1, -1, 12, "n1"}, // current not preferred
	} {
		if got := FailbackTarget(pref, c.current, c.up, c.start, c.end, at(c.hour)); got != c.want {
			t.Errorf("%+v: %q, want %q", c, got, c.want)
		}
	}
}
