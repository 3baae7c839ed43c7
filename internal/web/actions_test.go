package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/pki"
)

func TestParseAction(t *testing.T) {
	long := strings.Repeat("x", 501)
	for _, c := range []struct {
		query string
		want  action // when accepted
		err   string // a part of the refusal
	}{
		{"on=group&name=onyone&do=online", action{On: "group", Name: "onyone", Do: "online"}, ""},
		{"on=group&name=+onyone+&do=move&node=node2", action{On: "group", Name: "onyone", Do: "move", Node: "node2"}, ""},
		{"on=group&name=onyone&do=move", action{On: "group", Name: "onyone", Do: "move"}, ""},
		{"on=group&name=onyone&do=maintenance-on&reason=disk+swap", action{On: "group", Name: "onyone", Do: "maintenance-on", Reason: "disk swap"}, ""},
		{"on=cluster&do=maintenance-off", action{On: "cluster", Do: "maintenance-off"}, ""},
		{"on=node&name=node1&do=resume&failback=on", action{On: "node", Name: "node1", Do: "resume", Failback: true}, ""},
		{"on=resource&name=Network+Name+DATA&do=fail", action{On: "resource", Name: "Network Name DATA", Do: "fail"}, ""},
		{"on=resource&name=x&do=recover", action{On: "resource", Name: "x", Do: "recover"}, ""},
		{"on=group&name=onyone&do=maintenance-on&reason=" + strings.Repeat("r", 500), action{On: "group", Name: "onyone", Do: "maintenance-on", Reason: strings.Repeat("r", 500)}, ""},

		{"", action{}, "is not something the console acts on"},
		{"on=planet&name=x&do=online", action{}, `"planet" is not something`},
		{"on=Group&name=x&do=online", action{}, "is not something"},
		{"on=group&name=onyone&do=explode", action{}, `a group cannot "explode"`},
		{"on=group&name=onyone&do=fail", action{}, `a group cannot "fail"`},
		{"on=resource&name=x&do=move", action{}, `a resource cannot "move"`},
		{"on=cluster&do=pause", action{}, `a cluster cannot "pause"`},
		{"on=node&name=node1&do=online", action{}, `a node cannot "online"`},
		{"on=group&do=online", action{}, "which group? (name is empty)"},
		{"on=group&name=+++&do=online", action{}, "name is empty"},
		{"on=resource&do=cleanup", action{}, "which resource?"},
		{"on=cluster&name=x&do=maintenance-on", action{}, "takes no name"},
		{"on=group&name=onyone&do=online&node=node2", action{}, "only a move names a node"},
		{"on=node&name=node1&do=pause&node=node2", action{}, "only a move names a node"},
		{"on=group&name=onyone&do=maintenance-on&reason=" + long, action{}, "longer than 500"},
		{"on=group&name=a%00b&do=online", action{}, "control characters"},
		{"on=group&name=a%0Ab&do=online", action{}, "control characters"},
		{"on=group&name=a%2Fb&do=online", action{}, "must not contain '/'"},
		{"on=group&name=onyone&do=move&node=a%1Bb", action{}, "control characters"},
		{"on=group&name=..&do=online", action{}, "not a usable name"},
		{"on=group&name=%FF&do=online", action{}, "not valid UTF-8"},
		{"on=group&name=" + strings.Repeat("n", 300) + "&do=online", action{}, "longer than"},
	} {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		a, err := parseAction(q)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.query, err)
		case c.err == "" && a != c.want:
			t.Errorf("%q: %+v, want %+v", c.query, a, c.want)
		case c.err != "" && (!errors.Is(err, ErrAction) || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want ErrAction saying %q", c.query, err, c.err)
		}
	}
}

