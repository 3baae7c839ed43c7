package daemon_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
	want := []string{
		`resmon_group_state{group="app"} 0`,
		`resmon_resource_state{group="app",resource="app"} 2`,
		`resmon_entry_point_seconds_count{entry="Online",result="ok"} 1`,
		`resmon_checkpoint_writes_total{result="ok"}`,
		`resmon_lease_renewals_total{result="ok"}`,
		`resmon_self_fences_total 0`,
	}
	waitFor(t, "the metrics", 10*time.Second, func() bool {
		_, body = get("http://" + addr + "/metrics")
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false
			}
		}
		return true
	})
}
