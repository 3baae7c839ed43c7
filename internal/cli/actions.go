package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
	"github.com/spf13/cobra"
)

// Group and resource actions: `cluster group NAME online|offline|move` and
// `cluster resource NAME online|offline|fail`. Each files a request for the
// owner of the group (ops.Session.RequestGroup and RequestResource, shared
// with the web console) and, unless -no-wait, waits for the owner's typed
// reply (its result code decides; the message is for people), then follows
// the published status through an etcd watch until the group or resource is
// where the action wants it (ops.GroupRequestDone, ResourceRequestDone),
// printing the states it passes through.
//
// Output: in table mode everything goes to stdout (the announcement, one line
// per state change, the final table), as cluster.exe prints it; with -o json
// stdout holds only the final status and the progress lines go to stderr.

// defaultWait bounds how long an action follows the status; it is separate
// from -timeout, which bounds each etcd call.
const defaultWait = 2 * time.Minute

// actionFlags are the flags every action takes.
type actionFlags struct {
	wait   time.Duration
	noWait bool
	node   string // move only
}

// addActionFlags adds the flags every action takes to cmd.
func addActionFlags(cmd *cobra.Command, af *actionFlags, withNode bool) {
	cmd.Flags().DurationVar(&af.wait, "wait", defaultWait, "how long to follow the status before giving up")
	cmd.Flags().BoolVar(&af.noWait, "no-wait", false, "file the request and return at once")
	if withNode {
		cmd.Flags().StringVar(&af.node, "node", "", "the node to move the group to (default: the next preferred owner)")
	}
}

func (af actionFlags) check(what string) error {
	if af.wait <= 0 {
		return usagef("%s: --wait must be greater than 0", what)
	}
	return nil
}

// progress is where the state lines go: stdout for people, stderr next to
// JSON so that stdout stays one parsable document.
func (e *env) progress() io.Writer {
	if e.json {
		return e.err
	}
	return e.out
}

// waitContext bounds a wait by -wait and ends it on SIGINT or SIGTERM.
func waitContext(d time.Duration) (context.Context, context.CancelFunc) {
	sctx, stop := signalContext()
	ctx, cancel := context.WithTimeout(sctx, d)
	return ctx, func() { cancel(); stop() }
}

// follow hands every value ch delivers to step until step reports done,
// or ctx ends (the caller words the timeout).
func follow[T any](ctx context.Context, ch <-chan T, step func(T) bool) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case v, ok := <-ch:
			if !ok {
				return ctx.Err()
			}
			if step(v) {
				return nil
			}
		}
	}
}

// waitError words the end of a wait truthfully: whether the owner had
// answered, and if not whether the request is still pending. It does not
// wrap the context's error: a timeout is the operation failing (exit 1), not
// etcd being unreachable.
func (e *env) waitError(ctx context.Context, err error, req model.Request, answered bool, what string, wait time.Duration, last string) error {
	if ctx.Err() == nil {
		return err
	}
	why := fmt.Sprintf("timed out after %s", wait)
	if ctx.Err() == context.Canceled {
		why = "interrupted"
	}
	if answered {
		return fmt.Errorf("%s waiting for %s (last seen: %s); the owner accepted the request and is still carrying it out", why, what, last)
	}
	rctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	pending, perr := e.store.Pending(rctx, req)
	switch {
	case perr != nil:
		return fmt.Errorf("%s waiting for the owner to answer %s (last seen: %s); whether the request is still pending could not be read: %v", why, what, last, perr)
	case pending:
		return fmt.Errorf("%s waiting for the owner to answer %s (last seen: %s); the request is still pending: the group's owner carries it out when it can (request %s)", why, what, last, req.ID)
	}
	return fmt.Errorf("%s waiting for %s (last seen: %s); the owner took the request but its answer was not seen", why, what, last)
}

// ---- groups ----

// groupActions are the cluster.exe announcements of the group actions.
var groupActions = map[string]string{
	model.RequestOnline:  "Bringing resource group '%s' online...",
	model.RequestOffline: "Taking resource group '%s' offline...",
	model.RequestMove:    "Moving resource group '%s'...",
	model.RequestCleanup: "Cleaning up resource group '%s'...",
}

// cmdGroupAction is `cluster group NAME online|offline|move|cleanup [--node N] [--wait D] [--no-wait]`.
func cmdGroupAction(ctx context.Context, e *env, name, action string, af actionFlags) error {
	announce := groupActions[action]
	if err := af.check("group " + action); err != nil {
		return err
	}
	f, err := e.session().RequestGroup(ctx, name, action, af.node)
	if err != nil {
		return opsError(err)
	}
	g, req, before := f.Group, f.Request, f.GroupBefore
	printf(e.progress(), announce+"\n", g.Name)
	if af.noWait {
		return e.emitRequest(req, req.ID)
	}
	wctx, cancel := waitContext(af.wait)
	defer cancel()
	rep, err := e.store.AwaitReply(wctx, req)
	if err != nil {
		return e.waitError(wctx, err, req, false, fmt.Sprintf("group '%s' (%s)", g.Name, action), af.wait, groupLine(before))
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("group '%s': %s %s: %s", g.Name, action, rep.Code, rep.Message)
	}
	st, err := e.waitGroup(wctx, req, rep, before)
	if err != nil {
		return e.waitError(wctx, err, req, true, fmt.Sprintf("group '%s' (%s)", g.Name, action), af.wait, groupLine(st))
	}
	return e.emit(st, func(*tabwriter.Writer) { printGroupStatusTable(e.out, st, rep) })
}

