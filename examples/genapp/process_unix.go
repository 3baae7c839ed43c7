//go:build unix

package genapp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/resmon/resmon/sdk"
)

var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "KILL": syscall.SIGKILL,
}

// checkBuild accepts every property: this build has them all.
func checkBuild(c *Config) *buildError {
	return checkNetProbes(c)
}

// hiddenEnv are the variables of the plugin handshake: meaningless to the
// application, one is a client certificate, and an application that is a
// go-plugin host itself would misread them.
var hiddenEnv = []string{
	"RESMON_RESOURCE_TYPE_PLUGIN", "RESMON_PLUGIN_EXIT_WITH_HOST", "PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT",
	"PLUGIN_PROTOCOL_VERSIONS", "PLUGIN_CLIENT_CERT", "PLUGIN_MULTIPLEX_GRPC", "PLUGIN_UNIX_SOCKET_DIR",
}

func inheritedEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if name, _, _ := strings.Cut(e, "="); !contains(hiddenEnv, name) {
			env = append(env, e)
		}
	}
	return env
}

// osProcess is a child run with os/exec in a process group of its own.
type osProcess struct {
	pid  int
	done chan struct{} // closed once the process has been reaped
	code int           // valid after done
}

// start runs args with the directory and environment of c. Its stdout and
// stderr go to the node log a line at a time.
func start(host sdk.Host, args []string, c *Config) (process, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = append(inheritedEnv(), c.Env...)
	// A group of its own: Offline and Terminate signal everything the
	// application started, and signals meant for the monitor miss it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	streams := []*stream{{name: "stdout"}, {name: "stderr"}}
	closeEnds := func(reads bool) {
		for _, s := range streams {
			if reads {
				s.r.Close() // nil-safe: *os.File.Close reports ErrInvalid
			}
			s.w.Close() // the child has its copies; readers see EOF when they close
		}
	}
	for _, s := range streams {
		r, w, err := os.Pipe()
		if err != nil {
			closeEnds(true)
			return nil, err
		}
		s.r, s.w = r, w
	}
	// Plain files, not io.Writers: Wait then returns when the process exits,
	// not when the last grandchild closes the pipe.
	cmd.Stdout, cmd.Stderr = streams[0].w, streams[1].w
	err := cmd.Start()
	closeEnds(err != nil)
	if err != nil {
		return nil, err
	}
	p := &osProcess{pid: cmd.Process.Pid, done: make(chan struct{})}
	host.Log(sdk.LevelInfo, "started process", "command", args[0], "pid", p.pid)
	for _, s := range streams {
		go forwardLines(s.r, func(line string) { host.Log(sdk.LineLevel(line), line, "stream", s.name, "pid", p.pid) })
	}
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	return p, nil
}

// stream is one output pipe of a child.
type stream struct {
	name string
	r, w *os.File
}

// maxLine bounds one forwarded line; longer lines are cut into pieces.
const maxLine = 4 << 10

// forwardLines calls emit for each non-empty line read from r until EOF,
// then closes r.
func forwardLines(r io.ReadCloser, emit func(string)) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLine)
	for {
		b, err := br.ReadSlice('\n')
		if line := strings.TrimRight(string(b), "\r\n"); strings.TrimSpace(line) != "" {
			emit(line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (p *osProcess) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *osProcess) ExitCode() int {
	if p.Running() {
		return 0
	}
	return p.code
}

func (p *osProcess) Signal(name string) error {
	sig, ok := signals[name]
	if !ok {
		return fmt.Errorf("unknown signal SIG%s", name)
	}
	if !p.Running() {
		return nil
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending SIG%s to process group %d: %w", name, p.pid, err)
	}
	return nil
}

func (p *osProcess) Wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (p *osProcess) Kill(ctx context.Context) error {
	// Until the leader is reaped its pid cannot be reused, so the group id
	// is still ours; after that, the group only lives on in stragglers.
	if err := syscall.Kill(-p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing process group %d: %w", p.pid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for process %d to exit after SIGKILL: %w", p.pid, ctx.Err())
	}
}
