package web

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The cluster every test of the console looks at: one group with a chain
// of three resources, served by node testNode. No clusterd runs: nobody
// owns the group and no request is ever answered.
const (
	testCluster  = "ci"
	testNode     = "web1"
	testGroup    = "onyone"
	testResource = "Network Name DATA"
)

func testSpec() quorum.Spec {
	g := model.DefaultGroup(testGroup)
	g.PreferredOwners = []string{"node1", "node2"}
	res := func(name string, deps ...string) model.Resource {
		r := model.Resource{Name: name, Type: "Generic Application", Group: testGroup, Properties: model.DefaultProperties()}
		if len(deps) > 0 {
			r.Dependencies = [][]string{deps}
		}
		return r
	}
	name := res(testResource, "IP Address")
	name.RegistryCheckpoints = []string{`SOFTWARE\Microsoft\onyone`}
	return quorum.Spec{
		Types:     []model.ResourceType{{Name: "Generic Application", Kind: model.KindPlugin, Path: "/bin/app", Defaults: model.DefaultProperties()}},
		Groups:    []model.Group{g},
		Resources: []model.Resource{res("Disk Q"), res("IP Address", "Disk Q"), name},
	}
}

// fixture is a real etcd holding a bootstrapped database, and the
// console of node testNode served over HTTPS with the member's PKI: its
// node certificate for the server, operator certificates verified if a
// browser offers one.
type fixture struct {
	t      *testing.T
	member *quorumtest.Member
	etcd   *clientv3.Client
	store  *quorum.Store
	srv    *Server
	ts     *httptest.Server
	roots  *x509.CertPool
}

// newFixture starts the fixture; cfg's zero fields are filled in.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	m, c := quorumtest.Start(t)
	store, err := quorum.NewStore(c, testCluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Bootstrap(ctxT(t), "test", testSpec()); err != nil {
		t.Fatal(err)
	}
	cfg.Node, cfg.Store, cfg.Etcd = testNode, store, c
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := m.PKI.NodeFiles("m1")
	tc, err := ServerTLS(cert, key, m.PKI.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots, err := pki.LoadPool(m.PKI)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.TLS = tc
	ts.StartTLS()
	t.Cleanup(ts.Close)
	// Serve tells live pages of etcd's changes; the test's server is
	// told as Serve does.
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { defer close(watched); srv.changes.run(ctx, store.WatchAll(ctx)) }()
	t.Cleanup(func() { cancel(); <-watched })
	return &fixture{t: t, member: m, etcd: c, store: store, srv: srv, ts: ts, roots: roots}
}

// ctxT is a context bounded by the test's deadline, or a minute.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// browser is a browser of the console: it follows no redirects, keeps the
// session cookie of its login, and may offer an operator certificate.
type browser struct {
	f      *fixture
	c      *http.Client
	base   string            // the console's URL
	cert   *x509.Certificate // the operator certificate it offers
	cookie *http.Cookie      // its session, once logged in
}

// browser returns a browser without a certificate.
func (f *fixture) browser() *browser {
	return f.browserWith(tls.Certificate{})
}

// operator returns a browser offering a new certificate of operator name
// with role (pki.RoleAdmin or pki.RoleViewer).
func (f *fixture) operator(name, role string) *browser {
	f.t.Helper()
	certFile, keyFile := f.member.Issue(f.t, name, role, false)
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.browserWith(kp)
}

func (f *fixture) browserWith(kp tls.Certificate) *browser {
	tc := &tls.Config{RootCAs: f.roots, MinVersion: tls.VersionTLS12}
	b := &browser{f: f, base: f.ts.URL}
	if kp.Certificate != nil {
		tc.Certificates = []tls.Certificate{kp}
		leaf, err := x509.ParseCertificate(kp.Certificate[0])
		if err != nil {
			f.t.Fatal(err)
		}
		b.cert = leaf
	}
	tr := &http.Transport{TLSClientConfig: tc}
	f.t.Cleanup(tr.CloseIdleConnections)
	b.c = &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return b
}

// request makes a request of the console with the browser's session.
func (b *browser) request(ctx context.Context, method, path string, body io.Reader) *http.Request {
	b.f.t.Helper()
	r, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	if b.cookie != nil {
		r.AddCookie(b.cookie)
	}
	return r
}

// send sends r and returns the answer with its body read.
func (b *browser) send(r *http.Request) (*http.Response, string) {
	b.f.t.Helper()
	resp, err := b.c.Do(r)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.f.t.Helper()
	return b.send(b.request(ctxT(b.f.t), http.MethodGet, path, nil))
}

// post posts form as a browser does from the console's own page; header
// holds pairs of header names and values to change ("" deletes).
func (b *browser) post(path string, form url.Values, header ...string) (*http.Response, string) {
	b.f.t.Helper()
	r := b.request(ctxT(b.f.t), http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", b.base)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			r.Header.Del(header[i])
		} else {
			r.Header.Set(header[i], header[i+1])
		}
	}
	return b.send(r)
}

