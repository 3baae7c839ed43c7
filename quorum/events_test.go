package quorum_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum"
)

func TestEventsAppendListWatchTrim(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch := s.WatchEvents(wctx)
	base := time.Now().Add(-time.Hour)
	for i := range 20 {
		e := quorum.Event{Time: base.Add(time.Duration(i) * time.Minute), Node: "n1", Kind: "test", Subject: fmt.Sprint(i), Message: "m"}
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case e := <-watch:
		if e.Subject != "0" {
			t.Fatalf("first watched event %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no watched event")
	}
	all, err := s.Events(ctx, time.Time{}, 0)
	if err != nil || len(all) != 20 {
		t.Fatalf("got %d events, %v", len(all), err)
	}
	for i, e := range all {
		if e.Subject != fmt.Sprint(i) {
			t.Fatalf("event %d out of order: %+v", i, e)
		}
	}
	since, _ := s.Events(ctx, base.Add(15*time.Minute), 3)
	if len(since) != 3 || since[0].Subject != "15" {
		t.Fatalf("since: %+v", since)
	}
	// Age: everything older than 50 minutes goes (events 0..9).
	n, err := s.TrimEvents(ctx, quorum.Retention{MaxAge: 50*time.Minute + 30*time.Second})
	if err != nil || n != 10 {
		t.Fatalf("trim by age removed %d, %v", n, err)
	}
	// Count: keep the newest 4.
	n, err = s.TrimEvents(ctx, quorum.Retention{MaxEntries: 4})
	if err != nil || n != 6 {
		t.Fatalf("trim by count removed %d, %v", n, err)
	}
	left, _ := s.Events(ctx, time.Time{}, 0)
	if len(left) != 4 || left[0].Subject != "16" || left[3].Subject != "19" {
		t.Fatalf("left: %+v", left)
	}
	if n, _ := s.TrimEvents(ctx, quorum.Retention{MaxEntries: 4}); n != 0 {
		t.Fatalf("trim within bound removed %d", n)
	}
}
