package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// An action is asked for in two steps, as a careful operator wants: a
// link opens a confirmation page (GET /confirm, which changes nothing),
// whose form posts the action (POST /act). Both take the same fields.

// ErrAction reports an action the console does not have.
var ErrAction = errors.New("web: no such action")

// action is one operator action: what it acts on and what it does.
type action struct {
	On     string // cluster, node, group or resource
	Name   string
	Do     string // online, offline, move, cleanup, fail, maintenance-on, maintenance-off, pause, resume, recover
	Node   string // a move's target ("" for the best node)
	Reason string // a maintenance's reason
	// Failback moves a resumed node's drained groups back to it.
	Failback bool
}

// actionsOf are the actions of each kind of subject.
var actionsOf = map[string][]string{
	"cluster":  {"maintenance-on", "maintenance-off"},
	"node":     {"pause", "resume", "maintenance-on", "maintenance-off"},
	"group":    {model.RequestOnline, model.RequestOffline, model.RequestMove, model.RequestCleanup, "maintenance-on", "maintenance-off"},
	"resource": {model.RequestOnline, model.RequestOffline, model.RequestCleanup, model.RequestFail, "recover"},
}

// parseAction reads an action from a form (or a confirmation link).
func parseAction(f url.Values) (action, error) {
	a := action{On: f.Get("on"), Name: strings.TrimSpace(f.Get("name")), Do: f.Get("do"),
		Node: strings.TrimSpace(f.Get("node")), Reason: strings.TrimSpace(f.Get("reason")), Failback: f.Get("failback") == "on"}
	dos, ok := actionsOf[a.On]
	switch {
	case !ok:
		return a, fmt.Errorf("%w: %q is not something the console acts on (cluster, node, group or resource)", ErrAction, a.On)
	case !slices.Contains(dos, a.Do):
		return a, fmt.Errorf("%w: a %s cannot %q (it can %s)", ErrAction, a.On, a.Do, strings.Join(dos, ", "))
	case a.On != "cluster" && a.Name == "":
		return a, fmt.Errorf("%w: which %s? (name is empty)", ErrAction, a.On)
	case a.On == "cluster" && a.Name != "":
		return a, fmt.Errorf("%w: the cluster action takes no name", ErrAction)
	case a.Node != "" && a.Do != model.RequestMove:
		return a, fmt.Errorf("%w: only a move names a node", ErrAction)
	case len(a.Reason) > 500:
		return a, fmt.Errorf("%w: the reason is longer than 500 characters", ErrAction)
	}
	for _, s := range []string{a.Name, a.Node} {
		if s != "" {
			if err := model.ValidName(s); err != nil {
				return a, fmt.Errorf("%w: %v", ErrAction, err)
			}
		}
	}
	return a, nil
}

// Title says what the action does, for the confirmation and the result.
func (a action) Title() string {
	subject := a.On + " '" + a.Name + "'"
	if a.On == "cluster" {
		subject = "the cluster"
	}
	switch a.Do {
	case model.RequestOnline:
		return "Bring " + subject + " online"
	case model.RequestOffline:
		return "Take " + subject + " offline"
	case model.RequestMove:
		return "Move " + subject
	case model.RequestCleanup:
		return "Clean up " + subject + " (reset its failure counts and bans)"
	case model.RequestFail:
		return "Fail " + subject + " (as if its health check failed)"
	case "maintenance-on":
		return "Put " + subject + " in maintenance (the monitor takes no action)"
	case "maintenance-off":
		return "End the maintenance of " + subject
	case "pause":
		return "Pause " + subject + " (move its groups away; it takes none)"
	case "resume":
		return "Resume " + subject
	case "recover":
		return "Recover the checkpoints of " + subject + " from its owner's registry"
	}
	return a.Do + " " + subject
}

// Subject is the page of what the action acts on.
func (a action) Subject() string {
	switch a.On {
	case "group":
		return view{Kind: viewGroup, Name: a.Name}.Path()
	case "resource":
		return view{Kind: viewResource, Name: a.Name}.Path()
	}
	return "/"
}

type confirmData struct {
	ID     identity
	Action action
	Nodes  []ops.NodeView // a move's choices
}

// confirm shows what an action will do and asks to go on.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request, id identity) {
	a, err := parseAction(r.URL.Query())
	if err != nil {
		s.fail(w, r, id, http.StatusBadRequest, "Unknown action", err)
		return
	}
	d := confirmData{ID: id, Action: a}
	if a.Do == model.RequestMove {
		nodes, _, err := s.opsSession(id).Nodes(r.Context())
		if err != nil {
			s.fail(w, r, id, http.StatusInternalServerError, a.Title(), err)
			return
		}
		for _, n := range nodes {
			if n.State == "Up" && n.Paused == nil {
				d.Nodes = append(d.Nodes, n)
			}
		}
	}
	status := http.StatusOK
	if !id.Admin() {
		status = http.StatusForbidden
	}
	s.render(w, status, pageData{Title: a.Title(), Node: s.cfg.Node, ID: id, Body: "confirm", Data: d})
}

type resultData struct {
	ID      identity
	Action  action
	OK      bool
	Message string
	// Live is the subject's view, followed while the action proceeds.
	Live string
}

