package goplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin/runner"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/plugins/proctrack"
)

// procRunner starts and reaps one plugin process for go-plugin. Unlike
// go-plugin's own runner it reaps the process as soon as it exits (not
// after its pipes close, which a grandchild holding stderr could delay), so
// a death is known at once, and it keeps the exit status for error messages.
type procRunner struct {
	name    string // the resource type: names the process in logs
	path    string
	env     []string
	cmd     *exec.Cmd
	tracker *proctrack.Tracker // nil: a process group, untracked
	unit    *proctrack.Unit    // the plugin and everything it starts

	stdout, stderr *os.File      // our read ends
	stderrEOF      chan struct{} // closed when go-plugin read stderr to its end
	stdin          *os.File      // our write end of the plugin's stdin: the plugin exits at EOF

	pid        int
	exited     chan struct{} // closed once the process is reaped
	closePipes sync.Once
	mu         sync.Mutex
	state      *os.ProcessState
	err        error // from Wait
}

var _ runner.Runner = (*procRunner)(nil)

func newRunner(name, path string, env []string, tracker *proctrack.Tracker) *procRunner {
	env = append(env[:len(env):len(env)], pluginproto.EnvExitWithHost+"=1")
	return &procRunner{name: name, path: path, env: env, tracker: tracker, exited: make(chan struct{}), stderrEOF: make(chan struct{})}
}

func (r *procRunner) command(stdin, stdout, stderr *os.File) *exec.Cmd {
	cmd := exec.Command(r.path)
	cmd.Env = r.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	// Its own process group: a signal to clusterd's group (Ctrl-C) does not
	// reach the plugin, and what the plugin started can be killed with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// Start implements runner.Runner.
func (r *procRunner) Start(context.Context) error {
	var err error
	var outW, errW, inR *os.File
	closeAll := func(fs ...*os.File) {
		for _, f := range fs {
			if f != nil {
				_ = f.Close()
			}
		}
	}
	if r.stdout, outW, err = os.Pipe(); err != nil {
		return err
	}
	if r.stderr, errW, err = os.Pipe(); err != nil {
		closeAll(r.stdout, outW)
		return err
	}
	if inR, r.stdin, err = os.Pipe(); err != nil {
		closeAll(r.stdout, outW, r.stderr, errW)
		return err
	}
	if r.tracker != nil {
		// Everything the plugin starts stays in its unit (a cgroup, or
		// its session), so a plugin that dies takes it along, and a
		// clusterd that starts after a crash finds it.
		if r.unit, err = r.tracker.NewUnit("plugin "+r.name, proctrack.SpareLeader); err != nil {
			closeAll(r.stdout, outW, r.stderr, errW, inR, r.stdin)
			return err
		}
	}
	// ETXTBSY: a fork elsewhere in clusterd may briefly hold a descriptor of
	// the binary we just copied into place (see pin.go); it goes away at
	// that child's exec, so try again a few times.
	for try := 0; ; try++ {
		r.cmd = r.command(inR, outW, errW)
		if r.unit != nil {
			err = r.unit.Start(r.cmd)
		} else {
			err = r.cmd.Start()
		}
		if !errors.Is(err, syscall.ETXTBSY) || try == 20 {
			break
		}
		time.Sleep(time.Duration(try+1) * time.Millisecond)
	}
	closeAll(outW, errW, inR)
	if err != nil {
		closeAll(r.stdout, r.stderr, r.stdin)
		if r.unit != nil {
			_ = r.unit.Close(context.Background())
		}
		return err
	}
	r.pid = r.cmd.Process.Pid
	go r.reap()
	return nil
}

func (r *procRunner) reap() {
	err := r.cmd.Wait()
	r.mu.Lock()
	r.state, r.err = r.cmd.ProcessState, err
	r.mu.Unlock()
	// What the plugin started stays in its process group; with the plugin
	// gone nothing can reach those processes any more (no Offline, no
	// Terminate), so they go too. The group id cannot be reused while any
	// member lives.
	if r.pid > 0 {
		_ = syscall.Kill(-r.pid, syscall.SIGKILL)
	}
	if r.unit != nil {
		// And whatever left the group: the unit holds it all.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = r.unit.Close(ctx)
		cancel()
	}
	_ = r.stdin.Close()
	close(r.exited)
}

// status describes how the process ended ("exit status 3", "signal: killed").
func (r *procRunner) status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != nil {
		return r.state.String()
	}
	if r.err != nil {
		return r.err.Error()
	}
	return "running"
}

// Wait implements runner.AttachedRunner. go-plugin calls it once it has
// read both pipes to their end, so it closes our read ends.
func (r *procRunner) Wait(ctx context.Context) error {
	select {
	case <-r.exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.closePipes.Do(func() {
		_ = r.stdout.Close()
		_ = r.stderr.Close()
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Kill implements runner.AttachedRunner: SIGKILL to the plugin's process
// group, unless the plugin was reaped already.
func (r *procRunner) Kill(context.Context) error {
	if r.pid <= 0 { // never started: kill(0) would signal our own group
		return nil
	}
	select {
	case <-r.exited:
		return nil
	default:
	}
	if err := syscall.Kill(-r.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing plugin process group %d: %w", r.pid, err)
	}
	return nil
}

// Stdout implements runner.Runner.
func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }

// Stderr implements runner.Runner.
func (r *procRunner) Stderr() io.ReadCloser {
	return &eofReader{ReadCloser: r.stderr, eof: r.stderrEOF}
}

// eofReader closes eof when its reader reaches the end (or fails).
type eofReader struct {
	io.ReadCloser
	eof  chan struct{}
	once sync.Once
}

func (e *eofReader) Read(b []byte) (int, error) {
	n, err := e.ReadCloser.Read(b)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

// Name implements runner.Runner.
func (r *procRunner) Name() string { return r.name }

// ID implements runner.AttachedRunner.
func (r *procRunner) ID() string {
	if r.pid <= 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

// Diagnose implements runner.Runner.
func (r *procRunner) Diagnose(context.Context) string {
	select {
	case <-r.exited:
		return fmt.Sprintf("%s ended (%s) without completing the resmon plugin handshake: is it a resource type built with sdk/plugin for this OS and architecture?", r.path, r.status())
	default:
	}
	return fmt.Sprintf("%s did not complete the resmon plugin handshake: is it a resource type built with sdk/plugin?", r.path)
}

// PluginToHost implements runner.AddrTranslator: same machine, same paths.
func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

// HostToPlugin implements runner.AddrTranslator.
func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
