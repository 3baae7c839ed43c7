package cli

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// Day-2 operations on nodes and the cluster: the node list (up, down,
// paused), maintenance, pause and resume. The monitor's side of each is a
// fact in monitor.Facts (see monitor/decide.go); these commands write the
// operations state in etcd and follow what the owners do about it.

// nodeView is a node as `cluster nodes`, `cluster node NAME` and
// `cluster status` show it. A node is known when it is up, or named as a
// preferred owner, a possible owner or a group's last owner, or paused or
// in maintenance.
type nodeView struct {
	Node        string           `json:"node"`
	State       string           `json:"state"` // Up or Down
	Paused      *model.NodePause `json:"paused,omitempty"`
	Maintenance *model.Mark      `json:"maintenance,omitempty"`
	Draining    bool             `json:"draining,omitempty"`
	Info        *model.NodeInfo  `json:"info,omitempty"` // its presence record, while up
	Groups      []string         `json:"groups"`         // the groups it owns
}

// stateLine is the node's state as one word or a few.
func (n nodeView) stateLine() string {
	s := n.State
	var extra []string
	if n.Draining {
		extra = append(extra, "stopping")
	}
	if n.Paused != nil {
		extra = append(extra, "paused")
	}
	if n.Maintenance != nil {
		extra = append(extra, "maintenance")
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// nodeViews lists every known node, sorted by name.
func (e *env) nodeViews(ctx context.Context) ([]nodeView, model.Ops, error) {
	db, err := e.store.Database(ctx)
	if err != nil {
		return nil, model.Ops{}, err
	}
	up, err := e.store.Nodes(ctx)
	if err != nil {
		return nil, db.Ops, err
	}
	owners, err := e.store.Owners(ctx)
	if err != nil {
		return nil, db.Ops, err
	}
	statuses, err := e.store.GroupStatuses(ctx)
	if err != nil {
		return nil, db.Ops, err
	}
	byName := map[string]*nodeView{}
	add := func(name string) *nodeView {
		if name == "" {
			return nil
		}
		k := strings.ToLower(name)
		if v := byName[k]; v != nil {
			return v
		}
		v := &nodeView{Node: name, State: "Down", Groups: []string{}}
		byName[k] = v
		return v
	}
	for i := range up {
		v := add(up[i].Node)
		v.State, v.Info, v.Draining = "Up", &up[i], up[i].Draining
	}
	for _, g := range db.Groups {
		for _, n := range g.PreferredOwners {
			add(n)
		}
	}
	for _, r := range db.Resources {
		for _, n := range r.PossibleOwners {
			add(n)
		}
	}
	for _, st := range statuses {
		add(st.Owner)
	}
	for n, p := range db.Ops.Paused {
		p := p
		add(n).Paused = &p
	}
	for n, m := range db.Ops.Maintenance.Nodes {
		m := m
		add(n).Maintenance = &m
	}
	for g, o := range owners {
		if v := add(o.Node); v != nil {
			v.Groups = append(v.Groups, g)
		}
	}
	out := make([]nodeView, 0, len(byName))
	for _, v := range byName {
		sort.Strings(v.Groups)
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Node) < strings.ToLower(out[j].Node) })
	return out, db.Ops, nil
}

func cmdNodes(ctx context.Context, e *env, _ []string) error {
	nodes, _, err := e.nodeViews(ctx)
	if err != nil {
		return err
	}
	return e.emit(nodes, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "Node\tState\tGroups\tHost\tPID\tLease\tStarted\tAdmin")
		for _, n := range nodes {
			host, pid, lease, started, adm := "-", "-", "-", "-", "-"
			if i := n.Info; i != nil {
				host, pid, lease, started, adm = orDash(i.Host), fmt.Sprint(i.PID), model.FormatLease(i.Lease), i.Started.Local().Format(time.RFC3339), orDash(i.Admin)
			}
			printf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Node, n.stateLine(), orDash(strings.Join(n.Groups, ", ")), host, pid, lease, started, adm)
		}
	})
}

