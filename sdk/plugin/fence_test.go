package plugin

import (
	"errors"
	"testing"
	"time"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/sdk"
)

func waitChan(t *testing.T, c <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(d):
		t.Fatalf("waited %s for %s", d, what)
	}
}

// TestFenceExpiresUnlessRenewed: the fence fires at the deadline on the
// monotonic clock, not before, unless a later deadline came first; past
// it Online is refused with sdk.ErrFenced until a new deadline arrives.
func TestFenceExpiresUnlessRenewed(t *testing.T) {
	fired := make(chan struct{}, 4)
	var firedAt time.Time
	f := &fence{onExpire: func() { firedAt = time.Now(); fired <- struct{}{} }}
	if _, err := f.check("Online"); err != nil {
		t.Fatalf("without a deadline the plugin runs unfenced: %v", err)
	}
	start := time.Now()
	f.set(pluginproto.ToMonotonic(start.Add(100 * time.Millisecond)))
	// Renewed twice before it passes, once out of order (ignored).
	time.Sleep(50 * time.Millisecond)
	deadline := time.Now().Add(150 * time.Millisecond)
	f.set(pluginproto.ToMonotonic(deadline))
	f.set(pluginproto.ToMonotonic(start.Add(60 * time.Millisecond)))
	if _, err := f.check("Online"); err != nil {
		t.Fatalf("before the deadline: %v", err)
	}
	waitChan(t, fired, 10*time.Second, "the fence to expire")
	if firedAt.Before(deadline) {
		t.Fatalf("expired %s before the renewed deadline", deadline.Sub(firedAt))
	}
	t.Logf("expired %s after the deadline", firedAt.Sub(deadline))
	_, err := f.check("Online")
	if !errors.Is(err, sdk.ErrFenced) {
		t.Fatalf("Online after the deadline: %v, want ErrFenced", err)
	}
	f.set(pluginproto.ToMonotonic(time.Now().Add(time.Hour)))
	epoch, err := f.check("Online")
	if err != nil {
		t.Fatalf("after a new deadline: %v", err)
	}
	if f.lost(epoch) {
		t.Fatal("lost without an expiry")
	}
	select {
	case <-fired:
		t.Fatal("expired twice")
	case <-time.After(50 * time.Millisecond):
	}
}