func TestActionTitleAndSubject(t *testing.T) {
	for _, c := range []struct {
		a              action
		title, subject string
	}{
		{action{On: "group", Name: "g", Do: "move"}, "Move group 'g'", "/group/g"},
		{action{On: "resource", Name: "Disk Q", Do: "fail"}, "Fail resource 'Disk Q' (as if its health check failed)", "/resource/Disk%20Q"},
		{action{On: "cluster", Do: "maintenance-on"}, "Put the cluster in maintenance (the monitor takes no action)", "/"},
		{action{On: "node", Name: "n1", Do: "pause"}, "Pause node 'n1' (move its groups away; it takes none)", "/"},
		{action{On: "node", Name: "n1", Do: "resume"}, "Resume node 'n1'", "/"},
	} {
		if got := c.a.Title(); got != c.title {
			t.Errorf("%+v: title %q, want %q", c.a, got, c.title)
		}
		if got := c.a.Subject(); got != c.subject {
			t.Errorf("%+v: subject %q, want %q", c.a, got, c.subject)
		}
	}
}

// An admin turns group maintenance on and off through the console: the
// store has it, the event log names the operator and the serving node.
func TestMaintenanceThroughTheConsole(t *testing.T) {
	f := newFixture(t, Config{})
	f.eachWay(t, pki.RoleAdmin, func(t *testing.T, b *browser, operator string) {
		reason := "swap the disk as " + operator
		// The confirmation asks for the reason and changes nothing.
		resp, body := b.get("/confirm?on=group&name=onyone&do=maintenance-on")
		expect(t, "confirm", resp, body, http.StatusOK, `action="/act"`, `name="reason"`, "Put group &#39;onyone&#39; in maintenance", `name="csrf" value="`+b.csrf()+`"`)
		if m := f.maintenance(); len(m.Groups) != 0 {
			t.Fatalf("the confirmation acted: %+v", m)
		}

		resp, body = b.act("on", "group", "name", testGroup, "do", "maintenance-on", "reason", reason)
		expect(t, "maintenance on", resp, body, http.StatusOK, "Maintenance is on", `id="result"`, "In maintenance", `data-live="/group/onyone"`)
		mark, ok := f.maintenance().Groups[testGroup]
		if !ok || mark.By != operator || mark.Reason != reason {
			t.Errorf("maintenance in the store: %+v (on: %v)", mark, ok)
		}
		e, ok := f.event("maintenance.on")
		if !ok || e.Operator != operator || e.Node != testNode || e.Subject != testGroup || !strings.Contains(e.Message, reason) {
			t.Errorf("maintenance event %+v (found %v)", e, ok)
		}

		resp, body = b.act("on", "group", "name", testGroup, "do", "maintenance-on")
		expect(t, "maintenance on again", resp, body, http.StatusOK, "Nothing changed")

		resp, body = b.act("on", "group", "name", "ONYONE", "do", "maintenance-off")
		expect(t, "maintenance off", resp, body, http.StatusOK, "Maintenance is off")
		if m := f.maintenance(); len(m.Groups) != 0 {
			t.Errorf("maintenance still on: %+v", m)
		}
		if e, ok := f.event("maintenance.off"); !ok || e.Operator != operator || e.Node != testNode {
			t.Errorf("maintenance off event %+v (found %v)", e, ok)
		}
	})
}

// Requests are filed for the group's owner; with no clusterd running
// nobody answers, and the page says so once ActionWait is over.
func TestRequestsWithoutAnOwner(t *testing.T) {
	wait := 300 * time.Millisecond
	f := newFixture(t, Config{ActionWait: wait})
	admin := f.login("alice", pki.RoleAdmin)

	resp, body := admin.get("/confirm?on=group&name=onyone&do=move")
	expect(t, "confirm a move", resp, body, http.StatusOK, `<select id="node" name="node">`, "the best node")

	start := time.Now()
	resp, body = admin.act("on", "group", "name", testGroup, "do", "move", "node", "node2")
	expect(t, "move", resp, body, http.StatusOK, "is filed", "the owner of group &#39;onyone&#39; has not answered within "+wait.String(), `data-live="/group/onyone"`)
	if d := time.Since(start); d < wait {
		t.Errorf("the move answered after %s, before ActionWait", d)
	}
	if n := f.requests(); n != 1 {
		t.Errorf("%d requests filed, want the move", n)
	}
	if e, ok := f.event("group.request"); !ok || e.Operator != "web:alice" || e.Node != testNode || e.Message != "move to node2 requested" {
		t.Errorf("request event %+v (found %v)", e, ok)
	}

	resp, body = admin.act("on", "resource", "name", "disk q", "do", "cleanup")
	expect(t, "resource cleanup", resp, body, http.StatusOK, "has not answered", `data-live="/resource/disk%20q"`, "Disk Q")
	if n := f.requests(); n != 2 {
		t.Errorf("%d requests filed, want the move and the clean up", n)
	}
}

