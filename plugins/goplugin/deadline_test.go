package goplugin_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resmon/resmon/plugins/goplugin"
	"github.com/resmon/resmon/plugins/proctrack"
	"github.com/resmon/resmon/sdk"
)

// renewer renews the driver's deadline every interval, as clusterd's lease
// renewals do, until stopped.
func renewer(d *goplugin.Driver, ahead, every time.Duration) (stop func() time.Time) {
	done := make(chan struct{})
	var mu sync.Mutex
	var last time.Time
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			dl := time.Now().Add(ahead)
			d.SetDeadline(dl)
			mu.Lock()
			last = dl
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() time.Time {
		close(done)
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// TestPluginTerminatesAtTheDeadline: once the deadline the host handed
// over passes unrenewed (the host is stopped, or cut off), the plugin
// process terminates its resources by itself, with no call from the host,
// and refuses Online until a later deadline comes.
func TestPluginTerminatesAtTheDeadline(t *testing.T) {
	tr, err := proctrack.New(proctrack.Config{Dir: t.TempDir(), Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	e := newEnv(t, func(c *goplugin.Config) { c.Tracker = tr })
	witness := filepath.Join(t.TempDir(), "witness")
	stop := renewer(e.d, 300*time.Millisecond, 50*time.Millisecond)
	in := e.open(t, res("d1", map[string]any{"WitnessFile": witness}))
	if err := in.Online(ctx(t)); err != nil {
		stop()
		t.Fatal(err)
	}
	last := stop()
	var termAt time.Time
	waitFor(t, "the plugin to terminate its resource by itself", func() bool {
		b, _ := os.ReadFile(witness)
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 4 && f[0] == "terminate" {
				var ns int64
				for _, c := range f[3] {
					ns = ns*10 + int64(c-'0')
				}
				termAt = time.Unix(0, ns)
				return true
			}
		}
		return false
	})
	if termAt.Before(last) {
		t.Fatalf("terminated %s before the deadline", last.Sub(termAt))
	}
	t.Logf("terminated %s after the deadline", termAt.Sub(last).Round(time.Microsecond))
	wantIs(t, in.Online(ctx(t)), sdk.ErrFenced)
	e.d.SetDeadline(time.Now().Add(time.Hour))
	waitFor(t, "Online to be accepted again after a renewal", func() bool { return in.Online(ctx(t)) == nil })
}
