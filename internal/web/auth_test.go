package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/pki"
)

// checkHeaders checks the security headers every answer carries.
func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	if csp != contentSecurityPolicy || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("%s: Content-Security-Policy %q", what, csp)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("%s: X-Frame-Options %q", what, got)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
}

func TestAnonymous(t *testing.T) {
	f := newFixture(t, Config{})
	b := f.browser()
	for _, c := range []struct {
		method, path string
		status       int
		location     string // of a redirect
		want         string
	}{
		{"GET", "/", http.StatusSeeOther, "/login?next=%2F", ""},
		{"GET", "/group/onyone", http.StatusSeeOther, "/login?next=%2Fgroup%2Fonyone", ""},
		{"GET", "/events?kind=web", http.StatusSeeOther, "/login?next=%2Fevents%3Fkind%3Dweb", ""},
		{"GET", "/confirm?on=cluster&do=maintenance-on", http.StatusSeeOther, "/login?next=%2Fconfirm%3Fon%3Dcluster%26do%3Dmaintenance-on", ""},
		{"GET", "/no/such/page", http.StatusSeeOther, "/login?next=%2Fno%2Fsuch%2Fpage", ""},
		{"GET", "/live", http.StatusUnauthorized, "", "log in first"},
		{"GET", "/live?view=/", http.StatusUnauthorized, "", "log in first"},
		{"POST", "/act", http.StatusUnauthorized, "", "log in first"},
		{"POST", "/logout", http.StatusUnauthorized, "", "log in first"},
		{"GET", "/static/app.js", http.StatusOK, "", "EventSource"},
		{"GET", "/static/style.css", http.StatusOK, "", ""},
		{"GET", "/login", http.StatusOK, "", `name="code"`},
		{"GET", "/login?code=abc&next=/group/onyone", http.StatusOK, "", `value="/group/onyone"`},
	} {
		what := c.method + " " + c.path
		resp, body := b.send(b.request(ctxT(t), c.method, c.path, nil))
		expect(t, what, resp, body, c.status, c.want)
		if got := resp.Header.Get("Location"); got != c.location {
			t.Errorf("%s: Location %q, want %q", what, got, c.location)
		}
		checkHeaders(t, what, resp.Header)
	}
	// The page links no inline script or style, only the console's files.
	_, body := b.get("/login")
	for _, bad := range []string{"<script>", "<style", " style=", " onclick="} {
		if strings.Contains(body, bad) {
			t.Errorf("the login page holds %q, which the policy refuses:\n%s", bad, body)
		}
	}
}

func TestLoginCode(t *testing.T) {
	f := newFixture(t, Config{SessionTTL: time.Hour})
	b := f.browser()
	code := f.code("alice", pki.RoleAdmin)
	resp, body := b.post("/login", url.Values{"code": {" " + code + " "}, "next": {"/group/onyone"}})
	expect(t, "login", resp, body, http.StatusSeeOther)
	if got := resp.Header.Get("Location"); got != "/group/onyone" {
		t.Errorf("login redirects to %q, want the page asked for", got)
	}
	checkHeaders(t, "login", resp.Header)
	ck := sessionOf(resp)
	if ck == nil || ck.Value == "" || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.MaxAge != 3600 {
		t.Fatalf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict, Path=/, an hour", ck)
	}
	b.cookie = ck
	resp, body = b.get("/")
	expect(t, "overview", resp, body, http.StatusOK, "Cluster "+testCluster, `href="/group/onyone"`, "web:alice", "served by "+testNode, `data-live="/"`)
	if e, ok := f.event("web.login"); !ok || e.Operator != "web:alice" || e.Node != testNode || !strings.Contains(e.Message, "admin") {
		t.Errorf("login event %+v (found %v)", e, ok)
	}
	// A logged-in browser asking for the login page goes on.
	resp, _ = b.get("/login?next=/events")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/events" {
		t.Errorf("login page when logged in: %s to %q", resp.Status, resp.Header.Get("Location"))
	}

	// A code logs in once; refusals say why and set no cookie.
	other := f.browser()
	for _, c := range []struct {
		name   string
		form   url.Values
		header []string
		status int
		want   string
	}{
		{"used code", url.Values{"code": {code}}, nil, http.StatusUnauthorized, "unknown, used or expired"},
		{"unknown code", url.Values{"code": {"not-a-code"}}, nil, http.StatusUnauthorized, "unknown, used or expired"},
		{"empty code", url.Values{"code": {"  "}}, nil, http.StatusBadRequest, "enter the code"},
		{"text/plain", url.Values{"code": {f.code("bob", pki.RoleAdmin)}}, []string{"Content-Type", "text/plain"}, http.StatusBadRequest, "posted as a form"},
		{"no content type", url.Values{"code": {f.code("bob", pki.RoleAdmin)}}, []string{"Content-Type", ""}, http.StatusBadRequest, "posted as a form"},
		{"other origin", url.Values{"code": {f.code("bob", pki.RoleAdmin)}}, []string{"Origin", "https://evil.example"}, http.StatusForbidden, "from this console"},
		{"bad role", url.Values{"code": {f.code("bob", "root")}}, nil, http.StatusForbidden, "neither admin nor viewer"},
	} {
		resp, body := other.post("/login", c.form, c.header...)
		expect(t, c.name, resp, body, c.status, c.want, `name="code"`)
		if sessionOf(resp) != nil {
			t.Errorf("%s: a session cookie was set", c.name)
		}
	}
	if resp, _ := other.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after refused logins: %s", resp.Status)
	}
}