// What cannot be done is refused with the reason, and the status says
// whose mistake it is.
func TestActionRefusals(t *testing.T) {
	f := newFixture(t, Config{ActionWait: 100 * time.Millisecond})
	admin := f.operator("ada", pki.RoleAdmin)
	for _, c := range []struct {
		name   string
		fields []string
		status int
		want   string
	}{
		{"unknown subject", []string{"on", "planet", "name", "x", "do", "online"}, http.StatusBadRequest, "is not something the console acts on"},
		{"unknown action", []string{"on", "group", "name", testGroup, "do", "explode"}, http.StatusBadRequest, "a group cannot &#34;explode&#34;"},
		{"no name", []string{"on", "group", "do", "online"}, http.StatusBadRequest, "name is empty"},
		{"node on a non-move", []string{"on", "group", "name", testGroup, "do", "online", "node", "node1"}, http.StatusBadRequest, "only a move names a node"},
		{"over-long reason", []string{"on", "cluster", "do", "maintenance-on", "reason", strings.Repeat("r", 501)}, http.StatusBadRequest, "longer than 500"},
		{"control characters", []string{"on", "group", "name", "a\x01b", "do", "online"}, http.StatusBadRequest, "control characters"},
		{"no such group", []string{"on", "group", "name", "nope", "do", "online"}, http.StatusNotFound, `group &#34;nope&#34;`},
		{"no such resource", []string{"on", "resource", "name", "nope", "do", "offline"}, http.StatusNotFound, "nope"},
		{"no such node", []string{"on", "node", "name", "node9", "do", "pause"}, http.StatusNotFound, "node &#34;node9&#34;"},
		{"no owner to recover from", []string{"on", "resource", "name", testResource, "do", "recover"}, http.StatusConflict, "has no owner"},
	} {
		resp, body := admin.act(c.fields...)
		expect(t, c.name, resp, body, c.status, c.want)
	}
	// The confirmation page refuses the same way, before asking.
	resp, body := admin.get("/confirm?on=group&name=onyone&do=explode")
	expect(t, "confirm an unknown action", resp, body, http.StatusBadRequest, "Unknown action", "a group cannot")
	if n := f.requests(); n != 0 {
		t.Errorf("refused actions filed %d requests", n)
	}
}

// The node actions and a recovery with nothing to recover.
func TestNodeActions(t *testing.T) {
	f := newFixture(t, Config{})
	admin := f.login("alice", pki.RoleAdmin)
	for _, c := range []struct {
		fields []string
		want   string
	}{
		{[]string{"on", "node", "name", "node1", "do", "pause"}, "Node &#39;node1&#39; is paused"},
		{[]string{"on", "node", "name", "node1", "do", "pause"}, "was already paused"},
		{[]string{"on", "node", "name", "node1", "do", "maintenance-on", "reason", "bios"}, "Maintenance is on"},
		{[]string{"on", "node", "name", "node1", "do", "resume", "failback", "on"}, "Moves back filed for 0 of 0 groups"},
		{[]string{"on", "node", "name", "node1", "do", "maintenance-off"}, "Maintenance is off"},
		{[]string{"on", "resource", "name", "Disk Q", "do", "recover"}, "resource &#39;Disk Q&#39; has no checkpoints"},
	} {
		resp, body := admin.act(c.fields...)
		expect(t, strings.Join(c.fields, " "), resp, body, http.StatusOK, c.want)
	}
	for _, kind := range []string{"node.pause", "node.resume", "checkpoint.recover"} {
		if e, ok := f.event(kind); !ok || e.Operator != "web:alice" || e.Node != testNode {
			t.Errorf("%s event %+v (found %v)", kind, e, ok)
		}
	}
}