// nodeByName finds a known node.
func (e *env) nodeByName(ctx context.Context, name string) (nodeView, model.Ops, error) {
	nodes, ops, err := e.nodeViews(ctx)
	if err != nil {
		return nodeView{}, ops, err
	}
	for _, n := range nodes {
		if strings.EqualFold(n.Node, name) {
			return n, ops, nil
		}
	}
	return nodeView{}, ops, fmt.Errorf("%w: node %q (not up, and no group or resource names it)", quorum.ErrNotFound, name)
}

func cmdNode(ctx context.Context, e *env, args []string) error {
	n, _, err := e.nodeByName(ctx, args[0])
	if err != nil {
		return err
	}
	return e.emit(n, func(w *tabwriter.Writer) {
		printf(w, "Node\t%s\nState\t%s\nGroups\t%s\n", n.Node, n.stateLine(), orDash(strings.Join(n.Groups, ", ")))
		if i := n.Info; i != nil {
			printf(w, "Host\t%s\nPID\t%d\nVersion\t%s\nStarted\t%s\nLease\t%s (TTL %s)\nAdmin\t%s\n",
				orDash(i.Host), i.PID, orDash(i.Version), i.Started.Local().Format(time.RFC3339), model.FormatLease(i.Lease), i.TTL, orDash(i.Admin))
		}
		if p := n.Paused; p != nil {
			printf(w, "Paused\tsince %s by %s\n", p.Time.Local().Format(time.RFC3339), orDash(p.By))
		}
		if m := n.Maintenance; m != nil {
			printf(w, "Maintenance\tsince %s by %s %s\n", m.Time.Local().Format(time.RFC3339), orDash(m.By), m.Reason)
		}
	})
}

// cmdMaintenance is `cluster maintenance on|off`, `cluster node NAME
// maintenance on|off` and `cluster group NAME maintenance on|off`.
func cmdMaintenance(ctx context.Context, e *env, scope, name, sw, reason string) error {
	var on bool
	switch strings.ToLower(sw) {
	case "on":
		on = true
	case "off":
	default:
		return usagef("maintenance: %q is neither on nor off", sw)
	}
	subject, what := e.store.Keys().Prefix(), "Cluster maintenance"
	switch scope {
	case "group":
		g, err := e.groupByName(ctx, name)
		if err != nil {
			return err
		}
		name, subject, what = g.Name, g.Name, fmt.Sprintf("Maintenance of group '%s'", g.Name)
	case "node":
		if err := model.ValidName(name); err != nil {
			return usagef("node name %v", err)
		}
		subject, what = name, fmt.Sprintf("Maintenance of node '%s'", name)
	}
	changed, err := e.store.SetMaintenance(ctx, quorum.MaintenanceScope(scope), name, on, model.Mark{By: e.operator(), Reason: reason})
	if err != nil {
		return err
	}
	state := map[bool]string{true: "on", false: "off"}[on]
	if changed {
		msg := scope + " maintenance " + state
		if reason != "" {
			msg += ": " + reason
		}
		e.record(ctx, "maintenance."+state, subject, msg, map[string]string{"scope": scope})
	}
	if e.json {
		return e.emit(map[string]any{"scope": scope, "name": name, "maintenance": on, "changed": changed}, nil)
	}
	switch {
	case !changed:
		printf(e.out, "%s was already %s.\n", what, state)
	case on:
		printf(e.out, "%s is on: the monitor takes no action (no restarts, no moves); resources are left as they are.\n", what)
	default:
		printf(e.out, "%s is off: the monitor watches and acts again.\n", what)
	}
	return nil
}

// pauseFlags are the flags of `cluster node NAME pause`.
type pauseFlags struct {
	wait   time.Duration
	noWait bool
}

