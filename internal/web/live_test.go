package web

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
)

// sse reads the Server-Sent Events of a live stream.
type sse struct{ r *bufio.Reader }

// next reads the next event, skipping comments (keepalives).
func (s sse) next() (event, data string, err error) {
	var lines []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && event != "":
			return event, strings.Join(lines, "\n"), nil
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			lines = append(lines, strings.TrimPrefix(line, "data: "))
		}
	}
}

// until reads events until one of kind whose data is ok; it fails at the
// stream's deadline.
func (s sse) until(t *testing.T, kind, what string, ok func(data string) bool) string {
	t.Helper()
	for {
		event, data, err := s.next()
		if err != nil {
			t.Fatalf("no %s event %s before the stream ended: %v", kind, what, err)
		}
		if event == kind && ok(data) {
			return data
		}
	}
}

// await reads events until one of kind holds want.
func (s sse) await(t *testing.T, kind, want string) string {
	t.Helper()
	return s.until(t, kind, "holding "+strconv.Quote(want), func(data string) bool { return strings.Contains(data, want) })
}

// live opens the live stream of view, ended with the test or after a
// deadline.
func (b *browser) live(t *testing.T, view string) (*http.Response, sse) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	resp, err := b.c.Do(b.request(ctx, http.MethodGet, "/live?view="+url.QueryEscape(view), nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, sse{bufio.NewReader(resp.Body)}
}

func TestLive(t *testing.T) {
	f := newFixture(t, Config{})
	admin := f.operator("ada", pki.RoleAdmin)
	resp, s := admin.live(t, "/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("live: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	checkHeaders(t, "live", resp.Header)
	// The view comes at once, as the page's content alone.
	first := s.await(t, "view", `href="/group/onyone"`)
	if strings.Contains(first, "group maintenance") || strings.Contains(first, "<html") {
		t.Fatalf("first view:\n%s", first)
	}
	if !strings.Contains(first, `<a class="act"`) {
		t.Errorf("an admin's live view offers no actions:\n%s", first)
	}
	// A change in etcd, by anyone, is pushed.
	if _, err := f.store.SetMaintenance(ctxT(t), quorum.ScopeGroup, testGroup, true, model.Mark{By: "someone", Reason: "disk swap"}); err != nil {
		t.Fatal(err)
	}
	s.await(t, "view", "group maintenance by someone: disk swap")

	// A group's page follows the group; a viewer's has no actions.
	viewer := f.login("vic", pki.RoleViewer)
	_, g := viewer.live(t, "/group/onyone")
	data := g.await(t, "view", "In maintenance: group maintenance by someone: disk swap")
	if !strings.Contains(data, "Disk Q") || strings.Contains(data, `<a class="act"`) {
		t.Errorf("a viewer's live group view:\n%s", data)
	}
	if _, err := f.store.SetMaintenance(ctxT(t), quorum.ScopeGroup, testGroup, false, model.Mark{}); err != nil {
		t.Fatal(err)
	}
	g.until(t, "view", "out of maintenance", func(data string) bool {
		return strings.Contains(data, `id="group-state"`) && !strings.Contains(data, "In maintenance")
	})

	// A view that cannot be built now is a problem event, not an error.
	_, p := admin.live(t, "/group/nope")
	p.await(t, "problem", `group "nope"`)
	_, e := admin.live(t, "/events?kind=web.")
	e.await(t, "view", "web.login")
}

func TestLiveBadViews(t *testing.T) {
	f := newFixture(t, Config{})
	admin := f.operator("ada", pki.RoleAdmin)
	for _, view := range []string{"", "/nope", "http://x/", "https://evil.example/group/onyone", "//x/", "group/onyone", "/group/", "/group/a/b", "/resource/", "%zz"} {
		resp, body := admin.get("/live?view=" + url.QueryEscape(view))
		expect(t, "live "+view, resp, body, http.StatusBadRequest, "no such view")
	}
	resp, body := admin.get("/live")
	expect(t, "live without a view", resp, body, http.StatusBadRequest, "no such view")
}

// Serve serves the console on a TLS listener, feeds live pages from etcd,
// and at its context's end closes the live streams and returns.
func TestServe(t *testing.T) {
	f := newFixture(t, Config{})
	cert, key := f.member.PKI.NodeFiles("m1")
	tc, err := ServerTLS(cert, key, f.member.PKI.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Node: "web2", Store: f.store, Etcd: f.etcd})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	admin := f.operator("ada", pki.RoleAdmin)
	admin.base = "https://" + ln.Addr().String()
	resp, body := admin.get("/")
	expect(t, "overview", resp, body, http.StatusOK, "served by web2")
	_, s := admin.live(t, "/")
	s.await(t, "view", `href="/group/onyone"`)
	if _, err := f.store.SetMaintenance(ctxT(t), quorum.ScopeCluster, "", true, model.Mark{By: "someone", Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	s.await(t, "view", "Cluster maintenance since")

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	for {
		if _, _, err := s.next(); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("the live stream ended with %v, want its end", err)
			}
			break
		}
	}
}

func TestWriteEvent(t *testing.T) {
	for _, c := range []struct{ event, data, want string }{
		{"view", "", "event: view\ndata: \n\n"},
		{"view", "<p>a</p>", "event: view\ndata: <p>a</p>\n\n"},
		{"problem", "one\r\ntwo\nthree", "event: problem\ndata: one\ndata: two\ndata: three\n\n"},
	} {
		w := httptest.NewRecorder()
		if err := writeEvent(w, c.event, c.data); err != nil {
			t.Fatal(err)
		}
		if got := w.Body.String(); got != c.want {
			t.Errorf("writeEvent(%q, %q) = %q, want %q", c.event, c.data, got, c.want)
		}
	}
}
