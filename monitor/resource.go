package monitor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk"
)

// Errors of the resource state machine.
var (
	// ErrPendingTimeout reports an Online or Offline that made no progress
	// report for PendingTimeout; the resource was terminated.
	ErrPendingTimeout = errors.New("monitor: no progress within PendingTimeout")
	// ErrNotOnline reports an operation that needs the resource online.
	ErrNotOnline = errors.New("monitor: resource is not online")
	// ErrBusy reports an entry point refused because another is in flight.
	ErrBusy = errors.New("monitor: resource is busy with another operation")
)

// Failure says why a resource failed; the group decides what follows.
type Failure struct {
	Resource string // name
	State    model.ResourceState
	Err      error
	At       time.Time
}

// Resource drives one opened resource through its states on this node:
// Online and Offline with PendingTimeout measured between progress reports,
// Terminate at any time, and health polling while online.
//
// The entry points Online, Offline and Close are called by the group, one at
// a time; Terminate and Progress may be called from anywhere.
type Resource struct {
	rec      model.Resource
	inst     plugins.Instance
	log      hclog.Logger
	onState  func(*Resource, model.ResourceState)
	onFail   func(Failure)
	obs      Observer
	progress chan struct{} // one slot: a pending report

	mu         sync.Mutex
	state      model.ResourceState
	healthStop context.CancelFunc
	healthDone chan struct{}
}

// ResourceConfig wires a Resource.
type ResourceConfig struct {
	Record   model.Resource
	Instance plugins.Instance
	Log      hclog.Logger
	// OnState is told every state change (for publishing); it must not block.
	OnState func(*Resource, model.ResourceState)
	// OnFailure is told when a resource that was online fails its health
	// checks; it runs on its own goroutine.
	OnFailure func(Failure)
	// Observer is told of every entry-point call (may be nil).
	Observer Observer
}

