package wasm

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm/abi"
)

// Causes of an interrupted call.
var (
	errTerminated    = errors.New("interrupted by Terminate")
	errClosing       = errors.New("interrupted by Close")
	errDriverClosing = errors.New("interrupted: the WASM driver is closing")
	errDeadlockCause = errors.New("DeadlockTimeout exceeded")
)

// instance is one opened resource: the current module instance (live), the
// resource's child processes, and the lock that serializes calls.
type instance struct {
	d       *Driver
	mt      *moduleType
	spec    plugins.ResourceSpec
	ref     model.Ref
	payload []byte // the encoded Open request
	procs   *procTable
	files   *capFS // the granted directories; closed with the resource
	config  wazero.ModuleConfig

	sem         chan struct{} // held by the call in progress
	busy        atomic.Pointer[callState]
	terminating atomic.Int32 // Terminates waiting for sem
	closed      atomic.Bool

	// Guarded by sem.
	timer  *time.Timer // DeadlockTimeout of the call in progress
	cur    *live
	opened bool // the guest's Open succeeded at least once
}

var _ plugins.Instance = (*instance)(nil)

// live is one module instance holding the resource.
type live struct {
	mod    api.Module
	handle int32
	fns    [entryCount]api.Function // the health checks' (fn)
	stack  [3]uint64
	stderr *stdioLog
}

// fn is the function of entry point e. Each function costs wazero a call
// engine with a stack of its own (10 KiB), so only the health checks, which
// run every few seconds for the resource's life, keep theirs; Open, Online
// and the rest are called a few times in a life and take a fresh one each
// time. Calls are serialized per instance (callLocked), so this needs no
// lock.
func (l *live) fn(e entry) api.Function {
	if f := l.fns[e]; f != nil {
		return f
	}
	f := l.mod.ExportedFunction(entryExports[e])
	if e == entryLooksAlive || e == entryIsAlive {
		l.fns[e] = f
	}
	return f
}

func newInstance(d *Driver, mt *moduleType, r plugins.ResourceSpec) (*instance, error) {
	payload, err := abi.EncodeOpen(sdk.OpenRequest{ID: r.ID, Name: r.Name, Properties: r.Properties})
	if err != nil {
		return nil, fmt.Errorf("wasm: opening %q: %w", r.Name, err)
	}
	in := &instance{
		d: d, mt: mt, spec: r, ref: model.Ref{ID: r.ID, Name: r.Name}, payload: payload,
		sem: make(chan struct{}, 1),
	}
	in.procs = newProcTable(in)
	cfs, err := newCapFS(in, mt.spec.Dirs)
	if err != nil {
		return nil, fmt.Errorf("%w: wasm: type %q: %w", plugins.ErrCapability, mt.spec.Name, err)
	}
	in.files = cfs
	fsc := wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(cfs, "/")
	in.config = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // _initialize is called explicitly, under the call's deadline
		WithArgs(mt.spec.Name).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(in.nanosleep).
		WithOsyield(runtime.Gosched).
		WithRandSource(crand.Reader).
		WithFSConfig(fsc)
	return in, nil
}

// callKey finds the callState in the context host functions receive.
type callKey struct{}

// callState is one call into the guest, and its context: it ends when the
// caller's context ends, at DeadlockTimeout, or when the call is
// interrupted. Host functions find it in the context they receive.
type callState struct {
	parent      context.Context
	in          *instance
	deadline    time.Time // the earlier of the caller's deadline and DeadlockTimeout
	hasDeadline bool
	// deadlockAt is when DeadlockTimeout ends the call, if it does (zero
	// when the caller's deadline comes first or there is none).
	deadlockAt time.Time
	done       chan struct{}
	stopParent func() bool

	mu    sync.Mutex
	err   error // context.Canceled or context.DeadlineExceeded once done
	cause error // why: errTerminated, errDeadlockCause, the caller's cause…

	input   []byte
	inPos   int
	output  []byte
	errMsg  string
	needed  int
	lastErr string
}

var _ context.Context = (*callState)(nil)

// Deadline implements context.Context.
func (cs *callState) Deadline() (time.Time, bool) { return cs.deadline, cs.hasDeadline }

// Done implements context.Context.
func (cs *callState) Done() <-chan struct{} { return cs.done }

// Err implements context.Context.
func (cs *callState) Err() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.err
}

// Value implements context.Context.
func (cs *callState) Value(key any) any {
	if key == (callKey{}) {
		return cs
	}
	return cs.parent.Value(key)
}

// cancel ends the call's context with cause (the first cause wins).
func (cs *callState) cancel(cause error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.err != nil {
		return
	}
	cs.cause, cs.err = cause, context.Canceled
	if errors.Is(cause, errDeadlockCause) || errors.Is(cause, context.DeadlineExceeded) {
		cs.err = context.DeadlineExceeded
	}
	close(cs.done)
}

