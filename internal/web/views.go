package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// The views. Each renders from what etcd holds now; the same function
// serves the first page and every live update of it.
const (
	viewOverview = "overview"
	viewGroup    = "group"
	viewResource = "resource"
	viewEvents   = "events"
)

// ErrView reports a view path the console does not have.
var ErrView = errors.New("web: no such view")

// view is one page of the console: which, of what, with its filters.
type view struct {
	Kind  string
	Name  string     // the group or resource
	Query url.Values // the event filters
}

// Path is the view's address in the console.
func (v view) Path() string {
	switch v.Kind {
	case viewGroup:
		return "/group/" + url.PathEscape(v.Name)
	case viewResource:
		return "/resource/" + url.PathEscape(v.Name)
	case viewEvents:
		if q := v.Query.Encode(); q != "" {
			return "/events?" + q
		}
		return "/events"
	}
	return "/"
}

// parseView reads a view's address, as a live page names it.
func parseView(raw string) (view, error) {
	u, err := url.Parse(raw)
	if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
		return view{}, fmt.Errorf("%w: %q", ErrView, raw)
	}
	switch p := u.Path; {
	case p == "/":
		return view{Kind: viewOverview}, nil
	case p == "/events":
		return view{Kind: viewEvents, Query: u.Query()}, nil
	case strings.HasPrefix(p, "/group/") && len(p) > len("/group/") && !strings.Contains(p[len("/group/"):], "/"):
		return view{Kind: viewGroup, Name: p[len("/group/"):]}, nil
	case strings.HasPrefix(p, "/resource/") && len(p) > len("/resource/") && !strings.Contains(p[len("/resource/"):], "/"):
		return view{Kind: viewResource, Name: p[len("/resource/"):]}, nil
	}
	return view{}, fmt.Errorf("%w: %q", ErrView, raw)
}

// pageData is what the page layout renders.
type pageData struct {
	Title string
	Node  string // the serving node
	ID    identity
	Live  string // the view's path, for live updates; "" for a still page
	Body  string // the template of the page's content
	Data  any
	// Lead is shown above the live region (an action's outcome).
	Lead template.HTML
	// Content is Body rendered (render fills it in).
	Content template.HTML
}

// page serves a view as a whole page.
func (s *Server) page(kind string) func(http.ResponseWriter, *http.Request, identity) {
	return func(w http.ResponseWriter, r *http.Request, id identity) {
		v := view{Kind: kind, Name: r.PathValue("name"), Query: r.URL.Query()}
		title, body, data, err := s.build(r.Context(), id, v)
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, quorum.ErrNotFound) {
				status = http.StatusNotFound
			}
			s.fail(w, r, id, status, "Cannot show "+v.Path(), err)
			return
		}
		s.render(w, http.StatusOK, pageData{Title: title, Node: s.cfg.Node, ID: id, Live: v.Path(), Body: body, Data: data})
	}
}

// build gathers a view's data: its title, body template and data.
func (s *Server) build(ctx context.Context, id identity, v view) (string, string, any, error) {
	sess := s.opsSession(id)
	switch v.Kind {
	case viewOverview:
		d, err := s.overview(ctx, sess, id)
		return "Cluster " + sess.Cluster(), "overview", d, err
	case viewGroup:
		d, err := s.group(ctx, sess, id, v.Name)
		return "Group " + v.Name, "group", d, err
	case viewResource:
		d, err := s.resource(ctx, sess, id, v.Name)
		return "Resource " + v.Name, "resource", d, err
	case viewEvents:
		d, err := s.events(ctx, sess, id, v.Query)
		return "Event log", "events", d, err
	}
	return "", "", nil, fmt.Errorf("%w: %q", ErrView, v.Kind)
}

type overviewData struct {
	ID     identity
	Status ops.ClusterStatus
	Up     int
}

func (s *Server) overview(ctx context.Context, sess ops.Session, id identity) (overviewData, error) {
	st, err := sess.Status(ctx, 10)
	if err != nil {
		return overviewData{}, err
	}
	d := overviewData{ID: id, Status: st}
	for _, n := range st.Nodes {
		if n.State == "Up" {
			d.Up++
		}
	}
	slicesReverse(d.Status.Events)
	return d, nil
}

type groupData struct {
	ID      identity
	Group   ops.StatusGroup
	Graph   graph
	History []quorum.Event
}

func (s *Server) group(ctx context.Context, sess ops.Session, id identity, name string) (groupData, error) {
	g, err := sess.Group(ctx, name)
	if err != nil {
		return groupData{}, err
	}
	d := groupData{ID: id, Group: g, Graph: layoutGraph(g.Resources)}
	subjects := map[string]bool{strings.ToLower(g.Name): true}
	for _, r := range g.Resources {
		subjects[strings.ToLower(r.Name)] = true
	}
	d.History, err = recentEvents(ctx, sess, 25, func(e quorum.Event) bool { return subjects[strings.ToLower(e.Subject)] })
	return d, err
}

type property struct{ Name, Value string }

type resourceData struct {
	ID          identity
	Resource    ops.ResourceView
	Common      []property
	Private     []property
	Checkpoints []ops.CheckpointInfo
	History     []quorum.Event
}