// NewResource wraps an opened instance; the resource starts Offline.
func NewResource(c ResourceConfig) *Resource {
	if c.Log == nil {
		c.Log = hclog.NewNullLogger()
	}
	if c.OnState == nil {
		c.OnState = func(*Resource, model.ResourceState) {}
	}
	if c.OnFailure == nil {
		c.OnFailure = func(Failure) {}
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return &Resource{
		rec: c.Record, inst: c.Instance, log: c.Log.With("resource", c.Record.Name),
		onState: c.OnState, onFail: c.OnFailure, obs: c.Observer, progress: make(chan struct{}, 1), state: model.ResourceOffline,
	}
}

// Name is the resource's name.
func (r *Resource) Name() string { return r.rec.Name }

// ID is the resource's GUID.
func (r *Resource) ID() string { return r.rec.ID }

// Record is the resource's database record.
func (r *Resource) Record() model.Resource { return r.rec }

// State is the current state.
func (r *Resource) State() model.ResourceState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

func (r *Resource) setState(s model.ResourceState) {
	r.mu.Lock()
	old := r.state
	r.state = s
	r.mu.Unlock()
	if old != s {
		r.log.Debug("state", "from", old, "to", s)
		r.onState(r, s)
	}
}

// Progress records a progress report of a pending Online or Offline: it
// restarts the PendingTimeout clock.
func (r *Resource) Progress() {
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

// pending runs call with PendingTimeout measured between progress reports.
// On a timeout it terminates the resource and returns ErrPendingTimeout.
func (r *Resource) pending(ctx context.Context, what string, call func(context.Context) error) error {
	timeout := r.rec.Properties.PendingTimeout.D()
	// Drain a stale report left from an earlier call.
	select {
	case <-r.progress:
	default:
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		start := time.Now()
		err := call(cctx)
		r.obs.EntryPoint(r.rec.Type, what, time.Since(start), err)
		done <- err
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	// A long entry point is never silent: what is waited on, and how long
	// until PendingTimeout ends it, every waitLogInterval.
	start, last := time.Now(), time.Now()
	waiting := time.NewTicker(waitLogInterval)
	defer waiting.Stop()
	for {
		select {
		case <-waiting.C:
			r.log.Info("still waiting for an entry point", "entry", what, "running", time.Since(start).Round(time.Second),
				"pending_timeout_in", (timeout - time.Since(last)).Round(time.Second))
		case err := <-done:
			return err
		case <-r.progress:
			if !timer.Stop() {
				<-timer.C
			}
			timer.Reset(timeout)
			last = time.Now()
		case <-timer.C:
			r.log.Warn("entry point made no progress within PendingTimeout: terminating", "entry", what, "pending_timeout", timeout)
			terr := r.terminate(context.WithoutCancel(ctx))
			cancel()
			<-done // Terminate makes a well-behaved entry point return
			return errors.Join(fmt.Errorf("%w: %s of resource %q after %s", ErrPendingTimeout, what, r.rec.Name, timeout), terr)
		case <-ctx.Done():
			terr := r.terminate(context.WithoutCancel(ctx))
			<-done
			return errors.Join(ctx.Err(), terr)
		}
	}
}

// waitLogInterval is how often a long entry point is logged as still
// running.
const waitLogInterval = 10 * time.Second

// Online brings the resource online and starts health polling. On failure
// the resource is Failed (and terminated) and the error says why.
func (r *Resource) Online(ctx context.Context) error {
	if s := r.State(); s == model.ResourceOnline {
		return nil
	}
	r.setState(model.ResourceOnlinePending)
	if err := r.pending(ctx, "Online", r.inst.Online); err != nil {
		r.setState(model.ResourceFailed)
		_ = r.terminate(context.WithoutCancel(ctx))
		return fmt.Errorf("bringing resource %q online: %w", r.rec.Name, err)
	}
	r.setState(model.ResourceOnline)
	r.startHealth()
	return nil
}

// Offline stops health polling and takes the resource offline; past
// PendingTimeout it is terminated and left Failed.
func (r *Resource) Offline(ctx context.Context) error {
	r.stopHealth()
	if s := r.State(); s == model.ResourceOffline {
		return nil
	}
	r.setState(model.ResourceOfflinePending)
	if err := r.pending(ctx, "Offline", r.inst.Offline); err != nil {
		r.setState(model.ResourceFailed)
		return fmt.Errorf("taking resource %q offline: %w", r.rec.Name, err)
	}
	r.setState(model.ResourceOffline)
	return nil
}

// Terminate takes the resource down at once. It may run while another entry
// point is in flight. The resource ends Failed if it was failing, else Offline.
func (r *Resource) Terminate(ctx context.Context) error {
	r.stopHealth()
	err := r.terminate(ctx)
	if r.State() != model.ResourceFailed {
		r.setState(model.ResourceOffline)
	}
	return err
}

func (r *Resource) terminate(ctx context.Context) error {
	start := time.Now()
	err := r.inst.Terminate(ctx)
	r.obs.EntryPoint(r.rec.Type, "Terminate", time.Since(start), err)
	if err != nil {
		r.log.Warn("Terminate failed", "error", err)
		return fmt.Errorf("terminating resource %q: %w", r.rec.Name, err)
	}
	return nil
}

// Fail marks an online resource Failed and terminates it, as a failed
// health check does (also used by operators to test policies).
func (r *Resource) Fail(reason error) {
	r.stopHealth()
	r.fail(reason)
}

func (r *Resource) fail(reason error) {
	r.mu.Lock()
	was := r.state
	r.mu.Unlock()
	if was == model.ResourceFailed {
		return
	}
	r.log.Error("resource failed", "error", reason)
	r.setState(model.ResourceFailed)
	tctx, cancel := context.WithTimeout(context.Background(), r.rec.Properties.PendingTimeout.D())
	_ = r.terminate(tctx)
	cancel()
	r.onFail(Failure{Resource: r.rec.Name, State: model.ResourceFailed, Err: reason, At: time.Now()})
}

// setRecord takes a changed database record of the resource (common
// properties such as poll intervals or PendingTimeout): the next entry
// point uses it, and health polling restarts with the new intervals.
// Private properties reach the type only at its next Open. Call it from
// the goroutine that drives the resource.
func (r *Resource) setRecord(rec model.Resource) {
	r.mu.Lock()
	polling := r.healthStop != nil
	r.mu.Unlock()
	if polling {
		r.stopHealth()
	}
	r.mu.Lock()
	r.rec = rec
	r.mu.Unlock()
	if polling && r.State() == model.ResourceOnline {
		r.startHealth()
	}
}

// suspendHealth stops health polling for maintenance; the resource stays
// in its state. Call it from the goroutine that drives the resource.
func (r *Resource) suspendHealth() { r.stopHealth() }

// resumeHealth polls health again after maintenance if the resource is
// online.
func (r *Resource) resumeHealth() {
	r.mu.Lock()
	polling := r.healthStop != nil
	r.mu.Unlock()
	if !polling && r.State() == model.ResourceOnline {
		r.startHealth()
	}
}

// Control sends a control code to the instance. Health polling pauses
// while it runs: the instance takes one call at a time besides Terminate.
// Call it from the goroutine that drives the resource.
func (r *Resource) Control(ctx context.Context, code sdk.ControlCode, in []byte) ([]byte, error) {
	r.mu.Lock()
	polling := r.healthStop != nil
	r.mu.Unlock()
	if polling {
		r.stopHealth()
	}
	cctx, cancel := context.WithTimeout(ctx, r.rec.Properties.DeadlockTimeout.D())
	start := time.Now()
	out, err := r.inst.Control(cctx, code, in)
	r.obs.EntryPoint(r.rec.Type, "Control", time.Since(start), err)
	cancel()
	if polling && r.State() == model.ResourceOnline {
		r.startHealth()
	}
	return out, err
}

// markFailed marks a resource that could not be started (its checkpoints
// could not be restored) Failed; no entry point ran, so none is called.
func (r *Resource) markFailed() {
	r.stopHealth()
	r.setState(model.ResourceFailed)
}

// clearFailure makes a Failed resource Offline (an operator took it
// offline); it was terminated when it failed. Call it from the goroutine
// that drives the resource.
func (r *Resource) clearFailure() {
	r.stopHealth()
	if r.State() == model.ResourceFailed {
		r.setState(model.ResourceOffline)
	}
}

// Close releases the instance; the resource must be offline or failed.
func (r *Resource) Close(ctx context.Context) error {
	r.stopHealth()
	return r.inst.Close(ctx)
}

func (r *Resource) startHealth() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.mu.Lock()
	r.healthStop, r.healthDone = cancel, done
	r.mu.Unlock()
	go func() {
		defer close(done)
		r.healthLoop(ctx)
	}()
}

func (r *Resource) stopHealth() {
	r.mu.Lock()
	stop, done := r.healthStop, r.healthDone
	r.healthStop, r.healthDone = nil, nil
	r.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// healthLoop polls LooksAlive and IsAlive at their intervals. LooksAlive
// false runs IsAlive at once; IsAlive false (or an error such as the host
// process exiting) fails the resource.
func (r *Resource) healthLoop(ctx context.Context) {
	p := r.rec.Properties
	looks := time.NewTicker(p.LooksAlivePollInterval.D())
	defer looks.Stop()
	is := time.NewTicker(p.IsAlivePollInterval.D())
	defer is.Stop()
	// Health calls are bounded by the deadlock timeout (the plugin layer
	// enforces it too); a check that cannot answer counts as a failure.
	check := func(entry string, f func(context.Context) (bool, error)) (bool, error) {
		cctx, cancel := context.WithTimeout(ctx, p.DeadlockTimeout.D())
		defer cancel()
		start := time.Now()
		ok, err := f(cctx)
		r.obs.EntryPoint(r.rec.Type, entry, time.Since(start), err)
		return ok, err
	}
	for {
		runIsAlive := false
		select {
		case <-ctx.Done():
			return
		case <-looks.C:
			ok, err := check("LooksAlive", r.inst.LooksAlive)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				go r.fail(fmt.Errorf("LooksAlive: %w", err))
				return
			}
			runIsAlive = !ok
		case <-is.C:
			runIsAlive = true
		}
		if runIsAlive {
			ok, err := check("IsAlive", r.inst.IsAlive)
			if ctx.Err() != nil {
				return
			}
			if err != nil || !ok {
				if err == nil {
					err = errors.New("IsAlive returned false")
				}
				go r.fail(fmt.Errorf("health check: %w", err))
				return
			}
		}
	}
}
