package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
)

func FuzzParseView(f *testing.F) {
	for _, s := range []string{"/", "/events?kind=x&limit=5", "/group/a", "/resource/Disk%20Q", "/group/", "/group/a/b",
		"http://x/", "//x", "relative", "%zz", "/group/%2F", "/resource/a%3Fb", "///group/a", "/events?%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// Any name the cluster allows has a page that names it back.
		if model.ValidName(raw) == nil {
			for _, kind := range []string{viewGroup, viewResource} {
				v := view{Kind: kind, Name: raw}
				if got, err := parseView(v.Path()); err != nil || got.Kind != kind || got.Name != raw {
					t.Fatalf("%s %q: path %q parses to %+v, %v", kind, raw, v.Path(), got, err)
				}
			}
		}
		v, err := parseView(raw)
		if err != nil {
			return
		}
		if !slices.Contains([]string{viewOverview, viewEvents, viewGroup, viewResource}, v.Kind) {
			t.Fatalf("parseView(%q): kind %q", raw, v.Kind)
		}
		if (v.Kind == viewGroup || v.Kind == viewResource) && (v.Name == "" || strings.Contains(v.Name, "/")) {
			t.Fatalf("parseView(%q): name %q", raw, v.Name)
		}
		p := v.Path()
		again, err := parseView(p)
		if err != nil || again.Kind != v.Kind || again.Name != v.Name || again.Query.Encode() != v.Query.Encode() {
			t.Fatalf("parseView(%q) = %+v, whose path %q parses to %+v, %v", raw, v, p, again, err)
		}
	})
}

func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"on=group&name=onyone&do=move&node=node2", "on=cluster&do=maintenance-on&reason=x",
		"on=node&name=n1&do=resume&failback=on", "on=resource&name=a%00b&do=fail", "on=group&do=online", "on=planet"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		a, err := parseAction(q)
		if err != nil {
			return
		}
		dos, ok := actionsOf[a.On]
		switch {
		case !ok || !slices.Contains(dos, a.Do):
			t.Fatalf("%q: accepted %+v", query, a)
		case (a.On == "cluster") != (a.Name == ""):
			t.Fatalf("%q: accepted the name %q for %s", query, a.Name, a.On)
		case a.Node != "" && a.Do != "move", len(a.Reason) > 500:
			t.Fatalf("%q: accepted %+v", query, a)
		case strings.ContainsAny(a.Name+a.Node, "/\x00\n\r"):
			t.Fatalf("%q: accepted the names %q, %q", query, a.Name, a.Node)
		}
		if a.Title() == "" || !strings.HasPrefix(a.Subject(), "/") {
			t.Fatalf("%q: title %q, subject %q", query, a.Title(), a.Subject())
		}
	})
}

// FuzzLogin posts anything to /login: it answers with a page, never a
// server error (but for etcd's own), and opens a session only for a code
// that was issued.
func FuzzLogin(f *testing.F) {
	_, c := quorumtest.Start(f)
	store, err := quorum.NewStore(c, testCluster, nil)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(Config{Node: testNode, Store: store, Etcd: c})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	for _, s := range [][3]string{
		{"application/x-www-form-urlencoded", "", "code=abc&next=/"},
		{"application/x-www-form-urlencoded; charset=utf-8", "https://example.com", "code=abc&next=//evil"},
		{"text/plain", "", "code=abc"},
		{"application/x-www-form-urlencoded", "null", "code=%zz"},
		{"multipart/form-data; boundary=x", "", "--x\r\n"},
		{"application/x-www-form-urlencoded", "::", strings.Repeat("code=", 3000)},
		{";;;", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, contentType, origin, body string) {
		r := httptest.NewRequest(http.MethodPost, "https://console.example/login", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		out := w.Body.String()
		switch {
		case w.Code >= 500 && !strings.Contains(out, "could not be asked about the code"):
			t.Fatalf("%q from %q: %d\n%s", body, origin, w.Code, out)
		case w.Code != http.StatusSeeOther && !strings.Contains(out, `name="code"`):
			t.Fatalf("%q: %d without the login form\n%s", body, w.Code, out)
		case w.Code == http.StatusSeeOther:
			t.Fatalf("%q: logged in with a code nobody issued", body)
		case len(w.Result().Cookies()) != 0:
			t.Fatalf("%q: a refused login set %v", body, w.Result().Cookies())
		}
	})
}
