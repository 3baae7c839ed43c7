package ocf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/resmon/resmon/sdk"
)

// agent runs the actions of one OCF agent for one resource.
type agent struct {
	cfg      Config
	spec     Spec
	path     string // Root/resource.d/<provider>/<agent>
	instance string // OCF_RESOURCE_INSTANCE
	resource string // the resource's name, for messages
	log      func(level sdk.LogLevel, msg string, kv ...any)
}

// exitReasonPrefix starts the lines in which an agent gives the reason of
// its exit code (ocf_exit_reason); Pacemaker uses the same.
const exitReasonPrefix = "ocf-exit-reason:"

// call is one action to run.
type call struct {
	action   string
	timeout  time.Duration
	interval time.Duration // monitor: the advised interval (OCF_RESKEY_CRM_meta_interval)
	depth    int           // monitor: OCF_CHECK_LEVEL
	params   map[string]string
	stdout   *bytes.Buffer // when set, stdout is kept here instead of logged (meta-data)
	quiet    bool          // log the agent's lines at debug level (frequent monitors)
}

// result is how an action ended.
type result struct {
	code     int // the exit code; -1 when killed
	reason   string
	timedOut bool
}

// env is the environment of an action, as Pacemaker builds it: the OCF
// variables, each parameter as OCF_RESKEY_<name>, the operation's meta
// attributes, and the logging variables that make ocf_log write to
// standard error, where the type reads it. Nothing else of the plugin's
// environment is passed on but PATH, the locale and the agents' own
// tracing switches.
func (a *agent) env(c call) []string {
	env := []string{
		"OCF_ROOT=" + a.cfg.Root,
		"OCF_RA_VERSION_MAJOR=1",
		"OCF_RA_VERSION_MINOR=1",
		"OCF_RESOURCE_INSTANCE=" + a.instance,
		"OCF_RESOURCE_TYPE=" + a.spec.Agent,
		"OCF_RESOURCE_PROVIDER=" + a.spec.Provider,
		"OCF_EXIT_REASON_PREFIX=" + exitReasonPrefix,
		"HA_RSCTMP=" + a.cfg.RscTmp,
		"HA_LOGFACILITY=none",
		"HA_LOGFILE=",
		"HA_DEBUGLOG=",
		"PATH=" + a.cfg.Path,
		"OCF_RESKEY_CRM_meta_timeout=" + strconv.FormatInt(c.timeout.Milliseconds(), 10),
		"OCF_RESKEY_CRM_meta_interval=" + strconv.FormatInt(c.interval.Milliseconds(), 10),
		"OCF_RESKEY_CRM_meta_on_node=" + a.cfg.Node,
		"OCF_RESKEY_CRM_meta_name=" + c.action,
	}
	if c.action == "monitor" {
		env = append(env, "OCF_CHECK_LEVEL="+strconv.Itoa(c.depth))
	}
	for _, k := range []string{"LANG", "LANGUAGE", "TZ", "HA_debug", "OCF_TRACE_RA", "OCF_TRACE_FILE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LC_") {
			env = append(env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.params)) {
		env = append(env, "OCF_RESKEY_"+k+"="+c.params[k])
	}
	return env
}

