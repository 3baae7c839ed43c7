// Package netns builds small networks of Linux network namespaces for
// tests that need real addresses moving between machines: a LAN namespace
// holding a bridge, and hosts, each a namespace whose eth0 is plugged into
// the bridge. Nothing is created in the test's own namespace, so the
// machine's network and firewall are left alone and concurrent tests with
// different prefixes do not meet. It needs root and iproute2; Need skips
// the test otherwise, saying why.
package netns

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Need skips t unless this process may create network namespaces with
// iproute2.
func Need(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (they create namespaces, veth pairs and a bridge)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 is not installed (apt-get install iproute2)")
	}
	probe := fmt.Sprintf("resmon-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	exec.Command("ip", "netns", "del", probe).Run()
}

// LAN is a bridge in a namespace of its own, and the hosts plugged into it.
type LAN struct {
	t      testing.TB
	prefix string
	ns     string

	mu    sync.Mutex
	hosts []*Host
}

// Host is one namespace on the LAN, with eth0 at IP/24.
type Host struct {
	Name string // as given to Add
	NS   string // the namespace's name
	IP   string
	MAC  string // of eth0
}

var seq struct {
	mu sync.Mutex
	n  int
}

// New makes an empty LAN whose namespaces are named after prefix (and this
// process, so concurrent test processes never share one). Everything is
// deleted when the test ends.
func New(t testing.TB, prefix string) *LAN {
	t.Helper()
	Need(t)
	seq.mu.Lock()
	seq.n++
	n := seq.n
	seq.mu.Unlock()
	l := &LAN{t: t, prefix: fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), n)}
	l.ns = l.prefix + "-lan"
	t.Cleanup(l.remove)
	l.must("ip", "netns", "add", l.ns)
	l.must("ip", "-n", l.ns, "link", "add", "br0", "type", "bridge")
	l.must("ip", "-n", l.ns, "link", "set", "br0", "up")
	return l
}

// Prefix is what the LAN's namespace names start with.
func (l *LAN) Prefix() string { return l.prefix }

// Add plugs a new host into the LAN: a namespace with loopback up and eth0
// at ip/24.
func (l *LAN) Add(name, ip string) *Host {
	l.t.Helper()
	h := &Host{Name: name, NS: l.prefix + "-" + name, IP: ip}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	port := fmt.Sprintf("p%d", len(l.hosts))
	l.mu.Unlock()
	l.must("ip", "netns", "add", h.NS)
	l.must("ip", "-n", l.ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	l.must("ip", "-n", l.ns, "link", "set", port, "master", "br0", "up")
	l.must("ip", "-n", h.NS, "link", "set", "lo", "up")
	l.must("ip", "-n", h.NS, "addr", "add", ip+"/24", "dev", "eth0")
	l.must("ip", "-n", h.NS, "link", "set", "eth0", "up")
	out := l.must("ip", "-n", h.NS, "-br", "link", "show", "eth0")
	if f := strings.Fields(out); len(f) >= 3 {
		h.MAC = f[2]
	}
	return h
}

// Command is name with args run inside the host's namespace.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Addrs are the IPv4 addresses on the host's eth0.
func (h *Host) Addrs() ([]string, error) {
	out, err := exec.Command("ip", "-n", h.NS, "-4", "-o", "addr", "show", "dev", "eth0").Output()
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				addrs = append(addrs, strings.SplitN(f[i+1], "/", 2)[0])
			}
		}
	}
	return addrs, nil
}

// Has reports whether ip is on the host's eth0.
func (h *Host) Has(ip string) bool {
	addrs, err := h.Addrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if a == ip {
			return true
		}
	}
	return false
}

// Neighbour is the link-layer address the host's ARP cache holds for ip,
// or "".
func (h *Host) Neighbour(ip string) string {
	out, err := exec.Command("ip", "-n", h.NS, "neigh", "show", ip, "dev", "eth0").Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}

func (l *LAN) must(args ...string) string {
	l.t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// remove deletes the hosts' namespaces and the LAN's; their interfaces go
// with them.
func (l *LAN) remove() {
	l.mu.Lock()
	hosts := l.hosts
	l.mu.Unlock()
	for _, h := range hosts {
		exec.Command("ip", "netns", "del", h.NS).Run()
	}
	exec.Command("ip", "netns", "del", l.ns).Run()
}