// code stores a login code for operator with role and returns it.
func (f *fixture) code(operator, role string) string {
	f.t.Helper()
	code := randomID()
	if err := f.store.PutWebLogin(ctxT(f.t), code, quorum.WebLogin{Operator: operator, Role: role, IssuedBy: "admin"}, time.Minute); err != nil {
		f.t.Fatal(err)
	}
	return code
}

// login returns a browser logged in with a code for operator and role.
func (f *fixture) login(operator, role string) *browser {
	f.t.Helper()
	b := f.browser()
	resp, body := b.post("/login", url.Values{"code": {f.code(operator, role)}})
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("login of %s: %s\n%s", operator, resp.Status, body)
	}
	b.cookie = sessionOf(resp)
	if b.cookie == nil {
		f.t.Fatalf("login of %s: no session cookie in %v", operator, resp.Header)
	}
	return b
}

func sessionOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf is the token the browser's forms carry: a login's is on every page
// (the log out form); a certificate's is derived as the server does.
func (b *browser) csrf() string {
	b.f.t.Helper()
	if b.cert != nil {
		sum := sha256.Sum256(b.cert.Raw)
		return b.f.srv.token("cert:" + hex.EncodeToString(sum[:]))
	}
	_, body := b.get("/")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.f.t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

// act posts an action with the browser's token; fields are pairs of form
// field names and values.
func (b *browser) act(fields ...string) (*http.Response, string) {
	b.f.t.Helper()
	form := url.Values{"csrf": {b.csrf()}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	return b.post("/act", form)
}

// byLogin and byCertificate are the operators of each role eachWay makes:
// one logs in with a code, the other offers a certificate.
var (
	byLogin       = map[string]string{pki.RoleAdmin: "alice", pki.RoleViewer: "vic"}
	byCertificate = map[string]string{pki.RoleAdmin: "ada", pki.RoleViewer: "vera"}
)

// eachWay runs test as an operator of role logged in with a code
// ("web:alice", "web:vic"), then as one with a certificate ("ada", "vera"),
// each in a subtest named after the way in.
func (f *fixture) eachWay(t *testing.T, role string, test func(t *testing.T, b *browser, operator string)) {
	t.Run("login", func(t *testing.T) { test(t, f.login(byLogin[role], role), "web:"+byLogin[role]) })
	t.Run("certificate", func(t *testing.T) { test(t, f.operator(byCertificate[role], role), byCertificate[role]) })
}

// checkMapping checks a function of a string on a table of arguments and
// results.
func checkMapping(t *testing.T, name string, fn func(string) string, table [][2]string) {
	t.Helper()
	for _, c := range table {
		if got := fn(c[0]); got != c[1] {
			t.Errorf("%s(%q) = %q, want %q", name, c[0], got, c[1])
		}
	}
}

// requests counts the requests filed for owners (keys under control/).
func (f *fixture) requests() int64 {
	f.t.Helper()
	resp, err := f.etcd.Get(ctxT(f.t), f.store.Keys().AllRequests(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.Count
}

// maintenance is the operations state's maintenance.
func (f *fixture) maintenance() model.Maintenance {
	f.t.Helper()
	db, err := f.store.Database(ctxT(f.t))
	if err != nil {
		f.t.Fatal(err)
	}
	return db.Ops.Maintenance
}

// event finds the newest event of kind.
func (f *fixture) event(kind string) (quorum.Event, bool) {
	f.t.Helper()
	evs, err := f.store.RecentEvents(ctxT(f.t), 100)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == kind {
			return evs[i], true
		}
	}
	return quorum.Event{}, false
}

// expect checks an answer's status and that its body holds each of want.
func expect(t *testing.T, what string, resp *http.Response, body string, status int, want ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %s, want %d\n%s", what, resp.Status, status, body)
		return
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s: the answer lacks %q:\n%s", what, w, body)
		}
	}
}
