// Package genapptest is the behaviour suite of the Generic Application
// resource type, run against each of its builds (in-process, go-plugin,
// WASM) through sdktest targets, with real child processes. It checks what
// the sdktest conformance harness cannot know about: process groups, stop
// signals and their timeout, output forwarding and the health probes.
package genapptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/examples/genapp"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
)

// Options describe the build under test.
type Options struct {
	// Full says the build honours every property: CurrentDirectory,
	// Environment and the network probes (the go-plugin build). Without it
	// the suite expects Open to refuse them (the WASM build).
	Full bool
}

// Commands are the programs the suite runs as applications and probes; a
// WASM build must be granted exactly these.
func Commands(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, name := range []string{"sh", "sleep", "true", "false"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not found: %v", name, err)
		}
		out = append(out, p)
	}
	return out
}

// Run runs the suite. newTarget returns a fresh target for each subtest
// (the conformance harness closes the one it is given).
func Run(t *testing.T, newTarget func(t *testing.T) sdktest.Target, o Options) {
	cmds := Commands(t)
	s := &suite{newTarget: newTarget, o: o, sh: cmds[0], sleep: cmds[1], truePath: cmds[2], falsePath: cmds[3]}
	t.Run("Conformance", func(t *testing.T) {
		sdktest.Run(t, newTarget(t), sdktest.Options{Properties: map[string]any{
			"CommandLine": s.sleep + " 600",
		}})
	})
	t.Run("ConformanceWithHealthCommand", func(t *testing.T) {
		sdktest.Run(t, newTarget(t), sdktest.Options{Properties: map[string]any{
			"CommandLine": s.sleep + " 600", "HealthCommand": s.truePath, "StopSignal": "SIGINT",
		}})
	})
	t.Run("OpenRejectsBadProperties", s.badProperties)
	t.Run("TerminateKillsTheProcessGroup", s.terminateKillsGroup)
	t.Run("OfflineSendsStopSignal", s.offlineSendsStopSignal)
	t.Run("StopTimeoutEscalatesToSIGKILL", s.stopTimeoutEscalates)
	t.Run("OutputReachesTheLog", s.outputReachesLog)
	t.Run("ExitedApplicationIsNotAlive", s.exitedIsNotAlive)
	t.Run("HealthCommandGatesOnline", s.healthCommandGatesOnline)
	t.Run("OnlineFailsWhenTheApplicationExits", s.onlineFailsOnExit)
	t.Run("TerminateInterruptsPendingOnline", s.terminateInterruptsOnline)
	t.Run("ProgressOnlyWhenTheProbeChanges", s.progressOnlyOnChange)
	if o.Full {
		t.Run("EnvironmentAndDirectory", s.environmentAndDirectory)
		t.Run("HealthTCP", s.healthTCP)
		t.Run("HealthHTTP", s.healthHTTP)
	}
}

type suite struct {
	newTarget                      func(t *testing.T) sdktest.Target
	o                              Options
	sh, sleep, truePath, falsePath string
}

// script is a CommandLine running a shell script.
func (s *suite) script(body string) string {
	return genapp.JoinCommandLine([]string{s.sh, "-c", body})
}

var seq atomic.Int64

// res is one opened resource with its host.
type res struct {
	sdktest.Opened
	h *sdktest.Host
}

// open opens a resource with props in a fresh target closed after the test.
func (s *suite) open(t *testing.T, props map[string]any) (*res, error) {
	t.Helper()
	target := s.newTarget(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := target.Close(ctx); err != nil {
			t.Errorf("closing the target: %v", err)
		}
	})
	id := fmt.Sprintf("00000000-0000-4000-9000-%012d", seq.Add(1))
	h := sdktest.NewHost(id)
	r, err := target.Open(ctx(t), h, sdk.OpenRequest{ID: id, Name: "app " + t.Name(), Properties: props})
	if err != nil {
		return nil, err
	}
	return &res{Opened: r, h: h}, nil
}

