package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/internal/ops"
)

// `cluster status`: the whole cluster on one screen, as `pcs status` and
// crm_mon show a Pacemaker cluster. --watch redraws it from etcd watches
// (Store.WatchAll), never by polling.

type statusFlags struct {
	watch  bool
	events int
}

// printStatus writes the status for people.
func printStatus(out io.Writer, st ops.ClusterStatus) {
	q := st.Quorum
	health := "healthy"
	if !q.Healthy {
		health = "NOT HEALTHY"
		if q.Error != "" {
			health += ": " + q.Error
		}
	}
	printf(out, "Cluster %s at %s\n", st.Cluster, st.Time.Local().Format("2006-01-02 15:04:05"))
	if m := st.Maintenance; m != nil {
		printf(out, "MAINTENANCE: the monitor takes no action (since %s, by %s%s)\n", m.Time.Local().Format(time.RFC3339), orDash(m.By), reasonSuffix(m.Reason))
	}
	var members []string
	for _, m := range q.Members {
		s := m.Name
		switch {
		case m.Leader:
			s += " (leader)"
		case !m.Healthy:
			s += " (unreachable)"
		}
		members = append(members, s)
	}
	printf(out, "Quorum: etcd %s, %d members: %s\n", health, len(q.Members), strings.Join(members, ", "))
	for _, a := range q.Alarms {
		printf(out, "  ALARM %s\n", a)
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nNode\tState\tGroups")
	for _, n := range st.Nodes {
		printf(tw, "%s\t%s\t%s\n", n.Node, n.StateLine(), orDash(strings.Join(n.Groups, ", ")))
	}
	tw.Flush()
	tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nGroup / Resource\tState\tOwner\tToken\tWhy")
	for _, g := range st.Groups {
		why := g.Maintenance
		if why != "" {
			why = "maintenance: " + why
		} else if g.Status != nil {
			why = g.Status.Message
			if !g.Status.HeldUntil.IsZero() {
				why += fmt.Sprintf(" (next retry %s)", g.Status.HeldUntil.Local().Format(time.RFC3339))
			}
		}
		printf(tw, "%s\t%s\t%s\t%d\t%s\n", g.Name, orDash(g.State), orDash(g.Owner), g.Token, orDash(why))
		for _, r := range g.Resources {
			why := r.Error
			if !r.RetryAt.IsZero() {
				why += fmt.Sprintf(" (next retry %s)", r.RetryAt.Local().Format(time.RFC3339))
			}
			if r.Restarts > 0 {
				why = strings.TrimSpace(fmt.Sprintf("%d restarts; %s", r.Restarts, why))
			}
			printf(tw, "  %s\t%s\t%s\t\t%s\n", r.Name, orDash(r.State), orDash(r.Node), orDash(strings.TrimSpace(why)))
		}
	}
	tw.Flush()
	if len(st.Events) > 0 {
		fmt.Fprintln(out, "\nRecent events:")
		for _, ev := range st.Events {
			msg := ev.Message
			if ev.Operator != "" {
				msg += " [operator " + ev.Operator + "]"
			}
			printf(out, "  %s  %-8s %-20s %s: %s\n", ev.Time.Local().Format("15:04:05"), orDash(ev.Node), ev.Kind, ev.Subject, msg)
		}
	}
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// cmdStatus is `cluster status [--watch]`.
func cmdStatus(ctx context.Context, e *env, sf statusFlags) error {
	show := func(ctx context.Context) error {
		st, err := e.session().Status(ctx, sf.events)
		if err != nil {
			return err
		}
		if e.json {
			return e.emit(st, nil)
		}
		var b bytes.Buffer
		if sf.watch {
			b.WriteString("\x1b[H\x1b[2J") // home, clear: one screen, redrawn
		}
		printStatus(&b, st)
		_, err = e.out.Write(b.Bytes())
		return err
	}
	if !sf.watch {
		return show(ctx)
	}
	wctx, stop := signalContext()
	defer stop()
	changes := e.store.WatchAll(wctx)
	for {
		rctx, cancel := context.WithTimeout(wctx, e.timeout)
		err := show(rctx)
		cancel()
		if err != nil && wctx.Err() == nil {
			fmt.Fprintf(e.err, "cluster: status: %v\n", err)
		}
		select {
		case <-wctx.Done():
			return nil
		case _, ok := <-changes:
			if !ok {
				return nil
			}
		}
		// Let a burst of changes (a move writes several keys) settle
		// into one redraw.
		select {
		case <-time.After(100 * time.Millisecond):
		case <-wctx.Done():
			return nil
		}
		select {
		case <-changes:
		default:
		}
	}
}
