package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Group and resource actions: `cluster group NAME online|offline|move` and
// `cluster resource NAME online|offline|fail`. Each files a request for the
// owner of the group (quorum.RequestGroup, quorum.RequestResource) and, unless
// -no-wait, follows the published status through an etcd watch until the
// owner has carried the request out, printing the states it passes through.
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

func parseActionFlags(what string, args []string, withNode bool) (actionFlags, error) {
	var af actionFlags
	fs := flag.NewFlagSet(what, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the usage error says what is wrong
	fs.DurationVar(&af.wait, "wait", defaultWait, "how long to follow the status before giving up")
	fs.BoolVar(&af.noWait, "no-wait", false, "file the request and return at once")
	if withNode {
		fs.StringVar(&af.node, "node", "", "the node to move the group to (default: the next preferred owner)")
	}
	if err := fs.Parse(args); err != nil {
		return af, usagef("%s: %v", what, err)
	}
	if fs.NArg() > 0 {
		return af, usagef("%s: unexpected argument %q", what, fs.Arg(0))
	}
	if af.wait <= 0 {
		return af, usagef("%s: -wait must be greater than 0", what)
	}
	return af, nil
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

// follow watches keys from revision after+1 on and hands every change to
// step (value nil for a delete) until step reports done or fails. A watch
// that ends is reported as the context's end (the caller words the timeout)
// or as a lost watch.
func (e *env) follow(ctx context.Context, after int64, keys []string, step func(key string, value []byte) (bool, error)) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	type change struct {
		key   string
		value []byte
		err   error
	}
	changes := make(chan change)
	for _, k := range keys {
		go func() {
			for wr := range e.cli.Watch(wctx, k, clientv3.WithRev(after+1)) {
				if err := wr.Err(); err != nil {
					select {
					case changes <- change{err: err}:
					case <-wctx.Done():
					}
					return
				}
				for _, ev := range wr.Events {
					c := change{key: string(ev.Kv.Key)}
					if ev.Type == clientv3.EventTypePut {
						c.value = ev.Kv.Value
					}
					select {
					case changes <- c:
					case <-wctx.Done():
						return
					}
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-changes:
			if c.err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("watching %s: %v", strings.Join(keys, ", "), c.err)
			}
			if done, err := step(c.key, c.value); done || err != nil {
				return err
			}
		}
	}
}

// waitError words the end of a wait. It does not wrap the context's error:
// a timeout is the operation failing (exit 1), not etcd being unreachable.
func waitError(ctx context.Context, err error, what string, wait time.Duration, last string) error {
	if ctx.Err() == nil {
		return err
	}
	why := fmt.Sprintf("timed out after %s", wait)
	if ctx.Err() == context.Canceled {
		why = "interrupted"
	}
	return fmt.Errorf("%s waiting for %s (last seen: %s); the request stays filed and the owner may still carry it out", why, what, last)
}

// ---- groups ----

// groupActions are the cluster.exe announcements of the group actions.
var groupActions = map[string]string{
	model.RequestOnline:  "Bringing resource group '%s' online...",
	model.RequestOffline: "Taking resource group '%s' offline...",
	model.RequestMove:    "Moving resource group '%s'...",
}

// cmdGroupAction is `cluster group NAME online|offline|move [-node N] [-wait D] [-no-wait]`.
func cmdGroupAction(ctx context.Context, e *env, name string, args []string) error {
	action := args[0]
	announce, ok := groupActions[action]
	if !ok {
		return usagef("group %q: unknown action %q (want online, offline or move)", name, action)
	}
	af, err := parseActionFlags("group "+action, args[1:], action == model.RequestMove)
	if err != nil {
		return err
	}
	g, err := e.groupByName(ctx, name)
	if err != nil {
		return err
	}
	// Read the status before filing, so the watch starts before the owner
	// can possibly answer.
	before, rev, err := readStatus[model.GroupStatus](ctx, e, e.store.Keys().GroupState(g.Name))
	if err != nil {
		return err
	}
	req, err := e.store.RequestGroup(ctx, model.GroupRequest{Group: g.Name, Action: action, Node: af.node})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.progress(), announce+"\n", g.Name)
	if af.noWait {
		return e.emitRequest(req, req.ID)
	}
	wctx, cancel := waitContext(af.wait)
	defer cancel()
	st, err := e.waitGroup(wctx, req, before, rev)
	if err != nil {
		return waitError(wctx, err, fmt.Sprintf("group '%s' (%s)", g.Name, action), af.wait, groupLine(st))
	}
	return e.emit(st, func(*tabwriter.Writer) { printGroupStatusTable(e.out, st) })
}

// groupByName finds a group by its case-insensitive name.
func (e *env) groupByName(ctx context.Context, name string) (model.Group, error) {
	groups, err := e.store.Groups(ctx)
	if err != nil {
		return model.Group{}, err
	}
	for _, g := range groups {
		if strings.EqualFold(g.Value.Name, name) {
			return g.Value, nil
		}
	}
	return model.Group{}, fmt.Errorf("%w: group %q", quorum.ErrNotFound, name)
}

// readStatus reads a published status (zero when there is none, or when
// it is unreadable: the owner rewrites it) and the revision it was read at.
func readStatus[T any](ctx context.Context, e *env, key string) (T, int64, error) {
	var st T
	resp, err := e.cli.Get(ctx, key)
	if err != nil {
		return st, 0, fmt.Errorf("reading %s: %w", key, err)
	}
	if len(resp.Kvs) == 1 {
		_ = json.Unmarshal(resp.Kvs[0].Value, &st)
	}
	return st, resp.Header.Revision, nil
}

// waitGroup follows the group's status from revision rev on until the owner
// has acted on req and the group has reached the end the action wants.
func (e *env) waitGroup(ctx context.Context, req model.GroupRequest, before model.GroupStatus, rev int64) (model.GroupStatus, error) {
	last, printed := before, groupLine(before)
	err := e.follow(ctx, rev, []string{e.store.Keys().GroupState(req.Group)}, func(_ string, value []byte) (bool, error) {
		var st model.GroupStatus
		if value == nil || json.Unmarshal(value, &st) != nil {
			return false, nil
		}
		last = st
		if line := groupLine(st); line != printed {
			printed = line
			fmt.Fprintf(e.progress(), "%s: %s\n", req.Group, line)
		}
		return groupRequestDone(req, before, st)
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

// groupRequestDone reports whether st shows req carried out: the owner
// recorded the request's id, and the group is where the action wants it. A
// refused move is done with the owner's message as the error.
func groupRequestDone(req model.GroupRequest, before, st model.GroupStatus) (bool, error) {
	if st.Request != req.ID {
		return false, nil
	}
	switch req.Action {
	case model.RequestOnline:
		return st.State == "Online", nil
	case model.RequestOffline:
		return st.State == "Offline", nil
	}
	if strings.HasPrefix(st.Message, "move refused") {
		return true, fmt.Errorf("group '%s': %s", req.Group, st.Message)
	}
	if strings.HasPrefix(st.Message, "move: the group is already on") {
		return true, nil // moved to where it is: nothing to do
	}
	if strings.EqualFold(st.Owner, before.Owner) || (req.Node != "" && !strings.EqualFold(st.Owner, req.Node)) {
		return false, nil // still the old owner's tenure (its handoff), or not there yet
	}
	return settled(st), nil
}

// settled reports whether a group has reached what its owner wants of it: a
// moved group comes up online or offline as it was before.
func settled(st model.GroupStatus) bool {
	if st.Desired == model.DesiredOffline {
		return st.State == "Offline"
	}
	return st.State == "Online"
}

// printGroupStatusTable prints the table cluster.exe shows after a group action.
func printGroupStatusTable(w io.Writer, st model.GroupStatus) {
	fmt.Fprintf(w, "\n%-20s %-15s %s\n%s %s %s\n", "Group", "Node", "Status", strings.Repeat("-", 20), strings.Repeat("-", 15), strings.Repeat("-", 6))
	fmt.Fprintf(w, "%-20s %-15s %s\n", st.Group, orDash(st.Owner), orDash(st.State))
	if st.Message != "" {
		fmt.Fprintf(w, "\n%s\n", st.Message)
	}
}

// emitRequest reports a request filed without waiting.
func (e *env) emitRequest(req any, id string) error {
	if e.json {
		return e.emit(req, nil)
	}
	fmt.Fprintf(e.out, "Request %s filed; not waiting for it (-no-wait).\n", id)
	return nil
}

// ---- resources ----

var resourceActions = map[string]string{
	model.RequestOnline:  "Bringing resource '%s' online...",
	model.RequestOffline: "Taking resource '%s' offline...",
	model.RequestFail:    "Failing resource '%s'...",
}

// isResourceAction reports whether a word after `resource NAME` is an action.
func isResourceAction(s string) bool {
	_, ok := resourceActions[s]
	return ok
}

// cmdResourceAction is `cluster resource NAME online|offline|fail [-wait D] [-no-wait]`.
func cmdResourceAction(ctx context.Context, e *env, name string, args []string) error {
	action := args[0]
	af, err := parseActionFlags("resource "+action, args[1:], false)
	if err != nil {
		return err
	}
	r, err := e.store.ResourceByName(ctx, name)
	if err != nil {
		return err
	}
	res := r.Value
	before, rev, err := readStatus[model.ResourceStatus](ctx, e, e.store.Keys().ResourceState(res.ID))
	if err != nil {
		return err
	}
	if action == model.RequestFail && before.State != "Online" {
		// The owner only fails an online resource; waiting would time out.
		return fmt.Errorf("resource '%s' is %s, not Online: only an online resource can be failed", res.Name, orDash(before.State))
	}
	req, err := e.store.RequestResource(ctx, model.ResourceRequest{Resource: res.ID, Action: action})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.progress(), resourceActions[action]+"\n", res.Name)
	if af.noWait {
		return e.emitRequest(req, req.ID)
	}
	wctx, cancel := waitContext(af.wait)
	defer cancel()
	st, err := e.waitResource(wctx, req, res.Name, before, rev)
	if err != nil {
		return waitError(wctx, err, fmt.Sprintf("resource '%s' (%s)", res.Name, action), af.wait, resourceLine(st))
	}
	return e.emit(st, func(*tabwriter.Writer) { printResourceStatusTable(e.out, st) })
}

// waitResource follows the resource's status and its request from revision
// rev on. Resource statuses carry no request id, so "the owner acted" is the
// deletion of the request key; the action is done once that happened and the
// status is where the action wants it. A fail is done as soon as the status
// shows the failure: the resource Failed, or its restart count went up.
func (e *env) waitResource(ctx context.Context, req model.ResourceRequest, name string, before model.ResourceStatus, rev int64) (model.ResourceStatus, error) {
	stateKey, reqKey := e.store.Keys().ResourceState(req.Resource), e.store.ResourceRequestKey(req)
	last, printed, acted := before, resourceLine(before), false
	err := e.follow(ctx, rev, []string{stateKey, reqKey}, func(key string, value []byte) (bool, error) {
		if key == reqKey {
			acted = acted || value == nil
		} else if value != nil {
			var st model.ResourceStatus
			if json.Unmarshal(value, &st) != nil {
				return false, nil
			}
			last = st
			if line := resourceLine(st); line != printed {
				printed = line
				fmt.Fprintf(e.progress(), "%s: %s\n", name, line)
			}
		}
		return resourceRequestDone(req.Action, acted, before, last), nil
	})
	return last, err
}

func resourceRequestDone(action string, acted bool, before, st model.ResourceStatus) bool {
	switch action {
	case model.RequestFail:
		return st.State == "Failed" || st.Restarts > before.Restarts
	case model.RequestOnline:
		return acted && st.State == "Online"
	default:
		return acted && st.State == "Offline"
	}
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
	fmt.Fprintf(w, "\n%-20s %-20s %-15s %s\n%s %s %s %s\n", "Resource", "Group", "Node", "Status",
		strings.Repeat("-", 20), strings.Repeat("-", 20), strings.Repeat("-", 15), strings.Repeat("-", 6))
	fmt.Fprintf(w, "%-20s %-20s %-15s %s\n", st.Name, st.Group, orDash(st.Node), orDash(st.State))
	if st.Error != "" {
		fmt.Fprintf(w, "\n%s\n", st.Error)
	}
}