// why returns the cause of the end of the call, or nil.
func (cs *callState) why() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.cause
}

func (in *instance) acquire(ctx context.Context) error {
	select {
	case in.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wasm: %q is busy: %w", in.ref.Name, ctx.Err())
	}
}

func (in *instance) unlock() { <-in.sem }

// begin starts a call. One timer per instance, re-armed for each call,
// enforces DeadlockTimeout: health checks run often, and a context with a
// timer of its own per call would cost more than the guest's work.
func (in *instance) begin(ctx context.Context) (*callState, func()) {
	cs := &callState{parent: ctx, in: in, done: make(chan struct{})}
	cs.deadline, cs.hasDeadline = ctx.Deadline()
	if t := in.spec.DeadlockTimeout; t > 0 {
		at := time.Now().Add(t)
		if !cs.hasDeadline || at.Before(cs.deadline) {
			cs.deadline, cs.hasDeadline, cs.deadlockAt = at, true, at
		}
	}
	if ctx.Done() != nil {
		cs.stopParent = context.AfterFunc(ctx, func() { cs.cancel(context.Cause(ctx)) })
	}
	in.busy.Store(cs)
	if in.terminating.Load() > 0 {
		cs.cancel(errTerminated)
	}
	if !cs.deadlockAt.IsZero() {
		if in.timer == nil {
			in.timer = time.AfterFunc(time.Until(cs.deadlockAt), in.deadlineReached)
		} else {
			in.timer.Reset(time.Until(cs.deadlockAt))
		}
	}
	return cs, func() {
		in.busy.Store(nil)
		if !cs.deadlockAt.IsZero() {
			in.timer.Stop()
		}
		if cs.stopParent != nil {
			cs.stopParent()
		}
		cs.cancel(context.Canceled)
	}
}

// deadlineReached is the instance's DeadlockTimeout timer. A late firing
// for a call that has ended finds the next call before its own deadline
// and leaves it alone.
func (in *instance) deadlineReached() {
	if cs := in.busy.Load(); cs != nil && !cs.deadlockAt.IsZero() && !time.Now().Before(cs.deadlockAt) {
		cs.cancel(errDeadlockCause)
	}
}

// interrupt ends the call in progress, if any, with cause.
func (in *instance) interrupt(cause error) {
	if cs := in.busy.Load(); cs != nil {
		cs.cancel(cause)
	}
}

