package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/testutil/browser"
	"github.com/resmon/resmon/testutil/testbin"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The web console in a real browser (headless Chromium driven by
// chromedp) against three real clusterd processes: the overview shows the
// owner; after kill -9 of the owner the open page shows the group online
// on another node without a reload; a move clicked in the page moves the
// group; a viewer's action is refused by the page and by the server. Each
// view is written as a screenshot (testutil/browser: RESMON_SCREENSHOTS).

// webLogin issues a one-time console code with the cluster CLI.
func (c *mpCluster) webLogin(as, role string) string {
	c.t.Helper()
	bin := testbin.Build(c.t, "github.com/resmon/resmon/cmd/cluster")
	out, err := exec.Command(bin, "-endpoints", c.etcd, "-cluster", "fo", "-cacert", c.tls[0], "-cert", c.tls[1], "-key", c.tls[2],
		"web", "login", "--as", as, "--role", role, "-o", "json").Output()
	if err != nil {
		c.t.Fatalf("cluster web login: %v: %s", err, out)
	}
	var res struct{ Code string }
	if err := json.Unmarshal(out, &res); err != nil || res.Code == "" {
		c.t.Fatalf("cluster web login printed %q: %v", out, err)
	}
	return res.Code
}

// do runs browser steps or fails the test.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// waitPage waits until a JavaScript condition holds in the page.
func waitPage(t *testing.T, ctx context.Context, what, cond string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(20*time.Millisecond)))
		switch {
		case err == nil:
			return
		case time.Now().Before(deadline) && ctx.Err() == nil:
			// The page changed under the poll (a form's answer loading:
			// "navigated", "cannot find context"): poll the new one.
			wctx, cancel := context.WithTimeout(ctx, time.Until(deadline))
			chromedp.Do(wctx, chromedp.WaitReady(chromedp.CSS("body")))
			cancel()
		default:
			t.Fatalf("browser: waiting %s for %s (%s): %v", d, what, cond, err)
		}
	}
}

