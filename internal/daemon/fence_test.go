package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/testutil/applife"
	"github.com/resmon/resmon/testutil/testbin"
)

// The application-fencing tests: real clusterd processes host a group of
// the Generic Application (go-plugin) and one of its WASM build, each
// running applife-app, which records its own start and starts a grandchild
// in a session of its own (something the type's own Terminate does not
// reach: only the node's process tracking does). The test watches every
// application process through a pidfd and checks, from those times, that
// the frozen or cut-off owner's applications were all gone before the next
// owner started its own.

type fenceCluster struct {
	*mpCluster
	apps  string // the applications' start lines
	watch *applife.Watcher
}

func newFenceCluster(t *testing.T) *fenceCluster {
	genapp := testbin.Build(t, "github.com/resmon/resmon/examples/genapp/cmd/genapp")
	module := testbin.BuildWASM(t, "github.com/resmon/resmon/examples/genapp-wasm")
	app := testbin.Build(t, "github.com/resmon/resmon/testutil/applife/cmd/applife-app")
	c := newMPClusterOf(t, fmt.Sprintf("kind = \"plugin\"\npath = %q", genapp), "", "", "", "")
	apps := filepath.Join(c.dir, "apps")
	c.spec = fmt.Sprintf(`
[[resource_type]]
name = "Generic Application"
kind = "plugin"
path = %[1]q

[[resource_type]]
name = "Generic Application (wasm)"
kind = "wasm"
path = %[2]q
[resource_type.capabilities]
commands = [%[3]q]

[[group]]
name = "papp"
preferred_owners = ["node1", "node2"]
persistent_state = true

[[resource]]
name = "papp"
type = "Generic Application"
group = "papp"
looks_alive_poll_interval = "200ms"
[resource.private]
CommandLine = "%[3]s -child %[4]s plugin"

[[group]]
name = "wapp"
preferred_owners = ["node1", "node2"]
persistent_state = true

[[resource]]
name = "wapp"
type = "Generic Application (wasm)"
group = "wapp"
looks_alive_poll_interval = "200ms"
[resource.private]
CommandLine = "%[3]s -child %[4]s wasm"
`, genapp, module, app, apps)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &fenceCluster{mpCluster: c, apps: apps, watch: applife.Watch(ctx, apps)}
}

func (c *fenceCluster) groupOnlineOn(group, node string) bool {
	st, err := c.store.GroupStatus(context.Background(), group)
	return err == nil && st.State == "Online" && st.Owner == node
}

func (c *fenceCluster) waitGroups(node string) {
	c.t.Helper()
	waitFor(c.t, "both groups online on "+node, 30*time.Second, func() bool {
		return c.groupOnlineOn("papp", node) && c.groupOnlineOn("wapp", node)
	})
}

// running counts the application processes that run at the moment, by
// kind ("plugin", "wasm").
func (c *fenceCluster) running(kind string) int {
	n := 0
	now := time.Now()
	for _, l := range c.watch.Lives() {
		if strings.HasPrefix(l.Label, kind) && l.Running(now) {
			n++
		}
	}
	return n
}

// checkOrder checks, for each kind, that every application process started
// before t0 (the old owner's) had ended before the first one started after
// t0 (the new owner's), and returns the gaps.
func (c *fenceCluster) checkOrder(t0 time.Time) map[string]time.Duration {
	c.t.Helper()
	gaps := map[string]time.Duration{}
	for _, kind := range []string{"plugin", "wasm"} {
		var lastEnd, firstNew time.Time
		var old, nu int
		for _, l := range c.watch.Lives() {
			if !strings.HasPrefix(l.Label, kind) {
				continue
			}
			if l.Start.Before(t0) {
				old++
				if l.End.IsZero() {
					c.t.Fatalf("%s: process %d (%s) of the old owner still runs", kind, l.PID, l.Label)
				}
				if l.End.After(lastEnd) {
					lastEnd = l.End
				}
				continue
			}
			nu++
			if firstNew.IsZero() || l.Start.Before(firstNew) {
				firstNew = l.Start
			}
		}
		// A slow machine may have restarted the application before the
		// fault: every earlier process counts as the old owner's.
		if old < 2 || nu < 2 {
			c.t.Fatalf("%s: %d processes before the fault and %d after (want at least 2 each)", kind, old, nu)
		}
		if !lastEnd.Before(firstNew) {
			c.t.Errorf("%s: the old owner's last process ended %s after the new owner's first started", kind, lastEnd.Sub(firstNew))
		}
		gaps[kind] = firstNew.Sub(lastEnd)
	}
	return gaps
}