func (s *suite) mustOpen(t *testing.T, props map[string]any) *res {
	t.Helper()
	r, err := s.open(t, props)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls cond until it holds; the deadline only catches a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logged reports whether a log line of r contains every part.
func (r *res) logged(parts ...string) bool {
	for _, l := range r.h.Logs() {
		if containsAll(l, parts) {
			return true
		}
	}
	return false
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func (r *res) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("a log line with %q", parts), func() bool { return r.logged(parts...) })
}

// The go-plugin build logs "started process", the WASM host "started child
// process"; both name the command and its pid, which is also its group.
var startedRE = regexp.MustCompile(`^\d started (?:child )?process command=(\S+) pid=(\d+)`)

// pids lists the processes started for command, in order.
func (r *res) pids(command string) []int {
	var out []int
	for _, l := range r.h.Logs() {
		if m := startedRE.FindStringSubmatch(l); m != nil && m[1] == command {
			n, _ := strconv.Atoi(m[2])
			out = append(out, n)
		}
	}
	return out
}

func (r *res) pid(t *testing.T, command string) int {
	t.Helper()
	var p []int
	waitFor(t, "the start of "+command+" in the log", func() bool { p = r.pids(command); return len(p) > 0 })
	return p[len(p)-1]
}

// pendingOnline starts Online and returns once it reports that it waits
// for the health probe; the channel gets its result.
func (r *res) pendingOnline(t *testing.T) <-chan error {
	t.Helper()
	online := make(chan error, 1)
	go func() { online <- r.Online(ctx(t)) }()
	waitFor(t, "a progress report while the probe fails", func() bool {
		for _, p := range r.h.ProgressReports() {
			if strings.Contains(p, "waiting for the health probe") {
				return true
			}
		}
		return false
	})
	select {
	case err := <-online:
		t.Fatalf("Online returned while its probe failed: %v", err)
	default:
	}
	return online
}

// await returns the result of a pending Online once it returns after what.
func await(t *testing.T, online <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-online:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("Online did not return after %s", what)
		return nil
	}
}

func groupExists(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }

func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("process group %d to be gone", pgid), func() bool {
		return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
	})
}

func (r *res) alive(t *testing.T) (looks, is bool) {
	t.Helper()
	looks, err := r.LooksAlive(ctx(t))
	must(t, "LooksAlive", err)
	is, err = r.IsAlive(ctx(t))
	must(t, "IsAlive", err)
	return looks, is
}

