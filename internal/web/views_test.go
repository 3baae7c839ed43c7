package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
)

func TestParseView(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want view // Kind "" when refused
	}{
		{"/", view{Kind: viewOverview}},
		{"/?x=1", view{Kind: viewOverview}},
		{"/events", view{Kind: viewEvents, Query: url.Values{}}},
		{"/events?kind=x", view{Kind: viewEvents, Query: url.Values{"kind": {"x"}}}},
		{"/events?kind=x&node=n1&limit=5", view{Kind: viewEvents, Query: url.Values{"kind": {"x"}, "node": {"n1"}, "limit": {"5"}}}},
		{"/group/a", view{Kind: viewGroup, Name: "a"}},
		{"/group/Network%20Name", view{Kind: viewGroup, Name: "Network Name"}},
		{"/group/a?x=1#frag", view{Kind: viewGroup, Name: "a"}},
		{"/resource/b", view{Kind: viewResource, Name: "b"}},
		{"/resource/Disk%20Q", view{Kind: viewResource, Name: "Disk Q"}},

		{"", view{}},
		{"/group/", view{}},
		{"/group", view{}},
		{"/group/a/b", view{}},
		{"/group/a%2Fb", view{}},
		{"/resource/", view{}},
		{"/resource/a/", view{}},
		{"/events/", view{}},
		{"/nope", view{}},
		{"/login", view{}},
		{"http://x/", view{}},
		{"https://x/group/a", view{}},
		{"//x", view{}},
		{"//x/group/a", view{}},
		{"group/a", view{}},
		{"relative", view{}},
		{"javascript:alert(1)", view{}},
		{"%zz", view{}},
		{"/group/%zz", view{}},
	} {
		v, err := parseView(c.raw)
		if c.want.Kind == "" {
			if !errors.Is(err, ErrView) {
				t.Errorf("parseView(%q) = %+v, %v; want ErrView", c.raw, v, err)
			}
			continue
		}
		if err != nil || v.Kind != c.want.Kind || v.Name != c.want.Name || v.Query.Encode() != c.want.Query.Encode() {
			t.Errorf("parseView(%q) = %+v, %v; want %+v", c.raw, v, err, c.want)
		}
	}
}

func TestViewPathRoundTrip(t *testing.T) {
	for _, v := range []view{
		{Kind: viewOverview},
		{Kind: viewEvents},
		{Kind: viewEvents, Query: url.Values{"kind": {"maintenance.on"}, "subject": {"a b&c=d"}}},
		{Kind: viewGroup, Name: "onyone"},
		{Kind: viewGroup, Name: "a b?c#d%e"},
		{Kind: viewResource, Name: "Network Name DATA"},
		{Kind: viewResource, Name: `SQL\Instance é`},
	} {
		p := v.Path()
		got, err := parseView(p)
		if err != nil || got.Kind != v.Kind || got.Name != v.Name || got.Query.Encode() != v.Query.Encode() {
			t.Errorf("%+v: Path %q parses to %+v, %v", v, p, got, err)
		}
		if got.Path() != p {
			t.Errorf("%+v: Path %q, then %q", v, p, got.Path())
		}
	}
}

func TestLayoutGraph(t *testing.T) {
	res := func(name string, deps ...[]string) ops.ResourceView {
		return ops.ResourceView{Resource: model.Resource{Name: name, Dependencies: deps}, State: "Online"}
	}
	on := func(names ...string) []string { return names }
	for _, c := range []struct {
		name      string
		rs        []ops.ResourceView
		cols      map[string]int // each box's column
		edges     int
		alternate int // dashed edges
	}{
		{"empty", nil, map[string]int{}, 0, 0},
		{"no deps", []ops.ResourceView{res("a"), res("b"), res("c")}, map[string]int{"a": 0, "b": 0, "c": 0}, 0, 0},
		{"chain", []ops.ResourceView{res("a"), res("b", on("a")), res("c", on("B"))}, map[string]int{"a": 0, "b": 1, "c": 2}, 2, 0},
		{"chain listed backwards", []ops.ResourceView{res("c", on("b")), res("b", on("a")), res("a")}, map[string]int{"a": 0, "b": 1, "c": 2}, 2, 0},
		{"and", []ops.ResourceView{res("disk"), res("ip"), res("name", on("disk"), on("ip"))}, map[string]int{"disk": 0, "ip": 0, "name": 1}, 2, 0},
		{"or", []ops.ResourceView{res("ip1"), res("ip2"), res("name", on("ip1", "ip2"))}, map[string]int{"ip1": 0, "ip2": 0, "name": 1}, 2, 2},
		{"and of or", []ops.ResourceView{res("disk"), res("ip1"), res("ip2"), res("app", on("disk"), on("ip1", "ip2"))}, map[string]int{"app": 1}, 3, 2},
		{"outside the group", []ops.ResourceView{res("a", on("elsewhere")), res("b", on("a", "gone"))}, map[string]int{"a": 0, "b": 1}, 1, 1},
		{"itself", []ops.ResourceView{res("a", on("a"))}, map[string]int{"a": 0}, 0, 0},
		{"cycle", []ops.ResourceView{res("a", on("b")), res("b", on("a"))}, map[string]int{}, 2, 0},
		{"long cycle", []ops.ResourceView{res("a", on("c")), res("b", on("a")), res("c", on("b")), res("d", on("c"))}, map[string]int{}, 4, 0},
	} {
		g := layoutGraph(c.rs)
		if len(g.Boxes) != len(c.rs) || len(g.Edges) != c.edges {
			t.Errorf("%s: %d boxes, %d edges; want %d, %d", c.name, len(g.Boxes), len(g.Edges), len(c.rs), c.edges)
			continue
		}
		alt := 0
		for _, e := range g.Edges {
			if e.Alternative {
				alt++
			}
			if e.X2 <= e.X1 && c.name != "cycle" && c.name != "long cycle" {
				t.Errorf("%s: edge %+v does not point right", c.name, e)
			}
		}
		if alt != c.alternate {
			t.Errorf("%s: %d alternative edges, want %d", c.name, alt, c.alternate)
		}
		seen := map[[2]int]bool{}
		for i, b := range g.Boxes {
			if b.Name != c.rs[i].Name || b.Class != "good" || b.W != boxW || b.H != boxH {
				t.Errorf("%s: box %d is %+v", c.name, i, b)
			}
			if col, ok := c.cols[b.Name]; ok && b.X != margin+col*(boxW+colGap) {
				t.Errorf("%s: %s at x %d, want column %d", c.name, b.Name, b.X, col)
			}
			if b.X+b.W+margin > g.Width || b.Y+b.H+margin > g.Height || b.X < margin || b.Y < margin {
				t.Errorf("%s: box %+v outside the %dx%d drawing", c.name, b, g.Width, g.Height)
			}
			if seen[[2]int{b.X, b.Y}] {
				t.Errorf("%s: two boxes at %d,%d", c.name, b.X, b.Y)
			}
			seen[[2]int{b.X, b.Y}] = true
		}
		// Columns never exceed the number of resources.
		for _, b := range g.Boxes {
			if (b.X-margin)/(boxW+colGap) >= max(len(c.rs), 1) {
				t.Errorf("%s: box %+v in column past %d", c.name, b, len(c.rs))
			}
		}
	}
}