func TestLogoutAndExpiry(t *testing.T) {
	f := newFixture(t, Config{})
	b := f.login("alice", pki.RoleAdmin)
	if resp, body := b.post("/logout", url.Values{"csrf": {"wrong"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a wrong token: %s\n%s", resp.Status, body)
	}
	resp, body := b.post("/logout", url.Values{"csrf": {b.csrf()}})
	expect(t, "logout", resp, body, http.StatusSeeOther)
	if ck := sessionOf(resp); ck == nil || ck.MaxAge >= 0 || resp.Header.Get("Location") != "/login" {
		t.Errorf("logout: cookie %+v, to %q", ck, resp.Header.Get("Location"))
	}
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session outlived its logout: %s", resp.Status)
	}

	// An expired session is forgotten.
	b = f.login("bob", pki.RoleViewer)
	f.srv.mu.Lock()
	f.srv.sessions[b.cookie.Value].expires = time.Now().Add(-time.Second)
	f.srv.mu.Unlock()
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("an expired session: %s", resp.Status)
	}
	f.srv.mu.Lock()
	n := len(f.srv.sessions)
	f.srv.mu.Unlock()
	if n != 0 {
		t.Errorf("%d sessions are kept after expiry and logout", n)
	}
}

func TestSafeNext(t *testing.T) {
	checkMapping(t, "safeNext", safeNext, [][2]string{
		{"", "/"},
		{"/", "/"},
		{"/group/x", "/group/x"},
		{"/events?kind=web&node=a", "/events?kind=web&node=a"},
		{"/resource/Network%20Name", "/resource/Network%20Name"},
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{"https://evil", "/"},
		{"http://evil/", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.com", "/"},
		{"group/x", "/"},
		{"/\\evil", "/"},
		{"\\\\evil", "/"},
		{"/\r\nSet-Cookie: x=1", "/"},
		{"/\t/evil.com", "/"}, // browsers drop tabs: //evil.com
		{"/\n/evil.com", "/"},
		{"/\x00", "/"},
		{"/\x7f", "/"},
	})
}

// The redirect after a login stays on the console whatever next says.
func TestLoginRedirectStaysOnConsole(t *testing.T) {
	f := newFixture(t, Config{})
	for _, next := range []string{"//evil.com", "https://evil", "/\\evil", "/\t/evil.com", "/%2F/evil.com"} {
		b := f.browser()
		resp, body := b.post("/login", url.Values{"code": {f.code("alice", pki.RoleViewer)}, "next": {next}})
		loc := resp.Header.Get("Location")
		u, err := url.Parse(loc)
		if resp.StatusCode != http.StatusSeeOther || err != nil || u.Host != "" || u.Scheme != "" || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t") {
			t.Errorf("next %q: %s to %q\n%s", next, resp.Status, loc, body)
		}
	}
}