func (s *suite) badProperties(t *testing.T) {
	sleep := s.sleep + " 600"
	cases := []struct {
		name  string
		props map[string]any
		prop  string // the property the error must name
		want  string // and a part of its problem
		full  *bool  // nil: every build; else only builds with Full == *full
	}{
		{"MissingCommandLine", map[string]any{}, "CommandLine", "required", nil},
		{"BlankCommandLine", map[string]any{"CommandLine": "  "}, "CommandLine", "required", nil},
		{"CommandLineNotAString", map[string]any{"CommandLine": int64(42)}, "CommandLine", "want a string", nil},
		{"UnterminatedQuote", map[string]any{"CommandLine": `app "--name=x`}, "CommandLine", "unterminated quote", nil},
		{"UnknownSignal", map[string]any{"CommandLine": sleep, "StopSignal": "SIGFOO"}, "StopSignal", "unknown signal", nil},
		{"BadStopTimeout", map[string]any{"CommandLine": sleep, "StopTimeout": "soon"}, "StopTimeout", "not a duration", nil},
		{"NegativeStopTimeout", map[string]any{"CommandLine": sleep, "StopTimeout": "-1s"}, "StopTimeout", "not positive", nil},
		{"EnvironmentWithoutEquals", map[string]any{"CommandLine": sleep, "Environment": []any{"NOEQUALS"}}, "Environment", "has no '='", nil},
		{"RelativeDirectory", map[string]any{"CommandLine": sleep, "CurrentDirectory": "var/app"}, "CurrentDirectory", "not an absolute path", nil},
		{"MisspelledProperty", map[string]any{"commandline": sleep}, "commandline", "did you mean CommandLine", nil},
		{"TwoProbes", map[string]any{"CommandLine": sleep, "HealthCommand": s.truePath, "HealthTCP": "127.0.0.1:1"}, "HealthCommand", "at most one", nil},
		{"HealthTCPWithoutPort", map[string]any{"CommandLine": sleep, "HealthTCP": "localhost"}, "HealthTCP", "not host:port", ptr(true)},
		{"HealthHTTPNotHTTP", map[string]any{"CommandLine": sleep, "HealthHTTP": "ftp://127.0.0.1/"}, "HealthHTTP", "not an http", ptr(true)},
		{"EnvironmentInWASM", map[string]any{"CommandLine": sleep, "Environment": map[string]any{"A": "1"}}, "Environment", "WASM build", ptr(false)},
		{"DirectoryInWASM", map[string]any{"CommandLine": sleep, "CurrentDirectory": "/tmp"}, "CurrentDirectory", "WASM build", ptr(false)},
		{"HealthTCPInWASM", map[string]any{"CommandLine": sleep, "HealthTCP": "127.0.0.1:1"}, "HealthTCP", "WASM build", ptr(false)},
	}
	for _, c := range cases {
		if c.full != nil && *c.full != s.o.Full {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			_, err := s.open(t, c.props)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !errors.Is(err, sdk.ErrInvalidParameter) || !containsAll(msg, []string{"app " + t.Name(), "property " + c.prop, c.want}) {
				t.Fatalf("Open: %v; want sdk.ErrInvalidParameter naming the resource, property %s and %q", err, c.prop, c.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func (s *suite) terminateKillsGroup(t *testing.T) {
	r := s.mustOpen(t, map[string]any{"CommandLine": s.script(s.sleep + " 600 & echo group-up; wait")})
	must(t, "Online", r.Online(ctx(t)))
	r.waitLog(t, "group-up")
	pgid := r.pid(t, s.sh)
	if !groupExists(pgid) {
		t.Fatalf("process group %d is not there while online", pgid)
	}
	must(t, "Terminate", r.Terminate(ctx(t)))
	waitGroupGone(t, pgid)
	if looks, is := r.alive(t); looks || is {
		t.Fatalf("after Terminate: LooksAlive=%v IsAlive=%v", looks, is)
	}
	must(t, "Close", r.Close(ctx(t)))
}

func (s *suite) offlineSendsStopSignal(t *testing.T) {
	for _, c := range []struct{ prop, sig string }{{"", "TERM"}, {"SIGINT", "INT"}, {"hup", "HUP"}, {"QUIT", "QUIT"}} {
		t.Run(c.sig, func(t *testing.T) {
			props := map[string]any{
				// The trap runs once the foreground sleep, which got the
				// signal too, has died.
				"CommandLine": s.script(fmt.Sprintf("trap 'echo caught-%s; exit 0' %s; echo ready; while :; do %s 1; done", c.sig, c.sig, s.sleep)),
				"StopTimeout": "60s", // far off: a stop that needs SIGKILL shows in the log
			}
			if c.prop != "" {
				props["StopSignal"] = c.prop
			}
			r := s.mustOpen(t, props)
			must(t, "Online", r.Online(ctx(t)))
			r.waitLog(t, "ready") // the trap is set
			pgid := r.pid(t, s.sh)
			must(t, "Offline", r.Offline(ctx(t)))
			r.waitLog(t, "caught-"+c.sig)
			if r.logged("did not stop within StopTimeout") {
				t.Fatal("Offline escalated to SIGKILL")
			}
			waitGroupGone(t, pgid)
			must(t, "Close", r.Close(ctx(t)))
		})
	}
}

func (s *suite) stopTimeoutEscalates(t *testing.T) {
	// An ignored signal stays ignored across exec: sleep ignores TERM too.
	r := s.mustOpen(t, map[string]any{
		"CommandLine": s.script("trap '' TERM; echo ready; " + s.sleep + " 600"),
		"StopTimeout": "200ms",
	})
	must(t, "Online", r.Online(ctx(t)))
	r.waitLog(t, "ready")
	pgid := r.pid(t, s.sh)
	must(t, "Offline", r.Offline(ctx(t)))
	if !r.logged("did not stop within StopTimeout; sending SIGKILL", "signal=SIGTERM") {
		t.Fatalf("no escalation in the log: %q", r.h.Logs())
	}
	waitGroupGone(t, pgid)
	if looks, _ := r.alive(t); looks {
		t.Fatal("LooksAlive after Offline")
	}
	must(t, "Close", r.Close(ctx(t)))
}

func (s *suite) outputReachesLog(t *testing.T) {
	r := s.mustOpen(t, map[string]any{
		"CommandLine": s.script("echo to-stdout; echo to-stderr >&2; echo 'ERROR marked' >&2; printf 'no-newline'; exec " + s.sleep + " 600"),
	})
	must(t, "Online", r.Online(ctx(t)))
	pid := strconv.Itoa(r.pid(t, s.sh))
	r.waitLog(t, fmt.Sprintf("%d to-stdout stream=stdout pid=%s", sdk.LevelInfo, pid))
	// stderr is not a level: an unmarked line is info, a marked one its own.
	r.waitLog(t, fmt.Sprintf("%d to-stderr stream=stderr pid=%s", sdk.LevelInfo, pid))
	r.waitLog(t, fmt.Sprintf("%d ERROR marked stream=stderr pid=%s", sdk.LevelError, pid))
	must(t, "Terminate", r.Terminate(ctx(t)))
	// The last line has no newline: it arrives when the pipe closes.
	r.waitLog(t, fmt.Sprintf("%d no-newline stream=stdout", sdk.LevelInfo))
	must(t, "Close", r.Close(ctx(t)))
}

func (s *suite) exitedIsNotAlive(t *testing.T) {
	r := s.mustOpen(t, map[string]any{"CommandLine": s.script("echo bye; exit 3")})
	must(t, "Online", r.Online(ctx(t)))
	waitFor(t, "LooksAlive to turn false", func() bool { looks, _ := r.alive(t); return !looks })
	if _, is := r.alive(t); is {
		t.Fatal("IsAlive true for an exited application")
	}
	// Online again starts a new process.
	must(t, "Online again", r.Online(ctx(t)))
	waitFor(t, "a second start", func() bool { return len(r.pids(s.sh)) == 2 })
	must(t, "Offline", r.Offline(ctx(t)))
	must(t, "Close", r.Close(ctx(t)))
}

func (s *suite) healthCommandGatesOnline(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "healthy")
	r := s.mustOpen(t, map[string]any{
		"CommandLine":   s.sleep + " 600",
		"HealthCommand": genapp.JoinCommandLine([]string{s.sh, "-c", `test -e "$0"`, flag}),
	})
	online := r.pendingOnline(t)
	must(t, "creating the flag", os.WriteFile(flag, nil, 0o644))
	must(t, "Online", await(t, online, "the probe passed"))
	if looks, is := r.alive(t); !looks || !is {
		t.Fatalf("healthy: LooksAlive=%v IsAlive=%v", looks, is)
	}
	must(t, "removing the flag", os.Remove(flag))
	if looks, is := r.alive(t); !looks || is {
		t.Fatalf("probe failing: LooksAlive=%v IsAlive=%v, want true false", looks, is)
	}
	must(t, "Offline", r.Offline(ctx(t)))
	must(t, "Close", r.Close(ctx(t)))
}

func (s *suite) onlineFailsOnExit(t *testing.T) {
	r := s.mustOpen(t, map[string]any{"CommandLine": s.script("exit 4"), "HealthCommand": s.falsePath})
	err := r.Online(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "exited with status 4") {
		t.Fatalf("Online: %v, want the exit status", err)
	}
	must(t, "Close", r.Close(ctx(t)))
}

// progressOnlyOnChange: a pending Online reports progress when its probe's
// answer changes, not while the probe fails the same way, so PendingTimeout
// can end an application that never becomes healthy.
func (s *suite) progressOnlyOnChange(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "worse")
	r := s.mustOpen(t, map[string]any{
		"CommandLine":   s.sleep + " 600",
		"HealthCommand": genapp.JoinCommandLine([]string{s.sh, "-c", `test -e "$0" && exit 3; exit 1`, flag}),
	})
	online := r.pendingOnline(t)
	reports := func() int {
		n := 0
		for _, p := range r.h.ProgressReports() {
			if strings.Contains(p, "waiting for the health probe") {
				n++
			}
		}
		return n
	}
	first := reports()
	// A negative check needs a window: the probe runs every 100ms.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n := reports(); n != first {
			t.Fatalf("%d progress reports while the probe failed the same way, want %d", n, first)
		}
	}
	must(t, "changing the probe's answer", os.WriteFile(flag, nil, 0o644))
	waitFor(t, "a progress report for the new answer", func() bool { return reports() > first })
	must(t, "Terminate", r.Terminate(ctx(t)))
	await(t, online, "Terminate")
	must(t, "Close", r.Close(ctx(t)))
}

func (s *suite) terminateInterruptsOnline(t *testing.T) {
	r := s.mustOpen(t, map[string]any{"CommandLine": s.sleep + " 600", "HealthCommand": s.falsePath})
	online := r.pendingOnline(t)
	pgid := r.pid(t, s.sleep)
	must(t, "Terminate", r.Terminate(ctx(t)))
	if err := await(t, online, "Terminate"); err == nil {
		t.Fatal("Online succeeded after Terminate")
	}
	waitGroupGone(t, pgid)
	must(t, "Close", r.Close(ctx(t)))
}

func (s *suite) environmentAndDirectory(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	must(t, "temp dir", err)
	for _, c := range []struct {
		name string
		env  any
	}{
		{"Table", map[string]any{"GREETING": "hello world", "COUNT": int64(3)}},
		{"List", []any{"GREETING=hello world", "COUNT=3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.mustOpen(t, map[string]any{
				"CommandLine":      s.script(`echo "env=$GREETING/$COUNT pwd=$(pwd -P)"; exec ` + s.sleep + " 600"),
				"CurrentDirectory": dir,
				"Environment":      c.env,
			})
			must(t, "Online", r.Online(ctx(t)))
			r.waitLog(t, "env=hello world/3 pwd="+dir)
			must(t, "Offline", r.Offline(ctx(t)))
			must(t, "Close", r.Close(ctx(t)))
		})
	}
}