// waitGroup follows the group's status, once the owner accepted req, until
// the group is where the action wants it.
func (e *env) waitGroup(ctx context.Context, req model.Request, rep model.Reply, before model.GroupStatus) (model.GroupStatus, error) {
	st, rev, err := e.store.ReadGroupStatus(ctx, req.Group)
	if err != nil {
		return before, err
	}
	printed := groupLine(before)
	show := func(st model.GroupStatus) {
		if line := groupLine(st); line != printed {
			printed = line
			printf(e.progress(), "%s: %s\n", req.Group, line)
		}
	}
	show(st)
	if ops.GroupRequestDone(req, rep, before, st) {
		return st, nil
	}
	last := st
	err = follow(ctx, e.store.WatchGroupStatus(ctx, req.Group, rev), func(st model.GroupStatus) bool {
		last = st
		show(st)
		return ops.GroupRequestDone(req, rep, before, st)
	})
	return last, err
}

// groupLine is how a status shows in a progress line.
func groupLine(st model.GroupStatus) string {
	if st.State == "" {
		return "no status published"
	}
	return fmt.Sprintf("%s on %s", st.State, orDash(st.Owner))
}

// printGroupStatusTable prints the table cluster.exe shows after a group
// action, with the owner's answer.
func printGroupStatusTable(w io.Writer, st model.GroupStatus, rep model.Reply) {
	printf(w, "\n%-20s %-15s %s\n%s %s %s\n", "Group", "Owner", "State", strings.Repeat("-", 20), strings.Repeat("-", 15), strings.Repeat("-", 6))
	printf(w, "%-20s %-15s %s\n", st.Group, orDash(st.Owner), orDash(st.State))
	if rep.Message != "" {
		printf(w, "\n%s (%s, answered by %s)\n", rep.Message, rep.Code, rep.Node)
	}
}

// emitRequest reports a request filed without waiting.
func (e *env) emitRequest(req any, id string) error {
	if e.json {
		return e.emit(req, nil)
	}
	printf(e.out, "Request %s filed; not waiting for it (-no-wait).\n", id)
	return nil
}

// ---- resources ----

var resourceActions = map[string]string{
	model.RequestOnline:  "Bringing resource '%s' online...",
	model.RequestOffline: "Taking resource '%s' offline...",
	model.RequestFail:    "Failing resource '%s'...",
	model.RequestCleanup: "Cleaning up resource '%s'...",
}

// cmdResourceAction is `cluster resource NAME online|offline|fail|cleanup [--wait D] [--no-wait]`.
func cmdResourceAction(ctx context.Context, e *env, name, action string, af actionFlags) error {
	if err := af.check("resource " + action); err != nil {
		return err
	}
	f, err := e.session().RequestResource(ctx, name, action)
	if err != nil {
		return opsError(err)
	}
	res, req, before := f.Resource, f.Request, f.ResourceBefore
	printf(e.progress(), resourceActions[action]+"\n", res.Name)
	if af.noWait {
		return e.emitRequest(req, req.ID)
	}
	wctx, cancel := waitContext(af.wait)
	defer cancel()
	what := fmt.Sprintf("resource '%s' (%s)", res.Name, action)
	rep, err := e.store.AwaitReply(wctx, req)
	if err != nil {
		return e.waitError(wctx, err, req, false, what, af.wait, resourceLine(before))
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("resource '%s': %s %s: %s", res.Name, action, rep.Code, rep.Message)
	}
	st, err := e.waitResource(wctx, req, res.Name, before)
	if err != nil {
		return e.waitError(wctx, err, req, true, what, af.wait, resourceLine(st))
	}
	return e.emit(st, func(*tabwriter.Writer) { printResourceStatusTable(e.out, st) })
}

// waitResource follows the resource's status, once the owner accepted req,
// until it is where the action wants it. A fail is done as soon as the
// status shows the failure: the resource Failed, or its restart count went
// up.
func (e *env) waitResource(ctx context.Context, req model.Request, name string, before model.ResourceStatus) (model.ResourceStatus, error) {
	st, rev, err := e.store.ReadResourceStatus(ctx, req.Resource)
	if err != nil {
		return before, err
	}
	printed := resourceLine(before)
	show := func(st model.ResourceStatus) {
		if line := resourceLine(st); line != printed {
			printed = line
			printf(e.progress(), "%s: %s\n", name, line)
		}
	}
	show(st)
	if ops.ResourceRequestDone(req.Action, before, st) {
		return st, nil
	}
	last := st
	err = follow(ctx, e.store.WatchResourceStatus(ctx, req.Resource, rev), func(st model.ResourceStatus) bool {
		last = st
		show(st)
		return ops.ResourceRequestDone(req.Action, before, st)
	})
	return last, err
}

func resourceLine(st model.ResourceStatus) string {
	if st.State == "" {
		return "no status published"
	}
	line := fmt.Sprintf("%s on %s", st.State, orDash(st.Node))
	if st.Restarts > 0 {
		line += fmt.Sprintf(" (%d restarts)", st.Restarts)
	}
	return line
}

// printResourceStatusTable prints the table cluster.exe shows after a resource action.
func printResourceStatusTable(w io.Writer, st model.ResourceStatus) {
	printf(w, "\n%-20s %-20s %-15s %s\n%s %s %s %s\n", "Resource", "Group", "Node", "State",
		strings.Repeat("-", 20), strings.Repeat("-", 20), strings.Repeat("-", 15), strings.Repeat("-", 6))
	printf(w, "%-20s %-20s %-15s %s\n", st.Name, st.Group, orDash(st.Node), orDash(st.State))
	if st.Error != "" {
		printf(w, "\n%s\n", st.Error)
	}
}