// Viewers see everything and can act on nothing: the page offers no
// action, and the server refuses them anyway.
func TestViewersCannotAct(t *testing.T) {
	f := newFixture(t, Config{})
	f.eachWay(t, pki.RoleViewer, func(t *testing.T, b *browser, operator string) {
		resp, body := b.get("/")
		expect(t, "overview", resp, body, http.StatusOK, operator, "role-viewer", `href="/group/onyone"`, "disabled")
		if strings.Contains(body, `<a class="act"`) {
			t.Errorf("a viewer's overview offers actions:\n%s", body)
		}
		resp, body = b.get("/group/onyone")
		expect(t, "group", resp, body, http.StatusOK, "Disk Q", "disabled")
		if strings.Contains(body, `<a class="act"`) {
			t.Errorf("a viewer's group page offers actions:\n%s", body)
		}
		resp, body = b.get("/confirm?on=group&name=onyone&do=offline")
		expect(t, "confirm", resp, body, http.StatusForbidden, "Refused", operator+" is a viewer")
		if strings.Contains(body, `action="/act"`) {
			t.Errorf("a viewer is offered the action's form:\n%s", body)
		}
		for _, do := range []string{"offline", "maintenance-on"} {
			resp, body = b.act("on", "group", "name", testGroup, "do", do)
			expect(t, "act "+do, resp, body, http.StatusForbidden, "Refused", "viewers can look but not act")
		}
		if n := f.requests(); n != 0 {
			t.Errorf("a viewer's action filed %d requests", n)
		}
		if m := f.maintenance(); len(m.Groups) != 0 {
			t.Errorf("a viewer's action turned maintenance on: %+v", m)
		}
	})

	// An admin's certificate needs no login.
	admin := f.operator("ada", pki.RoleAdmin)
	resp, body := admin.get("/")
	expect(t, "admin certificate", resp, body, http.StatusOK, "ada", "role-admin", `<a class="act" href="/confirm?on=group&amp;name=onyone&amp;do=move"`)
	if strings.Contains(body, `action="/logout"`) {
		t.Errorf("a certificate's page offers a log out:\n%s", body)
	}
	// A node's certificate is not an operator's: it is sent to log in.
	node := f.operator("node7", pki.RoleNode)
	if resp, _ := node.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a node certificate: %s", resp.Status)
	}
}

// Every form post must carry the identity's token, as a form, from the
// console's origin.
func TestCSRF(t *testing.T) {
	f := newFixture(t, Config{})
	f.eachWay(t, pki.RoleAdmin, func(t *testing.T, b *browser, operator string) {
		token := b.csrf()
		other := f.login("mallory", pki.RoleAdmin).csrf()
		act := url.Values{"on": {"cluster"}, "do": {"maintenance-on"}, "reason": {operator}}
		with := func(token string) url.Values {
			v := url.Values{"csrf": {token}}
			for k, vs := range act {
				v[k] = vs
			}
			return v
		}
		for _, r := range []struct {
			name   string
			form   url.Values
			header []string
		}{
			{"no token", act, nil},
			{"wrong token", with("0123456789abcdef"), nil},
			{"another session's token", with(other), nil},
			{"empty token", with(""), nil},
			{"other origin", with(token), []string{"Origin", "https://evil.example"}},
			{"plain http origin", with(token), []string{"Origin", strings.Replace(b.base, "https:", "http:", 1)}},
			{"cross-site", with(token), []string{"Sec-Fetch-Site", "cross-site"}},
			{"same-site", with(token), []string{"Sec-Fetch-Site", "same-site"}},
			{"text/plain", with(token), []string{"Content-Type", "text/plain"}},
			{"multipart", with(token), []string{"Content-Type", "multipart/form-data; boundary=x"}},
		} {
			resp, body := b.post("/act", r.form, r.header...)
			expect(t, r.name, resp, body, http.StatusForbidden, "not from this console")
			if m := f.maintenance(); m.Cluster != nil {
				t.Fatalf("%s: the action happened: %+v", r.name, m.Cluster)
			}
		}
		// The token in the query does not count: only the posted form.
		resp, body := b.post("/act?csrf="+token, act)
		expect(t, "token in the query", resp, body, http.StatusForbidden)

		// Without Origin or Sec-Fetch-Site (an older browser) the token suffices.
		resp, body = b.post("/act", with(token), "Origin", "", "Sec-Fetch-Site", "")
		expect(t, "right token", resp, body, http.StatusOK, "Maintenance is on")
		if m := f.maintenance(); m.Cluster == nil || m.Cluster.Reason != operator {
			t.Errorf("the action did not happen: %+v", m)
		}
		resp, body = b.act("on", "cluster", "do", "maintenance-off")
		expect(t, "maintenance off", resp, body, http.StatusOK, "Maintenance is off")
	})
}