// freeAddr returns a loopback address nothing listens on (just now).
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, "listen", err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (s *suite) healthTCP(t *testing.T) {
	addr := freeAddr(t)
	r := s.mustOpen(t, map[string]any{"CommandLine": s.sleep + " 600", "HealthTCP": addr})
	online := r.pendingOnline(t)
	l, err := net.Listen("tcp", addr)
	must(t, "listen", err)
	go func() { // accept and drop, as a server would
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	must(t, "Online", await(t, online, "the port listened"))
	if _, is := r.alive(t); !is {
		t.Fatal("IsAlive false while the port listens")
	}
	l.Close()
	if looks, is := r.alive(t); !looks || is {
		t.Fatalf("port closed: LooksAlive=%v IsAlive=%v, want true false", looks, is)
	}
	must(t, "Offline", r.Offline(ctx(t)))
	must(t, "Close", r.Close(ctx(t)))
}

func (s *suite) healthHTTP(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/elsewhere") // not followed
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	r := s.mustOpen(t, map[string]any{"CommandLine": s.sleep + " 600", "HealthHTTP": srv.URL + "/health"})
	must(t, "Online", r.Online(ctx(t)))
	for _, c := range []struct {
		status int
		alive  bool
	}{{200, true}, {204, true}, {302, true}, {404, false}, {503, false}, {200, true}} {
		status.Store(int64(c.status))
		if _, is := r.alive(t); is != c.alive {
			t.Errorf("HTTP %d: IsAlive=%v, want %v", c.status, is, c.alive)
		}
	}
	must(t, "Offline", r.Offline(ctx(t)))
	must(t, "Close", r.Close(ctx(t)))
}