// cmdNodePause is `cluster node NAME pause`: the node owns no group and
// takes none; its owner hands each group to the next node (a drain), and
// the command follows until the node owns nothing.
func cmdNodePause(ctx context.Context, e *env, name string, pf pauseFlags) error {
	if pf.wait <= 0 {
		return usagef("node pause: --wait must be greater than 0")
	}
	n, ops, err := e.nodeByName(ctx, name)
	if err != nil {
		return err
	}
	paused, err := e.store.Pause(ctx, model.NodePause{Node: n.Node, By: e.operator(), Groups: n.Groups})
	if err != nil {
		return err
	}
	if paused {
		e.record(ctx, "node.pause", n.Node, fmt.Sprintf("paused; draining %d groups", len(n.Groups)), nil)
	}
	w := e.progress()
	if !paused {
		printf(w, "Node '%s' was already paused.\n", n.Node)
	} else {
		printf(w, "Pausing node '%s': moving its %d groups away...\n", n.Node, len(n.Groups))
	}
	if why := ops.Maintenance.Why("", n.Node); why != "" {
		printf(w, "WARNING: %s is on: nothing moves until it ends.\n", why)
	}
	if pf.noWait {
		return e.emitNode(ctx, n.Node)
	}
	wctx, cancel := waitContext(pf.wait)
	defer cancel()
	watch := e.store.WatchAll(wctx)
	where := map[string]string{}
	for {
		owners, err := e.store.Owners(wctx)
		if err != nil && wctx.Err() == nil {
			return err
		}
		statuses, err := e.store.GroupStatuses(wctx)
		if err != nil && wctx.Err() == nil {
			return err
		}
		left := 0
		for _, g := range n.Groups {
			o, ok := owners[g]
			now := o.Node
			if !ok {
				// Between the handoff and the next owner's take; done
				// only when the handoff named nobody (no node may take it).
				h := statuses[g].Handoff
				if h == nil || h.To != "" {
					left++
					continue
				}
				now = ""
			}
			if strings.EqualFold(now, n.Node) {
				left++
				continue
			}
			if where[g] != now || where[g] == "" {
				where[g] = now
				if now != "" {
					printf(w, "group '%s': now on %s\n", g, now)
				} else {
					printf(w, "group '%s': offline, no other node may take it\n", g)
					where[g] = "-"
				}
			}
		}
		for g, o := range owners {
			if strings.EqualFold(o.Node, n.Node) && !slices.Contains(n.Groups, g) {
				left++
			}
		}
		if left == 0 && err == nil {
			printf(w, "Node '%s' is paused and owns no group.\n", n.Node)
			return e.emitNode(ctx, n.Node)
		}
		if wctx.Err() != nil {
			break
		}
		<-watch
	}
	return fmt.Errorf("node '%s' is paused but still owns groups after %s (maintenance, or slow Offline entry points); `cluster node %s` shows them", n.Node, pf.wait, n.Node)
}

// emitNode prints the node's final view as JSON (tables print progress).
func (e *env) emitNode(ctx context.Context, name string) error {
	if !e.json {
		return nil
	}
	n, _, err := e.nodeByName(ctx, name)
	if err != nil {
		return err
	}
	return e.emit(n, nil)
}

// cmdNodeResume is `cluster node NAME resume [--failback]`: the node may
// own groups again; with --failback the groups the pause drained are moved
// back to it (a move request each, answered by their owners).
func cmdNodeResume(ctx context.Context, e *env, name string, failback bool) error {
	p, err := e.store.Resume(ctx, name)
	if err != nil {
		return err
	}
	e.record(ctx, "node.resume", p.Node, "resumed", map[string]string{"failback": fmt.Sprint(failback)})
	printf(e.progress(), "Node '%s' resumed: it may own groups again.\n", p.Node)
	type moved struct {
		Group   string `json:"group"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	results := []moved{}
	if failback {
		for _, g := range p.Groups {
			req, err := e.store.File(ctx, model.Request{Group: g, Action: model.RequestMove, Node: p.Node, Operator: e.operator()})
			if err != nil {
				results = append(results, moved{g, "failed", err.Error()})
				continue
			}
			e.record(ctx, "group.request", g, "move to "+p.Node+" requested (failback)", map[string]string{"request": req.ID})
			rep, err := e.store.AwaitReply(ctx, req)
			if err != nil {
				results = append(results, moved{g, "failed", err.Error()})
				continue
			}
			results = append(results, moved{g, string(rep.Code), rep.Message})
		}
	}
	if e.json {
		return e.emit(map[string]any{"node": p.Node, "failback": results}, nil)
	}
	for _, r := range results {
		printf(e.out, "failback of group '%s': %s: %s\n", r.Group, r.Code, r.Message)
	}
	return nil
}
