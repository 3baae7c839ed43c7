package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
)

func cmdGroups(ctx context.Context, e *env, _ []string) error {
	views, err := e.session().Groups(ctx)
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
	g, err := e.session().Group(ctx, args[0])
	if err != nil {
		return err
	}
	return e.emit(g, func(w *tabwriter.Writer) { printGroupView(w, g) })
}

func printGroupView(w *tabwriter.Writer, v ops.StatusGroup) {
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

func cmdResources(ctx context.Context, e *env, _ []string) error {
	list, err := e.session().Resources(ctx)
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
