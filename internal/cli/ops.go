package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
)

// Day-2 operations on nodes and the cluster: the node list (up, down,
// paused), maintenance, pause and resume. The monitor's side of each is a
// fact in monitor.Facts (see monitor/decide.go); these commands write the
// operations state in etcd and follow what the owners do about it.

func cmdNodes(ctx context.Context, e *env, _ []string) error {
	nodes, _, err := e.session().Nodes(ctx)
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
			printf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Node, n.StateLine(), orDash(strings.Join(n.Groups, ", ")), host, pid, lease, started, adm)
		}
	})
}

func cmdNode(ctx context.Context, e *env, args []string) error {
	n, _, err := e.session().NodeByName(ctx, args[0])
	if err != nil {
		return err
	}
	return e.emit(n, func(w *tabwriter.Writer) {
		printf(w, "Node\t%s\nState\t%s\nGroups\t%s\n", n.Node, n.StateLine(), orDash(strings.Join(n.Groups, ", ")))
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
	name, changed, err := e.session().SetMaintenance(ctx, scope, name, on, reason)
	if err != nil {
		return opsError(err)
	}
	state := map[bool]string{true: "on", false: "off"}[on]
	what := "Cluster maintenance"
	if scope != ops.ScopeCluster {
		what = fmt.Sprintf("Maintenance of %s '%s'", scope, name)
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
	n, paused, state, err := e.session().Pause(ctx, name)
	if err != nil {
		return err
	}
	w := e.progress()
	if !paused {
		printf(w, "Node '%s' was already paused.\n", n.Node)
	} else {
		printf(w, "Pausing node '%s': moving its %d groups away...\n", n.Node, len(n.Groups))
	}
	if why := state.Maintenance.Why("", n.Node); why != "" {
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
	n, _, err := e.session().NodeByName(ctx, name)
	if err != nil {
		return err
	}
	return e.emit(n, nil)
}

// cmdNodeResume is `cluster node NAME resume [--failback]`: the node may
// own groups again; with --failback the groups the pause drained are moved
// back to it (a move request each, answered by their owners).
func cmdNodeResume(ctx context.Context, e *env, name string, failback bool) error {
	s := e.session()
	p, err := s.Resume(ctx, name, failback)
	if err != nil {
		return err
	}
	printf(e.progress(), "Node '%s' resumed: it may own groups again.\n", p.Node)
	type moved struct {
		Group   string `json:"group"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	results := []moved{}
	if failback {
		// One group at a time: a group that cannot be moved back (deleted
		// meanwhile) does not keep the others where they are.
		for _, g := range p.Groups {
			reqs, err := s.FailBack(ctx, model.NodePause{Node: p.Node, Groups: []string{g}})
			if err != nil {
				if inner := errors.Unwrap(err); inner != nil {
					err = inner // the group is named in the result
				}
				results = append(results, moved{g, "failed", err.Error()})
				continue
			}
			rep, err := e.store.AwaitReply(ctx, reqs[0])
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
