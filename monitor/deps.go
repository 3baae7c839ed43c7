package monitor

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrDependency reports a dependency that cannot be honoured: a missing
// resource, one in another group, or a cycle.
var ErrDependency = errors.New("monitor: invalid dependency")

// Deps is the dependency graph of one group. A resource's dependencies are
// an AND of OR-groups: it may come online once, for every OR-group, at least
// one member is online.
type Deps struct {
	names []string              // canonical names, sorted
	canon map[string]string     // lower-case → canonical
	needs map[string][][]string // name → AND of OR-groups (canonical names)
}

// NewDeps builds the graph of a group's resources, given as name → its
// dependencies. It rejects dependencies on resources outside the map (other
// groups included) and cycles, naming them.
func NewDeps(resources map[string][][]string) (*Deps, error) {
	d := &Deps{canon: map[string]string{}, needs: map[string][][]string{}}
	for n := range resources {
		d.canon[strings.ToLower(n)] = n
		d.names = append(d.names, n)
	}
	sort.Strings(d.names)
	var problems []string
	for _, n := range d.names {
		for _, or := range resources[n] {
			var group []string
			for _, dep := range or {
				c, ok := d.canon[strings.ToLower(dep)]
				if !ok {
					problems = append(problems, fmt.Sprintf("resource %q depends on %q, which is not in its group", n, dep))
					continue
				}
				group = append(group, c)
			}
			if len(group) > 0 {
				d.needs[n] = append(d.needs[n], group)
			}
		}
	}
	if len(problems) == 0 {
		if cycle := d.findCycle(); cycle != nil {
			problems = append(problems, "dependency cycle: "+strings.Join(cycle, " → "))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrDependency, strings.Join(problems, "; "))
	}
	return d, nil
}

func (d *Deps) providers(n string) []string {
	var out []string
	for _, or := range d.needs[n] {
		out = append(out, or...)
	}
	return out
}

func (d *Deps) findCycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		color[n] = grey
		stack = append(stack, n)
		for _, p := range d.providers(n) {
			switch color[p] {
			case grey:
				i := 0
				for stack[i] != p {
					i++
				}
				return append(append([]string(nil), stack[i:]...), p)
			case white:
				if c := visit(p); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return nil
	}
	for _, n := range d.names {
		if color[n] == white {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

// OnlineOrder lists the resources bottom-up: every resource after all of
// its providers. Ties keep name order, so the order is deterministic.
func (d *Deps) OnlineOrder() []string {
	done := map[string]bool{}
	var out []string
	var visit func(n string)
	visit = func(n string) {
		if done[n] {
			return
		}
		done[n] = true
		providers := d.providers(n)
		sort.Strings(providers)
		for _, p := range providers {
			visit(p)
		}
		out = append(out, n)
	}
	for _, n := range d.names {
		visit(n)
	}
	return out
}

// OfflineOrder lists the resources top-down: dependents before the
// resources they depend on.
func (d *Deps) OfflineOrder() []string {
	on := d.OnlineOrder()
	out := make([]string, len(on))
	for i, n := range on {
		out[len(on)-1-i] = n
	}
	return out
}

// Satisfied reports whether n may come online: every OR-group has a member
// for which online returns true.
func (d *Deps) Satisfied(n string, online func(string) bool) bool {
	for _, or := range d.needs[d.canonical(n)] {
		ok := false
		for _, p := range or {
			if online(p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Dependents lists the resources that depend on n directly or through
// others, top-down (the order to take them offline when n fails).
func (d *Deps) Dependents(n string) []string {
	n = d.canonical(n)
	affected := map[string]bool{n: true}
	// The online order visits providers first, so one pass in it finds every
	// transitive dependent.
	for _, r := range d.OnlineOrder() {
		for _, p := range d.providers(r) {
			if affected[p] {
				affected[r] = true
			}
		}
	}
	var out []string
	for _, r := range d.OfflineOrder() {
		if affected[r] && r != n {
			out = append(out, r)
		}
	}
	return out
}

func (d *Deps) canonical(n string) string {
	if c, ok := d.canon[strings.ToLower(n)]; ok {
		return c
	}
	return n
}