// holdFault runs the scenario: node1 owns both groups, node2 stands by,
// fault takes node1 out for 3 × TTL (1 s), heal brings it back.
func holdFault(t *testing.T, c *fenceCluster, fault, heal func()) {
	c.start("node1")
	c.waitGroups("node1")
	waitFor(t, "both applications and their grandchildren to run", 30*time.Second, func() bool {
		return c.running("plugin") == 2 && c.running("wasm") == 2
	})
	c.start("node2")
	t0 := time.Now()
	fault()
	c.waitGroups("node2")
	waitFor(t, "the new owner's applications to run", 30*time.Second, func() bool {
		return c.running("plugin") == 2 && c.running("wasm") == 2
	})
	if rest := time.Until(t0.Add(3 * time.Second)); rest > 0 {
		time.Sleep(rest)
	}
	gaps := c.checkOrder(t0)
	heal()
	c.waitUp("node1", true)
	t.Logf("from the old owner's last application process ending to the new owner's first starting: go-plugin %s, WASM %s",
		gaps["plugin"].Round(time.Millisecond), gaps["wasm"].Round(time.Millisecond))
	// Back, node1 runs nothing it does not own.
	time.Sleep(500 * time.Millisecond)
	if p, w := c.running("plugin"), c.running("wasm"); p != 2 || w != 2 {
		t.Fatalf("after node1 came back: %d go-plugin and %d WASM application processes run, want 2 and 2", p, w)
	}
}

// TestFrozenOwnerStopsItsApplications: SIGSTOP of the owner's clusterd
// for three lease TTLs. Its plugin process and the keeper take every
// application down at the self-fencing deadline, before the lease can
// expire, so the next owner starts its copies after they are all gone.
func TestFrozenOwnerStopsItsApplications(t *testing.T) {
	c := newFenceCluster(t)
	holdFault(t, c, func() { c.signal("node1", syscall.SIGSTOP) }, func() { c.signal("node1", syscall.SIGCONT) })
}

// TestCutOffOwnerStopsItsApplications: the same with the owner cut off
// from etcd (a proxy between it and etcd closes every connection and
// refuses new ones) instead of frozen.
func TestCutOffOwnerStopsItsApplications(t *testing.T) {
	c := newFenceCluster(t)
	u, err := url.Parse(c.etcd)
	if err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, u.Host)
	c.etcdFor = map[string]string{"node1": "https://" + p.addr()}
	holdFault(t, c, func() { p.cut(true) }, func() { p.cut(false) })
}

// TestKilledClusterdLeavesNoProcess: kill -9 of clusterd while a WASM
// resource runs a child (which starts a grandchild in a session of its
// own), then a restart: nothing of the previous run survives it. With
// the keeper alive it kills them when clusterd dies; with the keeper
// killed too, the restarted clusterd kills them before it joins.
func TestKilledClusterdLeavesNoProcess(t *testing.T) {
	for _, killKeeper := range []bool{false, true} {
		t.Run(fmt.Sprintf("keeper killed too=%v", killKeeper), func(t *testing.T) {
			c := newFenceCluster(t)
			c.start("node1")
			c.waitGroups("node1")
			waitFor(t, "both applications and their grandchildren to run", 30*time.Second, func() bool {
				return c.running("plugin") == 2 && c.running("wasm") == 2
			})
			clusterd := c.nodes["node1"].cmd.Process.Pid
			if killKeeper {
				k := keeperOf(clusterd)
				if k == 0 {
					t.Fatal("no keeper process among clusterd's children")
				}
				if err := syscall.Kill(k, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			t0 := time.Now()
			c.kill("node1")
			if killKeeper {
				// The grandchildren escaped everything but the tracking
				// records: they run until clusterd starts again.
				time.Sleep(300 * time.Millisecond)
				if p, w := c.running("plugin"), c.running("wasm"); p == 0 || w == 0 {
					t.Fatalf("with clusterd and its keeper dead, %d go-plugin and %d WASM grandchildren still run; want at least one of each for the restart to kill", p, w)
				}
			}
			c.start("node1")
			c.waitGroups("node1")
			waitFor(t, "the restarted node's applications", 30*time.Second, func() bool {
				return c.running("plugin") == 2 && c.running("wasm") == 2
			})
			gaps := c.checkOrder(t0)
			t.Logf("gaps: go-plugin %s, WASM %s", gaps["plugin"].Round(time.Millisecond), gaps["wasm"].Round(time.Millisecond))
		})
	}
}

// keeperOf finds the keeper among clusterd's children.
func keeperOf(clusterd int) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !strings.HasSuffix(string(b), "\x00keeper\x00") {
			continue
		}
		st, _ := os.ReadFile(filepath.Join(d, "stat"))
		s := string(st)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if fs := strings.Fields(s[i+1:]); len(fs) > 1 && fs[1] == strconv.Itoa(clusterd) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			return pid
		}
	}
	return 0
}

// cutProxy forwards TCP to an upstream address until cut: then it closes
// every connection and refuses new ones, as a lost network would.
type cutProxy struct {
	l        net.Listener
	upstream string
	mu       sync.Mutex
	isCut    bool
	conns    map[net.Conn]bool
}

func newCutProxy(t *testing.T, upstream string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, upstream: upstream, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { l.Close(); p.cut(true) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }

func (p *cutProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.isCut {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.isCut {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	go func() { io.Copy(u, c); u.Close(); c.Close() }()
	io.Copy(c, u)
	c.Close()
	u.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

func (p *cutProxy) cut(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = on
	if on {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}
