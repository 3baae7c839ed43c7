package chaos

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/resmon/resmon/testutil/applife"
)

// window is the time a fault held a node: from injection until the node
// could act again (resumed, healed) or was dead (killed).
type window struct {
	Kind  Kind
	Node  string
	Start time.Time
	End   time.Time
}

// impairs reports whether a fault of kind k leaves a node unable to stop its
// resources in time, so that a stale tenure may outlive its ownership.
func (k Kind) impairs() bool {
	switch k {
	case KindKill, KindStop, KindCut, KindBounce, KindCorrupt, KindOrphan:
		return true
	}
	return false
}

// checkDualOnline applies the no-dual-online rule to the witnessed
// intervals. Two Online intervals of one group under different tokens may
// overlap only when the node of the older token was impaired (killed,
// stopped, cut off) at the start of the overlap, and the overlap ends
// within grace of the end of that fault. Anything else is two owners
// running one resource. It returns the violations and how many overlaps
// were tolerated.
func checkDualOnline(ivs []interval, faults []window, grace time.Duration, runStart, runEnd time.Time, ownerOf func(int64) string) ([]string, int) {
	byGroup := map[string][]interval{}
	for _, iv := range ivs {
		byGroup[iv.Group] = append(byGroup[iv.Group], iv)
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	rel := func(t time.Time) string { return t.Sub(runStart).Round(time.Millisecond).String() }
	var out []string
	tolerated := 0
	for _, g := range groups {
		list := byGroup[g]
		for i := range list {
			for j := range list {
				a, b := list[i], list[j]
				if a.Token >= b.Token {
					continue
				}
				from, to := later(a.Start, b.Start), earlier(a.end(runEnd), b.end(runEnd))
				if !from.Before(to) {
					continue
				}
				node := a.Node
				if node == "" {
					node = ownerOf(a.Token)
				}
				if excused(faults, node, from, to, grace) {
					tolerated++
					continue
				}
				out = append(out, fmt.Sprintf("group %s: token %d (pid %d on %q, online %s–%s, %s) overlaps token %d (pid %d on %q, online from %s) by %s",
					g, a.Token, a.PID, node, rel(a.Start), rel(a.end(runEnd)), a.whyEnd(), b.Token, b.PID, b.Node, rel(b.Start), to.Sub(from).Round(time.Millisecond)))
			}
		}
	}
	return out, tolerated
}

func (iv interval) whyEnd() string {
	if iv.End.IsZero() {
		return "still online at the end"
	}
	return "ended by " + iv.Why
}

func excused(faults []window, node string, from, to time.Time, grace time.Duration) bool {
	for _, f := range faults {
		if f.Node != node || !f.Kind.impairs() {
			continue
		}
		if !from.Before(f.Start) && !from.After(f.End.Add(grace)) && !to.After(f.End.Add(grace)) {
			return true
		}
	}
	return false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// checkConfirmed applies the no-lost-checkpoint rule to what the resources
// reported: every counter value the host confirmed stored under a token must
// be found by every later tenure's Online, because a confirmed save was
// committed under a fence that no newer owner key had broken yet, and every
// newer tenure restores after its owner key exists. Witness times do not
// matter (a stopped node may write its line late); only tokens order the
// facts. resets are, per group, tokens up to which older confirmations are
// forgiven: a corrupt checkpoint recovered from a registry that may be
// older, by design.
func checkConfirmed(ivs []interval, confs []confirmation, resets map[string][]int64) []string {
	type best struct {
		value int64
		at    time.Time
	}
	maxByToken := map[string]map[int64]best{} // group → token → highest value confirmed
	for _, c := range confs {
		m := maxByToken[c.Group]
		if m == nil {
			m = map[int64]best{}
			maxByToken[c.Group] = m
		}
		if b, ok := m[c.Token]; !ok || c.Value > b.value {
			m[c.Token] = best{c.Value, c.At}
		}
	}
	var out []string
	for _, iv := range ivs {
		if iv.Found < 0 {
			continue
		}
		floor := int64(-1 << 62)
		for _, r := range resets[iv.Group] {
			if r < iv.Token && r > floor {
				floor = r
			}
		}
		var worst int64 = -1
		var worstTok int64
		var worstAt time.Time
		for tok, b := range maxByToken[iv.Group] {
			if tok < iv.Token && tok > floor && b.value > worst {
				worst, worstTok, worstAt = b.value, tok, b.at
			}
		}
		if worst > iv.Found {
			out = append(out, fmt.Sprintf("group %s: Online under token %d (pid %d on %q) found Count %d, but %d was confirmed stored under token %d (at %s)",
				iv.Group, iv.Token, iv.PID, iv.Node, iv.Found, worst, worstTok, worstAt.Format(time.RFC3339Nano)))
		}
	}
	sort.Strings(out)
	return out
}

// checkApps applies the one-copy rule to the application processes the
// resources ran, as seen from outside: per group, no process of one tenure
// may run at any moment when a process of another tenure runs. Nothing
// excuses an overlap, not a stopped or cut-off node: its plugin processes
// and keeper stop its applications at its self-fencing deadline, before
// its lease can expire. It returns the violations and, per handover from
// one tenure to the next, the gap between them.
func checkApps(lives []applife.Life, runStart, runEnd time.Time) (violations []string, gaps []time.Duration) {
	type tenure struct {
		group        string
		token        int64
		first, last  time.Time // first start, last end
		lives        []applife.Life
		stillRunning bool
	}
	byGroup := map[string][]*tenure{}
	index := map[string]*tenure{}
	for _, l := range lives {
		fs := strings.Fields(l.Label)
		if len(fs) != 2 {
			continue
		}
		tok, err := strconv.ParseInt(fs[1], 10, 64)
		if err != nil {
			continue
		}
		key := fs[0] + " " + fs[1]
		tn := index[key]
		if tn == nil {
			tn = &tenure{group: fs[0], token: tok, first: l.Start}
			index[key] = tn
			byGroup[fs[0]] = append(byGroup[fs[0]], tn)
		}
		tn.lives = append(tn.lives, l)
		if l.Start.Before(tn.first) {
			tn.first = l.Start
		}
		end := l.End
		if end.IsZero() {
			end, tn.stillRunning = runEnd, true
		}
		if end.After(tn.last) {
			tn.last = end
		}
	}
	rel := func(t time.Time) string { return t.Sub(runStart).Round(time.Millisecond).String() }
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		ts := byGroup[g]
		sort.Slice(ts, func(i, j int) bool { return ts[i].token < ts[j].token })
		for i, a := range ts {
			for _, b := range ts[i+1:] {
				for _, la := range a.lives {
					for _, lb := range b.lives {
						ea, eb := la.End, lb.End
						if ea.IsZero() {
							ea = runEnd
						}
						if eb.IsZero() {
							eb = runEnd
						}
						from, to := later(la.Start, lb.Start), earlier(ea, eb)
						if from.Before(to) {
							approx := ""
							if la.Approx || lb.Approx {
								approx = " (an end seen late: the process was gone before it could be watched)"
							}
							violations = append(violations, fmt.Sprintf("group %s: application pid %d of token %d (%s–%s) and pid %d of token %d (%s–%s) ran at once for %s%s",
								g, la.PID, a.token, rel(la.Start), rel(ea), lb.PID, b.token, rel(lb.Start), rel(eb), to.Sub(from).Round(time.Microsecond), approx))
						}
					}
				}
			}
			if i+1 < len(ts) && !a.stillRunning {
				gaps = append(gaps, ts[i+1].first.Sub(a.last))
			}
		}
	}
	return violations, gaps
}