// act carries out a confirmed action through internal/ops, as the CLI
// does, and shows the owner's answer; the page then follows the subject
// live.
func (s *Server) act(w http.ResponseWriter, r *http.Request, id identity) {
	if err := checkPost(r, id); err != nil {
		s.fail(w, r, id, http.StatusForbidden, "Refused", err)
		return
	}
	if !id.Admin() {
		s.cfg.Log.Warn("console action refused", "operator", id.Operator, "role", id.Role, "action", r.PostForm.Get("do"))
		s.fail(w, r, id, http.StatusForbidden, "Refused", fmt.Errorf("%w: %s is a %s", ErrForbidden, id.Operator, id.Role))
		return
	}
	a, err := parseAction(r.PostForm)
	if err != nil {
		s.fail(w, r, id, http.StatusBadRequest, "Unknown action", err)
		return
	}
	msg, err := s.carryOut(r.Context(), s.opsSession(id), a)
	d := resultData{ID: id, Action: a, OK: err == nil, Message: msg, Live: a.Subject()}
	status := http.StatusOK
	if err != nil {
		d.Message = err.Error()
		status = http.StatusConflict
		switch {
		case errors.Is(err, quorum.ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(err, ops.ErrUsage):
			status = http.StatusBadRequest
		}
	}
	s.cfg.Log.Info("console action", "operator", id.Operator, "action", a.Do, "on", a.On, "name", a.Name, "ok", d.OK, "message", d.Message)
	// The outcome leads; the subject's page follows below, live.
	var lead strings.Builder
	if err := s.tmpl.ExecuteTemplate(&lead, "result", d); err != nil {
		s.fail(w, r, id, http.StatusInternalServerError, a.Title(), err)
		return
	}
	v, _ := parseView(d.Live)
	_, body, data, err := s.build(r.Context(), id, v)
	if err != nil {
		body, data = "error", errorData{Title: a.Title(), Error: err.Error()}
	}
	s.render(w, status, pageData{Title: a.Title(), Node: s.cfg.Node, ID: id, Live: d.Live, Lead: template.HTML(lead.String()), Body: body, Data: data})
}

// carryOut does a and words the outcome.
func (s *Server) carryOut(ctx context.Context, sess ops.Session, a action) (string, error) {
	switch a.Do {
	case "maintenance-on", "maintenance-off":
		on := a.Do == "maintenance-on"
		_, changed, err := sess.SetMaintenance(ctx, a.On, a.Name, on, a.Reason)
		switch {
		case err != nil:
			return "", err
		case !changed:
			return "Nothing changed: it was already so.", nil
		case on:
			return "Maintenance is on: the monitor takes no action (no restarts, no moves); resources are left as they are.", nil
		}
		return "Maintenance is off: the monitor watches and acts again.", nil
	case "pause":
		n, paused, opsState, err := sess.Pause(ctx, a.Name)
		if err != nil {
			return "", err
		}
		msg := fmt.Sprintf("Node '%s' is paused: its %d groups move to other nodes.", n.Node, len(n.Groups))
		if !paused {
			msg = fmt.Sprintf("Node '%s' was already paused.", n.Node)
		}
		if why := opsState.Maintenance.Why("", n.Node); why != "" {
			msg += " " + why + " is on: nothing moves until it ends."
		}
		return msg, nil
	case "resume":
		p, err := sess.Resume(ctx, a.Name, a.Failback)
		if err != nil {
			return "", err
		}
		msg := fmt.Sprintf("Node '%s' resumed: it may own groups again.", p.Node)
		if a.Failback {
			reqs, err := sess.FailBack(ctx, p)
			msg += fmt.Sprintf(" Moves back filed for %d of %d groups.", len(reqs), len(p.Groups))
			if err != nil {
				return msg, err
			}
		}
		return msg, nil
	case "recover":
		results, err := sess.Recover(ctx, a.Name)
		if err != nil {
			return "", err
		}
		var parts []string
		for _, r := range results {
			switch {
			case r.Error != "":
				return "", fmt.Errorf("resource '%s': %s", r.Resource, r.Error)
			case len(r.Checkpoints) == 0:
				parts = append(parts, fmt.Sprintf("resource '%s' has no checkpoints", r.Resource))
			default:
				parts = append(parts, fmt.Sprintf("re-created %d checkpoint(s) of '%s' from the registry of node %s", len(r.Checkpoints), r.Resource, r.Node))
			}
		}
		return strings.Join(parts, "; ") + ".", nil
	}
	var f ops.Filed
	var err error
	if a.On == "group" {
		f, err = sess.RequestGroup(ctx, a.Name, a.Do, a.Node)
	} else {
		f, err = sess.RequestResource(ctx, a.Name, a.Do)
	}
	if err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ActionWait)
	defer cancel()
	rep, err := sess.Store.AwaitReply(wctx, f.Request)
	if err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			return fmt.Sprintf("Request %s is filed; the owner of group '%s' has not answered within %s (it carries it out when it can). The page below follows it.", f.Request.ID, f.Request.Group, s.cfg.ActionWait), nil
		}
		return "", err
	}
	if err := rep.Err(); err != nil {
		return "", fmt.Errorf("%s, answered by %s: %s", rep.Code, rep.Node, rep.Message)
	}
	return fmt.Sprintf("Accepted by %s (%s): %s. The page below follows it.", rep.Node, rep.Code, strings.TrimSuffix(rep.Message, ".")), nil
}