// nanosleep is the guest's sleep (WASI poll_oneoff): real, and cut short
// when the call ends, so an interrupted guest wakes to be stopped.
func (in *instance) nanosleep(ns int64) {
	if ns <= 0 {
		return
	}
	var done <-chan struct{}
	if cs := in.busy.Load(); cs != nil {
		done = cs.Done()
	}
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// call makes one call of e, serialized with every other call.
func (in *instance) call(ctx context.Context, e entry, input []byte, args ...uint64) (int32, *callState, error) {
	if err := in.acquire(ctx); err != nil {
		return 0, nil, err
	}
	defer in.unlock()
	return in.callLocked(ctx, e, input, args...)
}

func (in *instance) callLocked(ctx context.Context, e entry, input []byte, args ...uint64) (int32, *callState, error) {
	if in.closed.Load() {
		return 0, nil, fmt.Errorf("%w: wasm: %s of %q: the resource is closed", plugins.ErrPluginExited, e, in.ref.Name)
	}
	cs, end := in.begin(ctx)
	defer end()
	reopen := in.cur == nil && in.opened
	l, err := in.ensureLive(ctx, cs)
	if err != nil {
		if reopen {
			err = fmt.Errorf("wasm: opening %q again in a fresh instance for %s: %w", in.ref.Name, e, err)
		}
		return 0, cs, err
	}
	if e == entryOpen {
		return l.handle, cs, nil
	}
	cs.input = input
	l.stack[0] = uint64(uint32(l.handle))
	copy(l.stack[1:], args)
	if err := l.fn(e).CallWithStack(cs, l.stack[:]); err != nil {
		return 0, cs, in.crash(ctx, cs, l, e.String(), err)
	}
	if l.mod.IsClosed() { // the deadline fired as the call returned: the result stands
		in.discard(l)
	}
	return int32(uint32(l.stack[0])), cs, nil
}

// ensureLive returns the current module instance, instantiating the module
// and opening the resource in it when there is none.
func (in *instance) ensureLive(ctx context.Context, cs *callState) (*live, error) {
	if in.cur != nil {
		return in.cur, nil
	}
	mt := in.mt
	l := &live{stderr: newStdioLog(in, sdk.LevelWarn, "stderr")}
	cfg := in.config.WithStdout(newStdioLog(in, sdk.LevelInfo, "stdout")).WithStderr(l.stderr)
	alloc := experimental.MemoryAllocator(memoryAllocator)
	if mt.image != nil {
		alloc = mt.image.allocator()
	}
	mod, err := in.d.rt.InstantiateModule(experimental.WithMemoryAllocator(cs, alloc), mt.compiled, cfg)
	if err != nil {
		if cs.Err() != nil {
			return nil, in.interrupted(ctx, cs, "instantiation")
		}
		return nil, fmt.Errorf("%w: wasm: type %q: instantiating %s: %w", plugins.ErrBadModule, mt.spec.Name, mt.spec.Path, err)
	}
	l.mod = mod
	if mt.hasInit {
		if err := mod.ExportedFunction(abi.ExportInitialize).CallWithStack(cs, nil); err != nil {
			err = in.crash(ctx, cs, l, abi.ExportInitialize, err)
			if cs.Err() == nil {
				err = fmt.Errorf("%w: %w", plugins.ErrBadModule, err)
			}
			return nil, err
		}
	}
	if err := mod.ExportedFunction(abi.ExportABIVersion).CallWithStack(cs, l.stack[:]); err != nil {
		return nil, in.crash(ctx, cs, l, abi.ExportABIVersion, err)
	}
	if v := int32(uint32(l.stack[0])); v != abi.Version {
		in.discard(l)
		return nil, fmt.Errorf("%w: wasm: type %q: %s implements resmon ABI version %d; this host implements version %d",
			plugins.ErrBadModule, mt.spec.Name, mt.spec.Path, v, abi.Version)
	}
	cs.input, cs.inPos = in.payload, 0
	l.stack[0] = uint64(len(in.payload))
	if err := l.fn(entryOpen).CallWithStack(cs, l.stack[:]); err != nil {
		return nil, in.crash(ctx, cs, l, entryOpen.String(), err)
	}
	h := int32(uint32(l.stack[0]))
	if h <= 0 {
		in.discard(l)
		if h == 0 {
			return nil, fmt.Errorf("%w: wasm: type %q: %s returned handle 0 (want > 0, or a status < 0)", plugins.ErrBadModule, mt.spec.Name, abi.ExportOpen)
		}
		return nil, cs.guestError(h)
	}
	l.handle = h
	in.cur = l
	in.opened = true
	return l, nil
}

// discard closes l and forgets it; the next call instantiates again.
func (in *instance) discard(l *live) {
	if in.cur == l {
		in.cur = nil
	}
	if l.mod != nil {
		_ = l.mod.Close(context.Background())
	}
}

// crash handles a failed call into l: the instance is discarded, and the
// error says why the call ended.
func (in *instance) crash(ctx context.Context, cs *callState, l *live, what string, err error) error {
	in.discard(l)
	if cs.Err() != nil {
		return in.interrupted(ctx, cs, what)
	}
	detail := l.stderr.lastProblem()
	if detail != "" {
		detail = " (guest stderr: " + detail + ")"
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%w: wasm: %s of %q: the guest exited with code %d%s; the instance was discarded",
			plugins.ErrPluginExited, what, in.ref.Name, exit.ExitCode(), detail)
	}
	return fmt.Errorf("%w: wasm: %s of %q trapped: %s%s; the instance was discarded",
		plugins.ErrPluginExited, what, in.ref.Name, firstLine(err.Error()), detail)
}

// interrupted explains a call whose context ended.
func (in *instance) interrupted(ctx context.Context, cs *callState, what string) error {
	cause := cs.why()
	switch {
	case errors.Is(cause, errDeadlockCause):
		return fmt.Errorf("%w: wasm: %s of %q did not return within DeadlockTimeout %s; the instance was discarded",
			plugins.ErrDeadlock, what, in.ref.Name, in.spec.DeadlockTimeout)
	case errors.Is(cause, errTerminated), errors.Is(cause, errClosing), errors.Is(cause, errDriverClosing):
		return fmt.Errorf("%w: wasm: %s of %q %s; the instance was discarded", plugins.ErrPluginExited, what, in.ref.Name, cause)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: wasm: %s of %q did not return by the caller's deadline; the instance was discarded: %w",
			plugins.ErrDeadlock, what, in.ref.Name, ctx.Err())
	}
	return fmt.Errorf("%w: wasm: %s of %q cancelled; the instance was discarded: %w", plugins.ErrPluginExited, what, in.ref.Name, context.Cause(ctx))
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// guestError is the error of a negative status an export returned. A guest
// that gave up because its context reached DeadlockTimeout still exceeded
// it: the error matches plugins.ErrDeadlock too (the instance is kept, as
// the guest returned in order).
func (cs *callState) guestError(res int32) error {
	err := abi.ErrorOf(abi.Status(res), cs.errMsg, cs.needed)
	if err != nil && (errors.Is(cs.why(), errDeadlockCause) || !cs.deadlockAt.IsZero() && !time.Now().Before(cs.deadlockAt)) {
		err = fmt.Errorf("%w: wasm: %q gave up at DeadlockTimeout %s: %w", plugins.ErrDeadlock, cs.in.ref.Name, cs.in.spec.DeadlockTimeout, err)
	}
	return err
}