// text is the text of the first element matching a CSS selector ("" if none).
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q)||{textContent:""}).textContent.trim()`, sel))
}

func TestWebConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("three clusterd processes and a browser")
	}
	if browser.Path() == "" {
		t.Skip("no Chromium installed (Debian: apt-get install chromium); the browser tests need one")
	}
	c := newMPCluster(t, "", "", "")
	web := map[string]string{}
	c.nodeTOML = map[string]string{}
	for _, n := range []string{"node1", "node2", "node3"} {
		cert, key := c.member.Issue(t, "web-"+n, pki.RoleNode, false)
		web[n] = freeAddr(t)
		c.nodeTOML[n] = fmt.Sprintf("[web]\nlisten = %q\ncert_file = %q\nkey_file = %q\nclient_ca = %q\n", web[n], cert, key, c.tls[0])
	}
	c.start("node1")
	c.waitStatus("online on node1", onlineOn("node1"))
	c.start("node2")
	c.start("node3")

	ctx := browser.New(t)
	shots := browser.Screenshots(t)
	console := "https://" + web["node2"] // the page stays on a node that lives

	// An admin logs in with a code from the CLI.
	do(t, ctx, "log in", chromedp.Navigate(console+"/login?code="+c.webLogin("alice", pki.RoleAdmin)))
	do(t, ctx, "log in", chromedp.WaitVisible(chromedp.CSS("#code")))
	browser.Screenshot(t, ctx, shots, "login")
	do(t, ctx, "log in", chromedp.Click(chromedp.CSS("form.login button")), chromedp.WaitVisible(chromedp.CSS("#live")))
	waitPage(t, ctx, "the overview", `document.querySelector("#group-app .owner") !== null`, 10*time.Second)
	waitPage(t, ctx, "live updates", `document.querySelector("#live-status").textContent === "live"`, 10*time.Second)
	if got := text(t, ctx, "#group-app .owner"); got != "node1" {
		t.Fatalf("the overview shows owner %q, want node1", got)
	}
	if got := text(t, ctx, "#group-app .state"); got != "Online" {
		t.Fatalf("the overview shows state %q, want Online", got)
	}
	browser.Screenshot(t, ctx, shots, "overview")

	// kill -9 of the owner: the open page follows without a reload.
	eval[bool](t, ctx, `window.notReloaded = true`)
	killed := time.Now()
	c.kill("node1")
	var clusterSaw time.Duration
	waitPage(t, ctx, "the group online elsewhere",
		`(() => { const o = document.querySelector("#group-app .owner"), s = document.querySelector("#group-app .state");
		  return o && s && o.textContent !== "node1" && o.textContent !== "-" && s.textContent === "Online"; })()`, 30*time.Second)
	pageSaw := time.Since(killed)
	if st := c.status(); st.State == "Online" && st.Owner != "node1" {
		clusterSaw = st.Time.Sub(killed)
	}
	if !eval[bool](t, ctx, `window.notReloaded === true`) {
		t.Fatal("the page was reloaded; it must update in place")
	}
	t.Logf("kill -9 of the owner → page shows the group online on %s after %s (the owner published Online %s after the kill; lease_ttl 1s)",
		text(t, ctx, "#group-app .owner"), pageSaw.Round(time.Millisecond), clusterSaw.Round(time.Millisecond))
	// The console's share must be small; the failover itself is the
	// cluster's (a loaded machine can slow it, not the page).
	if lag := pageSaw - clusterSaw; clusterSaw > 0 && lag > 3*time.Second {
		t.Errorf("the page showed the failover %s after the cluster published it", lag)
	}
	if pageSaw > 3*time.Second {
		t.Logf("NOTE: the page showed the failover %s after the kill, beyond 3 s; the cluster itself published it after %s", pageSaw, clusterSaw)
	}
	browser.Screenshot(t, ctx, shots, "overview-after-failover")

	// A move clicked in the page: to node3, or node2 if it is there.
	from := c.status().Owner
	to := "node3"
	if from == "node3" {
		to = "node2"
	}
	do(t, ctx, "open the move", chromedp.Click(chromedp.CSS(`#group-app a.act[href*="do=move"]`)))
	do(t, ctx, "confirm page", chromedp.WaitVisible(chromedp.CSS("#confirm")))
	do(t, ctx, "choose the node", chromedp.SetValue(chromedp.CSS("#node"), to))
	browser.Screenshot(t, ctx, shots, "confirm-move")
	do(t, ctx, "confirm the move", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#result")))
	waitPage(t, ctx, "the move's outcome", `document.querySelector("#result") !== null`, 30*time.Second)
	if cls := eval[string](t, ctx, `document.querySelector("#result").className`); cls != "good" {
		t.Fatalf("the move failed in the page: %s", text(t, ctx, "#result"))
	}
	waitPage(t, ctx, "the group on "+to, fmt.Sprintf(`(() => { const o = document.querySelector("#group-owner"), s = document.querySelector("#group-state");
		return o && s && o.textContent === %q && s.textContent === "Online"; })()`, to), 30*time.Second)
	if st := c.status(); st.Owner != to || st.State != "Online" {
		t.Fatalf("the cluster says the group is %s on %s, want Online on %s", st.State, st.Owner, to)
	}
	if evs := c.events("group.request"); len(evs) == 0 || evs[len(evs)-1].Operator != "web:alice" || evs[len(evs)-1].Node != "node2" {
		t.Fatalf("the move is not recorded with the operator and node: %+v", evs)
	}
	browser.Screenshot(t, ctx, shots, "move-result")

	// The other views, for the README.
	do(t, ctx, "group page", chromedp.Navigate(console+"/group/app"), chromedp.WaitVisible(chromedp.CSS("svg.graph")))
	browser.Screenshot(t, ctx, shots, "group")
	do(t, ctx, "resource page", chromedp.Navigate(console+"/resource/app"), chromedp.WaitVisible(chromedp.CSS("#checkpoints")))
	if got := text(t, ctx, "#checkpoints td.cp-saved"); !strings.HasPrefix(got, "saved") {
		t.Errorf("the resource page shows its checkpoint as %q, want saved", got)
	}
	browser.Screenshot(t, ctx, shots, "resource")
	do(t, ctx, "event log", chromedp.Navigate(console+"/events?kind=group"), chromedp.WaitVisible(chromedp.CSS("table.events")))
	browser.Screenshot(t, ctx, shots, "events")
	do(t, ctx, "phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(console+"/"), chromedp.WaitVisible(chromedp.CSS("#group-app")))
	browser.Screenshot(t, ctx, shots, "phone")
	do(t, ctx, "desktop", chromedp.EmulateViewport(1280, 800))

	// A viewer: the page offers no action, and the server refuses one.
	do(t, ctx, "log out", chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.CSS("#code")))
	do(t, ctx, "viewer login", chromedp.Navigate(console+"/login?code="+c.webLogin("victor", pki.RoleViewer)),
		chromedp.WaitVisible(chromedp.CSS("#code")), chromedp.Click(chromedp.CSS("form.login button")), chromedp.WaitVisible(chromedp.CSS("#live")))
	waitPage(t, ctx, "the viewer's overview", `document.querySelector("#group-app") !== null`, 10*time.Second)
	if n := eval[int](t, ctx, `document.querySelectorAll("a.act").length`); n != 0 {
		t.Fatalf("a viewer's page offers %d action links", n)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("button.act[disabled]").length`); n == 0 {
		t.Fatal("a viewer's page shows no (disabled) actions")
	}
	before := c.status()
	do(t, ctx, "viewer confirm page", chromedp.Navigate(console+"/confirm?on=group&name=app&do=offline"), chromedp.WaitVisible(chromedp.CSS("p.problem")))
	if got := text(t, ctx, "p.problem"); !strings.Contains(got, "Refused") {
		t.Fatalf("the confirmation page for a viewer says %q", got)
	}
	browser.Screenshot(t, ctx, shots, "viewer-refused")
	status := eval[int](t, ctx, `(async () => {
		const csrf = document.querySelector("header form input[name=csrf]").value;
		const r = await fetch("/act", {method: "POST", body: new URLSearchParams({csrf, on: "group", name: "app", do: "offline"})});
		return r.status; })()`)
	if status != 403 {
		t.Fatalf("the server answered a viewer's action with %d, want 403", status)
	}
	if resp, err := c.raw.Get(context.Background(), c.store.Keys().AllRequests(), clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count > 0 {
		t.Fatalf("a viewer's action filed a request (%v)", err)
	}
	if st := c.status(); st.State != before.State || st.Owner != before.Owner || st.Token != before.Token {
		t.Fatalf("a viewer's action changed the group: %+v → %+v", before, st)
	}
}