func (s *Server) resource(ctx context.Context, sess ops.Session, id identity, name string) (resourceData, error) {
	r, err := sess.Resource(ctx, name)
	if err != nil {
		return resourceData{}, err
	}
	d := resourceData{ID: id, Resource: r}
	p := r.Properties
	d.Common = []property{
		{"Type", r.Type}, {"Group", r.Group}, {"Id", r.ID},
		{"Possible owners", orAll(r.PossibleOwners)},
		{"Dependencies", dependencies(r.Dependencies)},
		{"Pending timeout", p.PendingTimeout.String()},
		{"Restart action", restartAction(p.RestartAction)},
		{"Restart threshold", strconv.Itoa(p.RestartThreshold)},
		{"Restart period", p.RestartPeriod.String()},
		{"Restart delay", p.RestartDelay.String()},
		{"LooksAlive poll interval", p.LooksAlivePollInterval.String()},
		{"IsAlive poll interval", p.IsAlivePollInterval.String()},
		{"Retry period on failure", p.RetryPeriodOnFailure.String()},
		{"Separate monitor", strconv.FormatBool(p.SeparateMonitor)},
		{"Deadlock timeout", p.DeadlockTimeout.String()},
	}
	keys := make([]string, 0, len(r.Private))
	for k := range r.Private {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.Private = append(d.Private, property{k, privateValue(r.Private[k])})
	}
	rows, err := sess.Checkpoints(ctx, r.Name)
	if err != nil {
		return d, err
	}
	if len(rows) == 1 {
		d.Checkpoints = rows[0].Checkpoints
	}
	d.History, err = recentEvents(ctx, sess, 15, func(e quorum.Event) bool { return strings.EqualFold(e.Subject, r.Name) })
	return d, err
}

// eventFilters are the event log's filters, as its form names them.
var eventFilters = []string{"kind", "subject", "node", "operator"}

type eventsData struct {
	ID      identity
	Filters map[string]string
	Limit   int
	Events  []quorum.Event
	Scanned int
}

// eventScan is how many of the newest events the filters look through.
const eventScan = 5000

func (s *Server) events(ctx context.Context, sess ops.Session, id identity, q url.Values) (eventsData, error) {
	d := eventsData{ID: id, Filters: map[string]string{}, Limit: 100}
	for _, f := range eventFilters {
		d.Filters[f] = strings.TrimSpace(q.Get(f))
	}
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 {
		d.Limit = min(l, 1000)
	}
	match := func(e quorum.Event) bool {
		return contains(e.Kind, d.Filters["kind"]) && contains(e.Subject, d.Filters["subject"]) &&
			contains(e.Node, d.Filters["node"]) && contains(e.Operator, d.Filters["operator"])
	}
	var err error
	d.Events, err = recentEvents(ctx, sess, d.Limit, match)
	return d, err
}

// recentEvents returns up to n of the newest events that match, newest
// first.
func recentEvents(ctx context.Context, sess ops.Session, n int, match func(quorum.Event) bool) ([]quorum.Event, error) {
	all, err := sess.Store.RecentEvents(ctx, eventScan)
	if err != nil {
		return nil, err
	}
	var out []quorum.Event
	for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
		if match(all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

func contains(s, sub string) bool {
	return sub == "" || strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func slicesReverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

func orAll(nodes []string) string {
	if len(nodes) == 0 {
		return "every node"
	}
	return strings.Join(nodes, ", ")
}

func dependencies(deps [][]string) string {
	if len(deps) == 0 {
		return "none"
	}
	var and []string
	for _, or := range deps {
		s := strings.Join(or, " or ")
		if len(or) > 1 {
			s = "(" + s + ")"
		}
		and = append(and, s)
	}
	return strings.Join(and, " and ")
}

func restartAction(a int) string {
	switch a {
	case model.RestartNone:
		return "0: do not restart"
	case model.RestartOnly:
		return "1: restart, no failover"
	case model.RestartThenFailover:
		return "2: restart, then fail the group over"
	}
	return strconv.Itoa(a)
}

func privateValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// render writes the page layout around d.Body, the template of the
// page's content, executed with d.Data.
func (s *Server) render(w http.ResponseWriter, status int, d pageData) {
	var body, page strings.Builder
	err := s.tmpl.ExecuteTemplate(&body, d.Body, d.Data)
	if err == nil {
		d.Content = template.HTML(body.String())
		err = s.tmpl.ExecuteTemplate(&page, "page", d)
	}
	if err != nil {
		s.cfg.Log.Error("rendering a page", "template", d.Body, "error", err)
		http.Error(w, "the page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(page.String()))
}

// fail shows an error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, id identity, status int, title string, err error) {
	s.render(w, status, pageData{Title: title, Node: s.cfg.Node, ID: id, Body: "error", Data: errorData{Title: title, Error: err.Error(), Back: "/"}})
}

type errorData struct {
	Title, Error, Back string
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"clock": func(t time.Time) string { return t.Local().Format("15:04:05") },
	"dash": func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	},
	"join":  func(s []string) string { return strings.Join(s, ", ") },
	"state": stateClass,
	"path":  url.PathEscape,
	"bytes": func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) },
	"lower": strings.ToLower,
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("web: dict takes pairs")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("web: dict key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
	"list": func(s ...string) []string { return s },
}

// stateClass is the CSS class of a state: good, bad, busy or idle. A node
// that is up but paused, stopping or in maintenance (NodeView.StateLine:
// "Up (paused)") is busy; a node down is bad whatever else holds.
func stateClass(state string) string {
	switch s := strings.ToLower(state); {
	case s == "failed" || s == "down" || strings.HasPrefix(s, "down "):
		return "bad"
	case strings.Contains(s, "pending") || strings.Contains(s, "partial") || strings.Contains(s, "paused") || strings.Contains(s, "stopping") || strings.Contains(s, "maintenance"):
		return "busy"
	case s == "online" || s == "up" || strings.HasPrefix(s, "up "):
		return "good"
	}
	return "idle"
}
