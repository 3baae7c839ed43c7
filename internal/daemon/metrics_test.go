package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum/quorumtest"
)

// freeAddr is a free loopback HOST:PORT, never one handed out before.
func freeAddr(t *testing.T) string {
	t.Helper()
	return strings.TrimPrefix(quorumtest.FreeURL(t), "http://")
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndHealth: a node serves /healthz (200 while its lease is
// confirmed) and Prometheus metrics for its groups, resources, entry
// points, checkpoint writes and lease renewals.
func TestMetricsAndHealth(t *testing.T) {
	c := newMPClusterOf(t, wasmTypeTOML(t), "", "", "", "")
	addr := freeAddr(t)
	c.nodeTOML = map[string]string{"node1": fmt.Sprintf("metrics = %q", addr)}
	c.start("node1")
	c.waitStatus("online on node1", onlineOn("node1"))
	c.waitCount(1)
	code, body := get("http://" + addr + "/healthz")
	if code != http.StatusOK || !strings.HasPrefix(body, "ok: node node1") {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	// A group no node may own (its one resource may run only on a node
	// that does not exist): its state is reported by the first node up.
	ctx := context.Background()
	if err := c.store.CreateGroup(ctx, model.DefaultGroup("orphan")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.store.CreateResource(ctx, model.Resource{Name: "orphan app", Type: "testtype", Group: "orphan",
		PossibleOwners: []string{"node9"}, Properties: model.DefaultProperties()}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`resmon_group_state{group="app",state="Online"} 1`,
		`resmon_group_state{group="app",state="Failed"} 0`,
		`resmon_group_state{group="orphan",state="Offline"} 1`,
		`resmon_resource_state{group="app",resource="app",state="Online"} 1`,
		`resmon_resource_state{group="app",resource="app",state="Failed"} 0`,
		`resmon_entry_point_seconds_count{entry="Online",result="ok",type="testtype"} 1`,
		`resmon_entry_point_seconds_bucket{entry="Online",result="ok",type="testtype",le="0.00025"}`,
		`resmon_checkpoint_writes_total{result="ok"}`,
		`resmon_lease_renewals_total{result="ok"}`,
		`resmon_self_fences_total 0`,
		`resmon_build_info{goversion="go`,
		`resmon_nodes_up 1`,
		`resmon_etcd_up 1`,
		`resmon_lease_confirmed 1`,
	}
	// Every metric the example alerts and dashboard use is one clusterd
	// defines (vectors without a sample yet are not served, so the
	// definitions are what is checked).
	src, err := os.ReadFile("metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metricsOfDist(t) {
		if !strings.Contains(string(src), `"`+m+`"`) {
			t.Errorf("dist/ uses %s, which clusterd does not define", m)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body = get("http://" + addr + "/metrics")
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics lack %s:\n%s", missing, body)
		}
	}
}

// metricsOfDist are the resmon_ metrics the example alert rules and the
// Grafana dashboard in dist/ use.
func metricsOfDist(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range []string{"../../dist/alerts.yml", "../../dist/grafana-dashboard.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") && !json.Valid(b) {
			t.Fatalf("%s is not JSON", f)
		}
		for _, m := range regexp.MustCompile(`resmon_[a-z_]+`).FindAllString(string(b), -1) {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				m = strings.TrimSuffix(m, suffix)
			}
			seen[m] = true
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	return out
}
