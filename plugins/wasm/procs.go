package wasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/proctrack"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm/abi"
)

// procTable is the child processes of one resource. Handles are small
// positive numbers, never reused while the resource is open.
type procTable struct {
	in *instance

	mu    sync.Mutex
	next  int32
	procs map[int32]*child
	unit  *proctrack.Unit // made at the first start when the driver tracks processes
}

type child struct {
	name string
	pid  int
	done chan struct{} // closed when the process has been reaped
	code int           // exit code, -1 when a signal ended it (valid after done)
}

func newProcTable(in *instance) *procTable {
	return &procTable{in: in, procs: map[int32]*child{}}
}

var errNoProcess = &abi.Error{Status: abi.StatusInvalidHandle, Msg: "no such process handle"}

// denied records a capability violation as an event in the node log and
// returns the error the guest gets.
func (in *instance) denied(capability, what string, kv ...any) error {
	kv = append([]any{"event", "capability_denied", "capability", capability}, kv...)
	in.d.cfg.Services.Log(in.ref, sdk.LevelWarn, "capability denied: "+what, kv...)
	return fmt.Errorf("%w: %w: %s (resource %q, type %q)", sdk.ErrAccessDenied, plugins.ErrCapability, what, in.ref.Name, in.mt.spec.Name)
}

// start runs command, which must be on the type's allowlist.
func (t *procTable) start(command string, args []string) (int32, error) {
	in := t.in
	if !slices.Contains(in.mt.spec.Commands, command) {
		return 0, in.denied("exec", fmt.Sprintf("command %q is not among the type's allowed commands", command), "command", command)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if in.closed.Load() {
		return 0, fmt.Errorf("%w: the resource is closed", sdk.ErrAccessDenied)
	}
	if len(t.procs) >= abi.MaxProcesses {
		return 0, &abi.Error{Status: abi.StatusNotEnoughMemory, Msg: fmt.Sprintf("the resource already has %d child processes", len(t.procs))}
	}
	tr := in.d.cfg.Tracker
	if tr != nil && tr.DeadlinePassed() {
		return 0, t.fenced(command)
	}
	if tr != nil && t.unit == nil {
		u, err := tr.NewUnit("wasm "+in.ref.Name+" "+in.ref.ID, proctrack.KillAll)
		if err != nil {
			return 0, fmt.Errorf("starting %s: %w", command, err)
		}
		t.unit = u
	}
	cmd := exec.Command(command, args...)
	cmd.Env = []string{}
	cmd.Dir = "/"
	// Its own process group (a session, when tracked), and SIGKILL the
	// moment clusterd dies: the instance that drove it is gone with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Output reaches the node log through pipes of our own: with plain
	// files, Wait returns when the process exits, not when the last
	// process holding the pipe closes it.
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("starting %s: %w", command, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, fmt.Errorf("starting %s: %w", command, err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if t.unit != nil {
		err = t.unit.Start(cmd)
	} else {
		err = cmd.Start()
	}
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, fmt.Errorf("starting %s: %w", command, err)
	}
	c := &child{name: command, pid: cmd.Process.Pid, done: make(chan struct{})}
	// A child's lines are logged at the level each marks (sdk.LineLevel),
	// as the Generic Application logs its application's.
	for _, s := range []struct {
		r      *os.File
		stream string
	}{{outR, "stdout"}, {errR, "stderr"}} {
		w := newStdioLog(in, sdk.LevelInfo, s.stream)
		w.byLine = true
		w.kv = []any{"pid", c.pid}
		go w.forward(s.r)
	}
	go func() {
		_ = cmd.Wait()
		c.code = cmd.ProcessState.ExitCode()
		close(c.done)
	}()
	t.next++
	t.procs[t.next] = c
	in.d.cfg.Services.Log(in.ref, sdk.LevelInfo, "started child process", "command", command, "pid", c.pid)
	if tr != nil && tr.DeadlinePassed() {
		// clusterd stood still between the check above and the fork: the
		// child must not run on a node that may have lost its groups.
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		return t.next, t.fenced(command)
	}
	return t.next, nil
}

func (t *procTable) fenced(command string) error {
	return fmt.Errorf("%w: not starting %s: the node's self-fencing deadline has passed without renewal (resource %q)", sdk.ErrFenced, command, t.in.ref.Name)
}

func (t *procTable) get(h int32) (*child, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.procs[h]
	if !ok {
		return nil, errNoProcess
	}
	return c, nil
}

// signal sends sig to the process group of h.
func (t *procTable) signal(h, sig int32) error {
	if !abi.AllowedSignal(sig) {
		return fmt.Errorf("%w: signal %d is not one a guest may send", sdk.ErrInvalidParameter, sig)
	}
	c, err := t.get(h)
	if err != nil {
		return err
	}
	select {
	case <-c.done:
		return fmt.Errorf("%w: %s (pid %d) has exited", sdk.ErrNotFound, c.name, c.pid)
	default:
	}
	if err := syscall.Kill(-c.pid, syscall.Signal(sig)); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %s: %w", c.name, err)
	}
	return nil
}

// status reports whether h still runs, and its exit code once it has exited.
func (t *procTable) status(h int32) (running bool, code int, err error) {
	c, err := t.get(h)
	if err != nil {
		return false, 0, err
	}
	select {
	case <-c.done:
		return false, c.code, nil
	default:
		return true, 0, nil
	}
}

// stop kills the process group of h, waits for the process and forgets it.
func (t *procTable) stop(ctx context.Context, h int32) error {
	c, err := t.get(h)
	if err != nil {
		return err
	}
	if err := c.kill(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	delete(t.procs, h)
	t.mu.Unlock()
	return nil
}

func (c *child) kill(ctx context.Context) error {
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s (pid %d) to exit: %w", c.name, c.pid, ctx.Err())
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit 10s after SIGKILL", c.name, c.pid)
	}
}

// killAll kills every child process of the resource (Terminate, Close),
// and whatever they started, through the resource's unit.
func (t *procTable) killAll(ctx context.Context) error {
	t.mu.Lock()
	procs := t.procs
	t.procs = map[int32]*child{}
	unit := t.unit
	t.mu.Unlock()
	var errs []error
	if unit != nil {
		errs = append(errs, unit.Kill(ctx))
	}
	for _, c := range procs {
		errs = append(errs, c.kill(ctx))
	}
	if len(procs) > 0 {
		t.in.d.cfg.Services.Log(t.in.ref, sdk.LevelInfo, "killed child processes", "count", len(procs))
	}
	return errors.Join(errs...)
}

// close kills every child process and releases the resource's unit
// (Close, a failed Open, an abandoned instance).
func (t *procTable) close(ctx context.Context) error {
	err := t.killAll(ctx)
	t.mu.Lock()
	unit := t.unit
	t.unit = nil
	t.mu.Unlock()
	if unit != nil {
		err = errors.Join(err, unit.Close(ctx))
	}
	return err
}
