package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// groupView is a group as `cluster groups` and `cluster group NAME` show it:
// the record, its live owner, and what its owner last published.
type groupView struct {
	model.Group
	Owner     string `json:"owner"`
	Token     int64  `json:"fencing_token"`
	State     string `json:"state,omitempty"`
	Desired   string `json:"desired,omitempty"`
	Failovers int    `json:"failovers"` // within the group's FailoverPeriod
	// Threshold is FailoverThreshold resolved: "auto" (-1) means the nodes
	// of the cluster minus one, counted as the monitor counts them (the
	// nodes up and the preferred owners).
	Threshold int `json:"effective_failover_threshold"`
	// Status is the published status as the owner wrote it (absent until
	// a node first owned the group).
	Status *model.GroupStatus `json:"status,omitempty"`
}

func (e *env) groupViews(ctx context.Context) ([]groupView, error) {
	groups, err := e.store.Groups(ctx)
	if err != nil {
		return nil, err
	}
	owners, err := e.store.Owners(ctx)
	if err != nil {
		return nil, err
	}
	statuses, err := e.store.GroupStatuses(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := e.store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]groupView, 0, len(groups))
	for _, g := range groups {
		known := map[string]bool{}
		for _, n := range nodes {
			known[strings.ToLower(n.Node)] = true
		}
		for _, n := range g.Value.PreferredOwners {
			known[strings.ToLower(n)] = true
		}
		v := groupView{Group: g.Value, Threshold: g.Value.EffectiveFailoverThreshold(len(known))}
		if o, ok := owners[g.Value.Name]; ok {
			v.Owner, v.Token = o.Node, o.Token
		}
		if st, ok := statuses[g.Value.Name]; ok {
			v.Status, v.State, v.Desired, v.Failovers = &st, st.State, st.Desired, len(st.Failovers)
		}
		out = append(out, v)
	}
	return out, nil
}

func cmdGroups(ctx context.Context, e *env, _ []string) error {
	views, err := e.groupViews(ctx)
	if err != nil {
		return err
	}
	return e.emit(views, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "Group\tState\tOwner\tToken\tDesired\tFailovers\tPreferred owners")
		for _, v := range views {
			printf(w, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", v.Name, orDash(v.State), orDash(v.Owner), v.Token,
				orDash(v.Desired), v.Failovers, orDash(strings.Join(v.PreferredOwners, ", ")))
		}
	})
}

// cmdGroup is `cluster group NAME`, or an action on the group (actions.go).
func cmdGroup(ctx context.Context, e *env, args []string) error {
	name := args[0]
	views, err := e.groupViews(ctx)
	if err != nil {
		return err
	}
	for _, v := range views {
		if strings.EqualFold(v.Name, name) {
			all, err := e.resourceViews(ctx)
			if err != nil {
				return err
			}
			out := statusGroup{groupView: v, Resources: []resourceView{}}
			for _, r := range all {
				if r.Group == v.Name {
					out.Resources = append(out.Resources, r)
				}
			}
			if db, err := e.store.Database(ctx); err == nil {
				out.Maintenance = db.Ops.Maintenance.Why(v.Name, v.Owner)
			}
			return e.emit(out, func(w *tabwriter.Writer) { printGroupView(w, out) })
		}
	}
	return fmt.Errorf("%w: group %q", quorum.ErrNotFound, name)
}

func printGroupView(w *tabwriter.Writer, v statusGroup) {
	printf(w, "Group\t%s\nState\t%s\nOwner\t%s\nFencing token\t%d\nDesired state\t%s\nFailovers\t%d\nPreferred owners\t%s\n",
		v.Name, orDash(v.State), orDash(v.Owner), v.Token, orDash(v.Desired), v.Failovers, strings.Join(v.PreferredOwners, ", "))
	threshold := fmt.Sprint(v.Threshold)
	if v.FailoverThreshold == model.FailoverThresholdAuto {
		threshold += " (auto: the cluster's nodes − 1)"
	}
	printf(w, "Failover threshold\t%s\nFailover period\t%s\nAuto failback\t%s\nPersistent state\t%v\n",
		threshold, v.FailoverPeriod, v.AutoFailbackType, v.PersistentState)
	if v.Status != nil && v.Status.Message != "" {
		printf(w, "Message\t%s\n", v.Status.Message)
	}
	if v.Status != nil && !v.Status.HeldUntil.IsZero() {
		printf(w, "Next retry\t%s\n", v.Status.HeldUntil.Local().Format(time.RFC3339))
	}
	if v.Maintenance != "" {
		printf(w, "Maintenance\t%s: the monitor takes no action\n", v.Maintenance)
	}
	// A line without a tab ends the tabwriter's column block, so the
	// resources align among themselves, not with the fields above.
	printf(w, "Resources (%d):\n", len(v.Resources))
	for _, r := range v.Resources {
		line := fmt.Sprintf("%s on %s", orDash(r.State), orDash(r.Node))
		if r.Error != "" {
			line += ": " + r.Error
		}
		printf(w, "  %s\t%s\n", r.Name, line)
	}
}

// resourceView is a resource with what its group's owner last published
// about it; the record's fields stay at the top level of the JSON.
type resourceView struct {
	model.Resource
	State    string `json:"state,omitempty"`
	Node     string `json:"node,omitempty"`
	Restarts int    `json:"restarts"`
	Error    string `json:"error,omitempty"`
	// RetryAt is when a Failed resource is tried again.
	RetryAt time.Time `json:"retry_at,omitzero"`
}

func cmdResources(ctx context.Context, e *env, _ []string) error {
	list, err := e.resourceViews(ctx)
	if err != nil {
		return err
	}
	return e.emit(list, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "Resource\tGroup\tState\tOwner\tType\tID")
		for _, r := range list {
			printf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Group, orDash(r.State), orDash(r.Node), r.Type, r.ID)
		}
	})
}