func TestStateClass(t *testing.T) {
	checkMapping(t, "stateClass", stateClass, [][2]string{
		{"Online", "good"},
		{"online", "good"},
		{"Up", "good"},
		{"Failed", "bad"},
		{"Down", "bad"},
		{"Down (paused)", "bad"},
		{"Down (maintenance)", "bad"},
		{"Pending", "busy"},
		{"OnlinePending", "busy"},
		{"OfflinePending", "busy"},
		{"Up (paused)", "busy"},
		{"Up (stopping)", "busy"},
		{"Up (maintenance)", "busy"},
		{"Up (stopping, paused, maintenance)", "busy"},
		{"Offline", "idle"},
		{"PartialOnline", "busy"},
		{"Unknown", "idle"},
		{"", "idle"},
	})
}

// Each page renders from etcd, and what is not there is a 404.
func TestPages(t *testing.T) {
	f := newFixture(t, Config{})
	admin := f.login("alice", pki.RoleAdmin)
	// Something in the event log to filter.
	if resp, body := admin.act("on", "group", "name", testGroup, "do", "maintenance-on", "reason", "page test"); resp.StatusCode != http.StatusOK {
		t.Fatalf("maintenance on: %s\n%s", resp.Status, body)
	}
	for _, c := range []struct {
		path   string
		status int
		want   []string
		not    []string
	}{
		{"/", http.StatusOK, []string{"<h1>Cluster ci</h1>", "etcd healthy", "node1", "node2", `id="group-onyone"`, "group maintenance by web:alice: page test", "maintenance.on"}, nil},
		{"/group/onyone", http.StatusOK, []string{"<h1>Group onyone</h1>", "<svg", `class="dep"`, "Disk Q", "IP Address", "Network Name DATA", "In maintenance", "node1, node2", `data-live="/group/onyone"`}, nil},
		{"/group/ONYONE", http.StatusOK, []string{"Disk Q"}, nil},
		{"/resource/Network%20Name%20DATA", http.StatusOK, []string{"<h1>Resource Network Name DATA</h1>", "Generic Application", "IP Address", `SOFTWARE\Microsoft\onyone`, `data-live="/resource/Network%20Name%20DATA"`}, nil},
		{"/events", http.StatusOK, []string{"<h1>Event log</h1>", "maintenance.on", "web.login", `data-live="/events"`}, nil},
		{"/events?kind=web.&limit=1", http.StatusOK, []string{"web.login", "1 events"}, []string{"maintenance.on"}},
		{"/events?operator=nobody", http.StatusOK, []string{"0 events", "No events."}, nil},
		{"/events?limit=-3", http.StatusOK, []string{`value="100"`}, nil},
		{"/group/nope", http.StatusNotFound, []string{"Cannot show /group/nope", `group &#34;nope&#34;`}, nil},
		{"/resource/nope", http.StatusNotFound, []string{"Cannot show /resource/nope"}, nil},
		{"/no/such/page", http.StatusNotFound, []string{"No such page", "/no/such/page is not a page"}, nil},
	} {
		resp, body := admin.get(c.path)
		expect(t, c.path, resp, body, c.status, c.want...)
		checkHeaders(t, c.path, resp.Header)
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", c.path, ct)
		}
		for _, n := range c.not {
			if strings.Contains(body, n) {
				t.Errorf("%s: the page holds %q", c.path, n)
			}
		}
	}
}

// Names are text wherever the page shows them: a resource name with
// markup stays text.
func TestPagesEscapeNames(t *testing.T) {
	f := newFixture(t, Config{})
	admin := f.operator("ada", pki.RoleAdmin)
	resp, body := admin.get("/confirm?on=resource&name=" + url.QueryEscape("<img src=x onerror=alert(1)>") + "&do=offline")
	expect(t, "confirm", resp, body, http.StatusOK, "&lt;img src=x onerror=alert(1)&gt;")
	if strings.Contains(body, "<img") {
		t.Errorf("a name is markup in the page:\n%s", body)
	}
}
