package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// live pushes a view to an open page whenever the cluster changes: one
// Server-Sent Event "view" carrying the page's content rendered anew. It
// is sent at once (whatever changed between the page and the stream), then
// after every change etcd reports, a burst of changes coalesced into one.
func (s *Server) live(w http.ResponseWriter, r *http.Request, id identity) {
	v, err := parseView(r.URL.Query().Get("view"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "web: streaming is not supported here", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	ctx := r.Context()
	keepalive := time.NewTicker(20 * time.Second)
	defer keepalive.Stop()
	for {
		next := s.changes.next()
		if err := s.push(ctx, w, id, v); err != nil {
			return
		}
		fl.Flush()
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return
			case <-keepalive.C:
				if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
					return
				}
				fl.Flush()
			case <-next:
				waiting = false
			}
		}
		// A move writes several keys: let the burst settle.
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// push renders v and writes it as one event; a view that cannot be built
// now (etcd unreachable, the group deleted) is sent as an "problem" event.
func (s *Server) push(ctx context.Context, w http.ResponseWriter, id identity, v view) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, body, data, err := s.build(rctx, id, v)
	event := "view"
	var b strings.Builder
	if err == nil {
		err = s.tmpl.ExecuteTemplate(&b, body, data)
	}
	if err != nil {
		event = "problem"
		b.Reset()
		b.WriteString(err.Error())
	}
	return writeEvent(w, event, b.String())
}

// writeEvent writes one Server-Sent Event; data may hold newlines.
func writeEvent(w http.ResponseWriter, event, data string) error {
	var b strings.Builder
	b.WriteString("event: " + event + "\n")
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
	}
	b.WriteString("\n")
	_, err := w.Write([]byte(b.String()))
	return err
}
