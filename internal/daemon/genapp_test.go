package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/testutil/testbin"
)

// processesRunning lists the pids whose command line contains marker.
func processesRunning(marker string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), marker) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join(d, "stat"))
		if strings.Contains(string(stat), ") Z ") { // a zombie is gone
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		pids = append(pids, pid)
	}
	return pids
}

// TestKilledNodeTakesItsApplicationDown: when clusterd is killed with -9,
// the Generic Application plugin it started notices its host is gone and
// terminates the application before exiting, so the application does not
// keep running beside the copy the next node starts.
func TestKilledNodeTakesItsApplicationDown(t *testing.T) {
	genapp := testbin.Build(t, "github.com/resmon/resmon/examples/genapp/cmd/genapp")
	marker := fmt.Sprintf("%d.25", 100000+os.Getpid()%100000) // a unique sleep length
	c := newMPClusterOf(t, fmt.Sprintf("kind = \"plugin\"\npath = %q", genapp), "", "", "", "")
	c.spec = fmt.Sprintf(`
[[resource_type]]
name = "Generic Application"
kind = "plugin"
path = %q

[[group]]
name = "app"
preferred_owners = ["node1", "node2"]
persistent_state = true

[[resource]]
name = "app"
type = "Generic Application"
group = "app"
[resource.private]
CommandLine = "/bin/sleep %s"
`, genapp, marker)
	c.start("node1")
	c.start("node2")
	c.waitStatus("online on node1", onlineOn("node1"))
	if n := len(processesRunning("sleep " + marker)); n != 1 {
		t.Fatalf("%d copies of the application running, want 1", n)
	}
	c.kill("node1")
	c.waitStatus("online on node2", onlineOn("node2"))
	waitFor(t, "node1's copy of the application to end", 10*time.Second, func() bool {
		return len(processesRunning("sleep "+marker)) == 1
	})
	c.signal("node2", syscall.SIGTERM)
	<-c.nodes["node2"].exited
	waitFor(t, "every copy to end", 10*time.Second, func() bool { return len(processesRunning("sleep "+marker)) == 0 })
}

// TestStuckOnlineEndsAtPendingTimeout: a Generic Application whose health
// probe keeps failing the same way makes no progress, so PendingTimeout
// ends its Online with Terminate, as the sources require. (It once
// reported progress every second whatever the probe said, and the Online
// never ended.)
func TestStuckOnlineEndsAtPendingTimeout(t *testing.T) {
	genapp := testbin.Build(t, "github.com/resmon/resmon/examples/genapp/cmd/genapp")
	marker := fmt.Sprintf("%d.75", 100000+os.Getpid()%100000)
	c := newMPClusterOf(t, fmt.Sprintf("kind = \"plugin\"\npath = %q", genapp), "", "", "", "")
	c.spec = fmt.Sprintf(`
[[resource_type]]
name = "Generic Application"
kind = "plugin"
path = %q

[[group]]
name = "app"
preferred_owners = ["node1"]
persistent_state = true

[[resource]]
name = "app"
type = "Generic Application"
group = "app"
pending_timeout = "2s"
restart_action = 0
[resource.private]
CommandLine = "/bin/sleep %s"
HealthCommand = "/bin/false"
`, genapp, marker)
	c.start("node1")
	waitFor(t, "the resource failed at PendingTimeout", 30*time.Second, func() bool {
		st, _, _ := c.store.ReadResourceStatus(context.Background(), c.resource().ID)
		return st.State == "Failed" && strings.Contains(st.Error, "PendingTimeout")
	})
	waitFor(t, "the application terminated", 10*time.Second, func() bool { return len(processesRunning("sleep "+marker)) == 0 })
}
