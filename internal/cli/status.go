package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// `cluster status`: the whole cluster on one screen, as `pcs status` and
// crm_mon show a Pacemaker cluster. --watch redraws it from etcd watches
// (Store.WatchAll), never by polling.

type statusFlags struct {
	watch  bool
	events int
}

// quorumView is etcd's health as the CLI sees it.
type quorumView struct {
	Healthy bool           `json:"healthy"`
	Leader  string         `json:"leader,omitempty"`
	Members []memberHealth `json:"members"`
	Alarms  []string       `json:"alarms,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// memberHealth is one etcd member.
type memberHealth struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint,omitempty"`
	Healthy  bool   `json:"healthy"`
	Leader   bool   `json:"leader,omitempty"`
	Version  string `json:"version,omitempty"`
	DBSize   int64  `json:"db_size,omitempty"`
	Error    string `json:"error,omitempty"`
}

// statusGroup is a group with its resources, for status.
type statusGroup struct {
	groupView
	Maintenance string         `json:"maintenance,omitempty"`
	Resources   []resourceView `json:"resources"`
}

// clusterStatus is everything `cluster status` shows.
type clusterStatus struct {
	Cluster     string         `json:"cluster"`
	Time        time.Time      `json:"time"`
	Quorum      quorumView     `json:"quorum"`
	Maintenance *model.Mark    `json:"maintenance,omitempty"`
	Nodes       []nodeView     `json:"nodes"`
	Groups      []statusGroup  `json:"groups"`
	Events      []quorum.Event `json:"events"`
}

// quorumHealth asks every etcd member for its status.
func (e *env) quorumHealth(ctx context.Context) quorumView {
	var q quorumView
	ml, err := e.cli.MemberList(ctx)
	if err != nil {
		q.Error = err.Error()
		return q
	}
	var leader uint64
	for _, m := range ml.Members {
		mh := memberHealth{Name: m.Name}
		if len(m.ClientURLs) > 0 {
			mh.Endpoint = m.ClientURLs[0]
		}
		if mh.Endpoint != "" {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := e.cli.Status(sctx, mh.Endpoint)
			cancel()
			if err != nil {
				mh.Error = err.Error()
			} else {
				mh.Healthy, mh.Version, mh.DBSize = true, st.Version, st.DbSize
				if len(st.Errors) > 0 {
					mh.Error = strings.Join(st.Errors, "; ")
				}
				leader = st.Leader
			}
		}
		q.Members = append(q.Members, mh)
	}
	healthy := 0
	for i, m := range ml.Members {
		if m.ID == leader {
			q.Members[i].Leader, q.Leader = true, m.Name
		}
		if q.Members[i].Healthy {
			healthy++
		}
	}
	if al, err := e.cli.AlarmList(ctx); err == nil {
		for _, a := range al.Alarms {
			q.Alarms = append(q.Alarms, fmt.Sprintf("%s on member %x", a.Alarm, a.MemberID))
		}
	}
	q.Healthy = leader != 0 && healthy*2 > len(ml.Members) && len(q.Alarms) == 0
	return q
}

// readStatus gathers the status.
func (e *env) readStatus(ctx context.Context, events int) (clusterStatus, error) {
	st := clusterStatus{Cluster: strings.TrimSuffix(strings.TrimPrefix(e.store.Keys().Prefix(), quorum.Root), "/"), Time: time.Now(), Quorum: e.quorumHealth(ctx)}
	nodes, ops, err := e.nodeViews(ctx)
	if err != nil {
		return st, err
	}
	st.Nodes, st.Maintenance = nodes, ops.Maintenance.Cluster
	views, err := e.groupViews(ctx)
	if err != nil {
		return st, err
	}
	resources, err := e.resourceViews(ctx)
	if err != nil {
		return st, err
	}
	for _, v := range views {
		sg := statusGroup{groupView: v, Resources: []resourceView{}}
		sg.Maintenance = ops.Maintenance.Why(v.Name, v.Owner)
		for _, r := range resources {
			if r.Group == v.Name {
				sg.Resources = append(sg.Resources, r)
			}
		}
		st.Groups = append(st.Groups, sg)
	}
	if st.Events, err = e.store.RecentEvents(ctx, events); err != nil {
		return st, err
	}
	if st.Events == nil {
		st.Events = []quorum.Event{}
	}
	return st, nil
}

// printStatus writes the status for people.
func printStatus(out io.Writer, st clusterStatus) {
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
		printf(tw, "%s\t%s\t%s\n", n.Node, n.stateLine(), orDash(strings.Join(n.Groups, ", ")))
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
		st, err := e.readStatus(ctx, sf.events)
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

// resourceViews lists every resource with its published status, by name.
func (e *env) resourceViews(ctx context.Context) ([]resourceView, error) {
	rs, err := e.store.Resources(ctx)
	if err != nil {
		return nil, err
	}
	statuses, err := e.store.ResourceStatuses(ctx)
	if err != nil {
		return nil, err
	}
	list := make([]resourceView, len(rs))
	for i, r := range rs {
		st := statuses[r.Value.ID]
		list[i] = resourceView{Resource: r.Value, State: st.State, Node: st.Node, Restarts: st.Restarts, Error: st.Error, RetryAt: st.RetryAt}
	}
	sort.Slice(list, func(i, j int) bool { return strings.ToLower(list[i].Name) < strings.ToLower(list[j].Name) })
	return list, nil
}
