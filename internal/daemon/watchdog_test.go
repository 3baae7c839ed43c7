package daemon_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// petLog reads what clusterd writes to a test watchdog device (a FIFO the
// test owns, opened read-write so clusterd's writes never block and it
// never sees a missing reader), with the time of each write.
type petLog struct {
	mu   sync.Mutex
	pets []time.Time
	v    bool // the magic close was written
}

func newPetLog(t *testing.T, path string) *petLog {
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	p := &petLog{}
	go func() {
		b := make([]byte, 64)
		for {
			n, err := f.Read(b)
			if err != nil {
				return
			}
			now := time.Now()
			p.mu.Lock()
			for _, c := range b[:n] {
				if c == 'V' {
					p.v = true
				} else {
					p.pets = append(p.pets, now)
				}
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *petLog) all() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.pets...)
}

func (p *petLog) between(a, b time.Time) int {
	n := 0
	for _, t := range p.all() {
		if !t.Before(a) && t.Before(b) {
			n++
		}
	}
	return n
}

// TestWatchdogPettedOnlyWhileTheLeaseIsConfirmed: the watchdog (here a
// FIFO through the same code as /dev/watchdog) is armed before the node
// acquires its first group and petted at its renewals; cut off from etcd,
// the node stops petting once its last confirmed deadline leaves no room
// for the timeout, so a real watchdog would reset the machine before the
// other node takes the group over; once it is back, petting resumes; a
// clean stop disarms it.
func TestWatchdogPettedOnlyWhileTheLeaseIsConfirmed(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.spec = strings.Replace(c.spec, `preferred_owners = ["node1", "node2", "node3"]`, `preferred_owners = ["node1", "node2"]`, 1)
	c.quorumTOML = `lease_ttl = "3s"` // lease 3 s − margin 600 ms: the default timeout is 2 s
	u, err := url.Parse(c.etcd)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	c.etcdFor = map[string]string{"node1": "https://" + proxy.addr()}
	dev := filepath.Join(t.TempDir(), "watchdog")
	pets := newPetLog(t, dev)
	c.nodeTOML = map[string]string{"node1": fmt.Sprintf("watchdog = %q", dev)}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	owned := make(chan time.Time, 16)
	ownerKey := quorum.NewKeys("fo").Owner("app")
	wch := c.raw.Watch(ctx, ownerKey)
	go func() {
		for wr := range wch {
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut && ev.IsCreate() {
					owned <- time.Now()
				}
			}
		}
	}()
	c.start("node1")
	c.waitStatus("online on node1", onlineOn("node1"))
	firstOwned := <-owned
	first := pets.all()
	if len(first) == 0 || !first[0].Before(firstOwned) {
		t.Fatalf("the watchdog was not armed before the first group was acquired (pets %v, acquired %v)", first, firstOwned)
	}
	c.start("node2")
	waitFor(t, "a few pets at renewals", 10*time.Second, func() bool { return len(pets.all()) >= 3 })

	tCut := time.Now()
	proxy.cut(true)
	c.waitStatus("online on node2", onlineOn("node2"))
	tTaken := <-owned
	budget := 3*time.Second - 600*time.Millisecond
	if rest := time.Until(tCut.Add(budget + 2*time.Second)); rest > 0 {
		time.Sleep(rest)
	}
	var lastPet time.Time
	for _, p := range pets.all() {
		if p.Before(time.Now()) {
			lastPet = p
		}
	}
	if late := pets.between(tCut.Add(budget), time.Now()); late != 0 {
		t.Fatalf("%d pets more than lease_ttl − fence_margin after the cut: the lease could not have been confirmed", late)
	}
	if reset := lastPet.Add(2 * time.Second); !reset.Before(tTaken) {
		t.Fatalf("a watchdog petted last at %s would reset the machine %s after node2 took the group over", lastPet.Format(time.RFC3339Nano), reset.Sub(tTaken))
	} else {
		t.Logf("last pet at cut %+s; a real watchdog would reset node1 %s before node2 acquired the group",
			lastPet.Sub(tCut).Round(time.Millisecond), tTaken.Sub(reset).Round(time.Millisecond))
	}
	tHeal := time.Now()
	proxy.cut(false)
	waitFor(t, "petting to resume after the node rejoined", 30*time.Second, func() bool { return pets.between(tHeal, time.Now().Add(time.Hour)) > 0 })
	c.signal("node1", syscall.SIGTERM)
	<-c.nodes["node1"].exited
	waitFor(t, "the magic close at a clean stop", 10*time.Second, func() bool {
		pets.mu.Lock()
		defer pets.mu.Unlock()
		return pets.v
	})
}

// TestWatchdogRequiredRefusesGroups: with watchdog_mode = "required" and a
// device that is not a watchdog, the node owns nothing (it says why) and
// the group runs on the next node instead.
func TestWatchdogRequiredRefusesGroups(t *testing.T) {
	c := newMPCluster(t, "", "", "")
	c.spec = strings.Replace(c.spec, `preferred_owners = ["node1", "node2", "node3"]`, `preferred_owners = ["node1", "node2"]`, 1)
	c.quorumTOML = `lease_ttl = "3s"`
	dev := filepath.Join(t.TempDir(), "not-a-watchdog")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c.nodeTOML = map[string]string{"node1": fmt.Sprintf("watchdog = %q\nwatchdog_mode = \"required\"", dev)}
	n1 := c.startNoWait("node1")
	waitFor(t, "node1 to refuse groups", 30*time.Second, func() bool {
		return strings.Contains(n1.logs.String(), "refusing to own groups")
	})
	c.start("node2")
	c.waitStatus("online on node2", onlineOn("node2"))
	if st := c.status(); st.Owner != "node2" {
		t.Fatalf("owner %s", st.Owner)
	}
	if !strings.Contains(n1.logs.String(), "not a watchdog device") {
		t.Fatalf("node1's log does not say why:\n%s", n1.logs.String())
	}
}
