package netns_test

import (
	"strings"
	"testing"

	"github.com/resmon/resmon/testutil/netns"
)

func TestLANConnectsItsHosts(t *testing.T) {
	l := netns.New(t, "nt")
	a, b := l.Add("a", "10.213.9.1"), l.Add("b", "10.213.9.2")
	if a.MAC == "" || a.MAC == b.MAC || !a.Has("10.213.9.1") || a.Has("10.213.9.2") {
		t.Fatalf("hosts: %+v %+v", a, b)
	}
	// A TCP connection to a closed port of b is refused at once when b
	// is reachable (it would time out if it were not).
	out, _ := a.Command("timeout", "10", "bash", "-c", "exec 3<>/dev/tcp/"+b.IP+"/9").CombinedOutput()
	if !strings.Contains(string(out), "Connection refused") {
		t.Fatalf("connecting from a to %s:9: %s", b.IP, out)
	}
	if got := a.Neighbour(b.IP); !strings.EqualFold(got, b.MAC) {
		t.Fatalf("a's ARP cache has %q for b, want %s", got, b.MAC)
	}
}