func (in *instance) open(ctx context.Context) error {
	_, _, err := in.call(ctx, entryOpen, nil)
	return err
}

func (in *instance) status(ctx context.Context, e entry) error {
	res, cs, err := in.call(ctx, e, nil)
	if err != nil {
		return err
	}
	return cs.guestError(res)
}

func (in *instance) health(ctx context.Context, e entry) (bool, error) {
	res, cs, err := in.call(ctx, e, nil)
	if err != nil {
		return false, err
	}
	if res < 0 {
		return false, cs.guestError(res)
	}
	return res != 0, nil
}

// Online implements plugins.Instance.
func (in *instance) Online(ctx context.Context) error { return in.status(ctx, entryOnline) }

// Offline implements plugins.Instance.
func (in *instance) Offline(ctx context.Context) error { return in.status(ctx, entryOffline) }

// LooksAlive implements plugins.Instance.
func (in *instance) LooksAlive(ctx context.Context) (bool, error) {
	return in.health(ctx, entryLooksAlive)
}

// IsAlive implements plugins.Instance.
func (in *instance) IsAlive(ctx context.Context) (bool, error) { return in.health(ctx, entryIsAlive) }

// Control implements plugins.Instance.
func (in *instance) Control(ctx context.Context, code sdk.ControlCode, input []byte) ([]byte, error) {
	if code.IsCheckpointCode() {
		return nil, fmt.Errorf("%w: %s is answered by the host (Services.Control), not by the resource", sdk.ErrInvalidParameter, code)
	}
	if !in.mt.hasCtl {
		return nil, fmt.Errorf("%w: %s: type %q exports no %s", sdk.ErrInvalidFunction, code, in.mt.spec.Name, abi.ExportControl)
	}
	if len(input) > abi.MaxPayload {
		return nil, fmt.Errorf("%w: control input of %d bytes is over the %d-byte limit", sdk.ErrInvalidParameter, len(input), abi.MaxPayload)
	}
	res, cs, err := in.call(ctx, entryControl, input, uint64(uint32(code)), uint64(len(input)))
	if err != nil {
		return nil, err
	}
	if res < 0 {
		return nil, cs.guestError(res)
	}
	return cs.output, nil
}

// Terminate implements plugins.Instance. It interrupts a call in progress,
// calls the guest's terminate (in a fresh instance if the call had to be
// interrupted) and kills the resource's child processes.
func (in *instance) Terminate(ctx context.Context) error {
	in.terminating.Add(1)
	in.interrupt(errTerminated)
	err := in.acquire(ctx)
	in.terminating.Add(-1)
	if err != nil {
		return errors.Join(err, in.procs.killAll(ctx))
	}
	defer in.unlock()
	var gerr error
	if !in.closed.Load() {
		res, cs, err := in.callLocked(ctx, entryTerminate, nil)
		if gerr = err; err == nil {
			gerr = cs.guestError(res)
		}
	}
	return errors.Join(gerr, in.procs.killAll(ctx))
}

// Close implements plugins.Instance: the guest's close runs (when an
// instance holds the resource), then child processes are killed and the
// instance is released. Past ctx's end, a call still in progress is
// interrupted.
func (in *instance) Close(ctx context.Context) error {
	if err := in.acquire(ctx); err != nil {
		in.abandon(context.WithoutCancel(ctx), errClosing)
		in.d.untrack(in)
		return err
	}
	defer in.unlock()
	if in.closed.Load() {
		return nil
	}
	var gerr error
	if in.cur != nil {
		res, cs, err := in.callLocked(ctx, entryClose, nil)
		if gerr = err; err == nil {
			gerr = cs.guestError(res)
		}
	}
	in.closed.Store(true)
	if in.cur != nil {
		in.discard(in.cur)
	}
	in.files.close()
	in.d.untrack(in)
	return errors.Join(gerr, in.procs.close(ctx))
}

// release discards an instance whose Open failed.
func (in *instance) release(ctx context.Context) {
	in.closed.Store(true)
	if in.cur != nil {
		in.discard(in.cur)
	}
	in.files.close()
	_ = in.procs.close(ctx)
}

// abandon gives the instance up without waiting for the call in progress:
// it is interrupted (and discards its module), child processes are killed.
func (in *instance) abandon(ctx context.Context, cause error) {
	in.closed.Store(true)
	in.interrupt(cause)
	_ = in.procs.close(ctx)
}
