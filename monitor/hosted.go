package monitor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/sdk"
)

// Hosted is the node's register of the resources it hosts. Two things must
// reach a resource from outside its group's executor: a fence, which
// terminates every resource of the node at once, and the host services a
// resource calls from its own goroutines (progress reports, the fencing
// token). The executors add and remove entries; nothing else is kept here.
//
// Concurrency: safe for concurrent use. Its lock guards only the register
// and is never held across a call into a resource.
type Hosted struct {
	mu          sync.Mutex
	byID        map[string]hostedEntry
	fenced      bool
	terminating chan struct{} // non-nil while a fence terminates; closed when done
}

type hostedEntry struct {
	r          *Resource
	group      string
	token      int64
	terminated bool // by a fence or a lost tenure: never twice
}

// NewHosted returns an empty register.
func NewHosted() *Hosted { return &Hosted{byID: map[string]hostedEntry{}} }

// add registers r, hosted for group under a tenure with token.
func (h *Hosted) add(group string, token int64, r *Resource) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.byID[r.ID()] = hostedEntry{r: r, group: group, token: token}
}

// remove unregisters r before its instance is closed. It waits for a fence
// termination in progress, so that a Close never overtakes a Terminate.
func (h *Hosted) remove(r *Resource) {
	h.mu.Lock()
	if e, ok := h.byID[r.ID()]; ok && e.r == r {
		delete(h.byID, r.ID())
	}
	wait := h.terminating
	h.mu.Unlock()
	if wait != nil {
		<-wait
	}
}

// reset readies the register for a new session after a fence.
func (h *Hosted) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fenced = false
}

// terminate takes every resource of group ("" for all) down at once,
// concurrently, and returns when every Terminate has returned. For all
// groups it also marks the node fenced: no token is handed out until reset.
func (h *Hosted) terminate(group, why string, log hclog.Logger) {
	h.terminateWhere(func(id string, e hostedEntry) bool { return group == "" || e.group == group }, group == "", why, log)
}

// terminateDeleted takes down at once the hosted resources whose ids are not
// in keep (deleted from the database), even while an entry point of theirs
// is in flight on their group's executor.
func (h *Hosted) terminateDeleted(keep map[string]bool, log hclog.Logger) {
	h.terminateWhere(func(id string, _ hostedEntry) bool { return !keep[id] }, false, "the resource was deleted", log)
}

func (h *Hosted) terminateWhere(match func(string, hostedEntry) bool, fence bool, why string, log hclog.Logger) {
	h.mu.Lock()
	if fence {
		h.fenced = true
	}
	var rs []*Resource
	for id, e := range h.byID {
		if match(id, e) && !e.terminated {
			rs = append(rs, e.r)
			e.terminated = true
			h.byID[id] = e
		}
	}
	done := make(chan struct{})
	prev := h.terminating
	h.terminating = done
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := r.Terminate(ctx); err != nil {
				log.Warn("terminate", "resource", r.Name(), "reason", why, "error", err)
			}
		}()
	}
	wg.Wait()
	if prev != nil {
		<-prev
	}
	h.mu.Lock()
	if h.terminating == done {
		h.terminating = nil
	}
	h.mu.Unlock()
	close(done)
}

// Progress records a progress report of the resource's pending Online or
// Offline: it restarts the PendingTimeout clock. Reports of a resource not
// hosted here are ignored.
func (h *Hosted) Progress(ref model.Ref) {
	h.mu.Lock()
	e, ok := h.byID[ref.ID]
	h.mu.Unlock()
	if ok {
		e.r.Progress()
	}
}

// FencingToken is the fencing token of the tenure hosting the resource; it
// fails with model.ErrFenced when this node does not host it (or fenced).
func (h *Hosted) FencingToken(ref model.Ref) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.byID[ref.ID]; ok && !h.fenced && e.token != 0 {
		return e.token, nil
	}
	return 0, fmt.Errorf("%w: resource %q is not hosted by this node", sdk.ErrFenced, ref.Name)
}

// Online reports whether the resource is hosted here and online.
func (h *Hosted) Online(id string) bool {
	h.mu.Lock()
	e, ok := h.byID[id]
	h.mu.Unlock()
	return ok && !e.terminated && e.r.State() == model.ResourceOnline
}