// run runs one action and waits for it, at most c.timeout (or until ctx
// ends): then the action's whole process group is killed. The agent's
// output goes to the node log line by line, tagged with the action; exit
// reasons are kept for the error. A process the agent leaves running in
// the background (IPaddr2's send_arp) is left alone when the agent exits
// on its own.
func (a *agent) run(ctx context.Context, c call) (result, error) {
	if c.timeout <= 0 {
		c.timeout = a.cfg.DefaultTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.path, c.action)
	cmd.Env = a.env(c)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 500 * time.Millisecond
	var mu sync.Mutex
	var reason, lastErr string
	level := sdk.LevelInfo
	if c.quiet {
		level = sdk.LevelDebug
	}
	stderr := &lineWriter{line: func(line string) {
		if r, ok := strings.CutPrefix(line, exitReasonPrefix); ok {
			mu.Lock()
			reason = strings.TrimSpace(r)
			mu.Unlock()
			a.log(sdk.LevelError, "exit reason: "+strings.TrimSpace(r), "action", c.action, "agent", a.spec.Name())
			return
		}
		lvl, msg := agentLevel(line, level)
		if lvl >= sdk.LevelWarn {
			mu.Lock()
			lastErr = msg
			mu.Unlock()
		}
		a.log(lvl, msg, "action", c.action, "agent", a.spec.Name(), "stream", "stderr")
	}}
	var stdout io.Writer
	kept := &limitedBuffer{max: maxMetadataBytes + 1}
	if c.stdout != nil {
		stdout = kept
	} else {
		stdout = &lineWriter{line: func(line string) {
			a.log(level, line, "action", c.action, "agent", a.spec.Name(), "stream", "stdout")
		}}
	}
	// The agent's output comes through pipes of our own rather than
	// exec's: something the agent leaves running in the background
	// (IPaddr2's send_arp logger) holds them open after the agent exits,
	// and must neither hold the action up nor lose its last lines. What
	// the agent wrote before it exited is read at once; whatever comes
	// later is logged as it comes, until the last writer is gone.
	outR, outW, err := os.Pipe()
	if err != nil {
		return result{code: -1}, fmt.Errorf("ocf: %s %s: %w", a.spec.Name(), c.action, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return result{code: -1}, fmt.Errorf("ocf: %s %s: %w", a.spec.Name(), c.action, err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	drained := make(chan struct{}, 2)
	drain := func(r *os.File, w io.Writer, flush func()) {
		io.Copy(w, r)
		r.Close()
		if flush != nil {
			flush()
		}
		drained <- struct{}{}
	}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return result{code: -1}, fmt.Errorf("running %s %s: %w", a.path, c.action, err)
	}
	var flushOut func()
	if lw, ok := stdout.(*lineWriter); ok {
		flushOut = lw.flush
	}
	go drain(outR, stdout, flushOut)
	go drain(errR, stderr, stderr.flush)
	err = cmd.Wait()
	// meta-data's output must be whole: wait for it (an agent describing
	// itself starts nothing in the background).
	grace := 50 * time.Millisecond
	if c.stdout != nil {
		grace = time.Second
	}
	timer := time.NewTimer(grace)
	for n := 0; n < 2; n++ {
		select {
		case <-drained:
		case <-timer.C:
			n = 2
		}
	}
	timer.Stop()
	if c.stdout != nil {
		c.stdout.Write(kept.bytes())
	}
	res := result{code: -1}
	mu.Lock()
	res.reason = reason
	if res.reason == "" {
		res.reason = lastErr
	}
	mu.Unlock()
	if ps := cmd.ProcessState; ps != nil {
		res.code = ps.ExitCode()
	}
	if ctx.Err() != nil && res.code == -1 {
		// Killed by us: the action's timeout, or the caller gave up
		// (Terminate cancels what runs).
		if perr := parent.Err(); perr != nil {
			return res, fmt.Errorf("%s %s: %w", a.spec.Name(), c.action, perr)
		}
		res.timedOut = true
		a.log(sdk.LevelError, "action timed out; its process group was killed", "action", c.action, "agent", a.spec.Name(), "timeout", c.timeout)
		return res, nil
	}
	var exitErr *exec.ExitError
	if err == nil || errors.As(err, &exitErr) {
		return res, nil
	}
	return res, fmt.Errorf("running %s %s: %w", a.path, c.action, err)
}

// exitError turns a failed result into an error with the code's class.
func (a *agent) exitError(action string, r result) error {
	return classed(&ExitError{Agent: a.spec.Name(), Action: action, Code: r.code, Reason: r.reason, TimedOut: r.timedOut})
}

// installed checks that the agent is an executable file on this node.
func (a *agent) installed() error {
	fi, err := os.Stat(a.path)
	switch {
	case err != nil:
		return sdk.BanNode(fmt.Errorf("%w: resource %q: ocf:%s: %v", ErrNotInstalled, a.resource, a.spec.Name(), err))
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return sdk.BanNode(fmt.Errorf("%w: resource %q: ocf:%s: %s is not an executable file", ErrNotInstalled, a.resource, a.spec.Name(), a.path))
	}
	return nil
}

// agentPath is where the agent of spec lives under root.
func agentPath(root string, spec Spec) string {
	return filepath.Join(root, "resource.d", spec.Provider, spec.Agent)
}

// agentLevel reads the level ocf_log puts before its message ("Dec 04
// 17:56:43 INFO: …", "ERROR: …") and returns the message without the
// date; other lines keep def.
func agentLevel(line string, def sdk.LogLevel) (sdk.LogLevel, string) {
	for _, l := range []struct {
		tag   string
		level sdk.LogLevel
	}{{"CRIT: ", sdk.LevelError}, {"ERROR: ", sdk.LevelError}, {"WARNING: ", sdk.LevelWarn}, {"INFO: ", sdk.LevelInfo}, {"DEBUG: ", sdk.LevelDebug}} {
		if i := strings.Index(line, l.tag); i >= 0 && i <= 20 {
			lvl := l.level
			if lvl == sdk.LevelInfo && def < lvl {
				lvl = def
			}
			return lvl, line[i:]
		}
	}
	return def, line
}

// lineWriter hands every complete line written to it to line; a line
// longer than 64 KiB is cut.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	line func(string)
}

const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxLine {
				w.line(string(w.buf[:maxLine]))
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		if line := strings.TrimRight(string(w.buf[:min(i, maxLine)]), "\r"); line != "" {
			w.line(line)
		}
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

// limitedBuffer keeps at most max bytes.
type limitedBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}
