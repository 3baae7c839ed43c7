package wasm_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/sdk"
)

// Both capability guests understand the same control codes (see
// testdata/capguest and testdata/cguest).
const (
	ctlStart  = 0x10
	ctlStatus = 0x11
	ctlStop   = 0x12
	ctlRead   = 0x13
	ctlWrite  = 0x14
)

func capGuests(t *testing.T, f func(t *testing.T, path string)) {
	t.Run("Go", func(t *testing.T) { f(t, goGuest(t, guestCaps)) })
	t.Run("C", func(t *testing.T) { f(t, cGuest(t)) })
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found: %v", name, err)
	}
	p, err = filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var pidRE = regexp.MustCompile(`started child process command=(\S+) pid=(\d+)`)

// pids lists the child processes the host logged as started for command.
func pids(svc *pluginstest.Services, command string) []int {
	var out []int
	for _, l := range svc.Logs() {
		if m := pidRE.FindStringSubmatch(l); m != nil && m[1] == command {
			n, _ := strconv.Atoi(m[2])
			out = append(out, n)
		}
	}
	return out
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func startArgs(cmd string, args ...string) []byte {
	return []byte(strings.Join(append([]string{cmd}, args...), "\x00") + "\x00")
}

// Child processes: only allowlisted commands start; a started one can be
// checked and stopped; Terminate and Close kill the rest.
func TestProcessCapability(t *testing.T) {
	capGuests(t, func(t *testing.T, path string) {
		sleep, falseCmd := lookPath(t, "sleep"), lookPath(t, "false")
		svc := pluginstest.New()
		d := newDriver(t, svc)
		ts := typeSpec("procs", path)
		ts.Commands = []string{sleep, falseCmd}
		rs := resSpec(nil)
		in := open(t, d, ts, rs)
		ctx := ctxT(t)

		// Not on the allowlist: refused, and recorded as an event.
		sh := lookPath(t, "sh")
		_, err := in.Control(ctx, ctlStart, startArgs(sh, "-c", "echo escaped"))
		if !errors.Is(err, sdk.ErrAccessDenied) || !strings.Contains(err.Error(), "not among the type's allowed commands") {
			t.Fatalf("starting %s: %v", sh, err)
		}
		if !logsContain(svc, rs.Name, "3 capability denied", "event=capability_denied", "capability=exec", "command="+sh) {
			t.Fatalf("no capability event in %q", svc.Logs())
		}

		// Allowed: started, running, stopped.
		out, err := in.Control(ctx, ctlStart, startArgs(sleep, "600"))
		if err != nil {
			t.Fatalf("starting sleep: %v", err)
		}
		h := out
		if out, err := in.Control(ctx, ctlStatus, h); err != nil || string(out) != "running" {
			t.Fatalf("status: %q %v", out, err)
		}
		p := pids(svc, sleep)
		if len(p) != 1 || !alive(p[0]) {
			t.Fatalf("sleep pids %v", p)
		}
		if _, err := in.Control(ctx, ctlStop, h); err != nil {
			t.Fatalf("stop: %v", err)
		}
		waitFor(t, "the stopped process to be gone", func() bool { return !alive(p[0]) })
		if _, err := in.Control(ctx, ctlStatus, h); err == nil {
			t.Fatal("status of a stopped (released) process succeeded")
		}

		// Exit codes are reported.
		out, err = in.Control(ctx, ctlStart, startArgs(falseCmd))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "false to exit", func() bool {
			st, err := in.Control(ctx, ctlStatus, out)
			return err == nil && string(st) == "exited 1"
		})

		// Terminate kills what is left; so does Close.
		if _, err := in.Control(ctx, ctlStart, startArgs(sleep, "601")); err != nil {
			t.Fatal(err)
		}
		p = pids(svc, sleep)
		if err := in.Terminate(ctx); err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		if alive(p[len(p)-1]) {
			t.Fatalf("sleep %d survived Terminate", p[len(p)-1])
		}
		if _, err := in.Control(ctx, ctlStart, startArgs(sleep, "602")); err != nil {
			t.Fatal(err)
		}
		p = pids(svc, sleep)
		if err := in.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if alive(p[len(p)-1]) {
			t.Fatalf("sleep %d survived Close", p[len(p)-1])
		}
	})
}

// A child's stdout and stderr reach the node log a line at a time, tagged
// with the stream and the pid; a last line without a newline arrives when
// the process ends.
func TestProcessOutputReachesTheLog(t *testing.T) {
	capGuests(t, func(t *testing.T, path string) {
		sh := lookPath(t, "sh")
		svc := pluginstest.New()
		d := newDriver(t, svc)
		ts := typeSpec("output", path)
		ts.Commands = []string{sh}
		rs := resSpec(nil)
		in := open(t, d, ts, rs)
		ctx := ctxT(t)
		if _, err := in.Control(ctx, ctlStart, startArgs(sh, "-c", "echo out-line; echo err-line >&2; echo 'WARN marked' >&2; printf tail")); err != nil {
			t.Fatalf("start: %v", err)
		}
		p := pids(svc, sh)
		if len(p) != 1 {
			t.Fatalf("sh pids %v", p)
		}
		pid := "pid=" + strconv.Itoa(p[0])
		for _, want := range [][]string{
			{rs.Name + " 2 out-line", "stream=stdout", pid},
			// stderr is not a level: an unmarked line is info (sdk.LineLevel).
			{rs.Name + " 2 err-line", "stream=stderr", pid},
			{rs.Name + " 3 WARN marked", "stream=stderr", pid},
			{rs.Name + " 2 tail", "stream=stdout", pid},
		} {
			waitFor(t, fmt.Sprintf("%q in the log", want), func() bool { return logsContain(svc, want...) })
		}
	})
}

// Files: read and write inside granted directories; anything else is
// refused and recorded as an event, including paths that only look inside.
func TestFileCapability(t *testing.T) {
	capGuests(t, func(t *testing.T, path string) {
		base := t.TempDir()
		granted := filepath.Join(base, "data")
		sibling := filepath.Join(base, "data2") // shares the prefix
		for _, dir := range []string{granted, sibling} {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(sibling, "secret"), []byte("no"), 0o644); err != nil {
			t.Fatal(err)
		}
		svc := pluginstest.New()
		d := newDriver(t, svc)
		ts := typeSpec("files", path)
		ts.Dirs = []string{granted}
		rs := resSpec(nil)
		in := open(t, d, ts, rs)
		ctx := ctxT(t)

		file := filepath.Join(granted, "state.txt")
		if _, err := in.Control(ctx, ctlWrite, []byte(file+"\x00hello from the guest")); err != nil {
			t.Fatalf("write: %v", err)
		}
		if b, err := os.ReadFile(file); err != nil || string(b) != "hello from the guest" {
			t.Fatalf("host sees %q %v", b, err)
		}
		if out, err := in.Control(ctx, ctlRead, []byte(file)); err != nil || string(out) != "hello from the guest" {
			t.Fatalf("read back: %q %v", out, err)
		}
		for _, p := range []string{
			"/etc/passwd",
			filepath.Join(sibling, "secret"),
			granted + "/../data2/secret",
			filepath.Join(base, "elsewhere"),
		} {
			_, err := in.Control(ctx, ctlRead, []byte(p))
			if !errors.Is(err, sdk.ErrAccessDenied) {
				t.Fatalf("read %s: %v, want access denied", p, err)
			}
			clean := filepath.Clean(p)
			if !logsContain(svc, rs.Name, "capability denied", "capability=file", "path="+clean) {
				t.Fatalf("no capability event for %s in %q", clean, svc.Logs())
			}
		}
		if _, err := in.Control(ctx, ctlWrite, []byte(filepath.Join(base, "planted")+"\x00x")); !errors.Is(err, sdk.ErrAccessDenied) {
			t.Fatalf("write outside: %v", err)
		}
		if _, err := os.Stat(filepath.Join(base, "planted")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a file was written outside the granted directory: %v", err)
		}
	})
}

// Without grants a guest has no files, no processes.
func TestNothingGrantedByDefault(t *testing.T) {
	capGuests(t, func(t *testing.T, path string) {
		svc := pluginstest.New()
		d := newDriver(t, svc)
		in := open(t, d, typeSpec("bare", path), resSpec(nil))
		ctx := ctxT(t)
		if _, err := in.Control(ctx, ctlRead, []byte(os.TempDir())); !errors.Is(err, sdk.ErrAccessDenied) {
			t.Fatalf("read: %v", err)
		}
		if _, err := in.Control(ctx, ctlStart, startArgs(lookPath(t, "true"))); !errors.Is(err, sdk.ErrAccessDenied) {
			t.Fatalf("start: %v", err)
		}
	})
}

// A guest sees the real wall clock and real randomness (wazero's defaults
// are fake), its type's name as its only argument, and no environment.
func TestClocksRandomArgsEnv(t *testing.T) {
	d := newDriver(t, pluginstest.New())
	ts := typeSpec("clocks", goGuest(t, guestCaps))
	report := func() []string {
		out, err := open(t, d, ts, resSpec(nil)).Control(ctxT(t), 0x40, nil)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))
	}
	a, b := report(), report()
	ns, _ := strconv.ParseInt(a[0], 10, 64)
	if skew := time.Since(time.Unix(0, ns)); skew < -5*time.Second || skew > 5*time.Second {
		t.Fatalf("guest wall clock is %v off", skew)
	}
	if a[1] != `["clocks"]` || a[2] != "0" {
		t.Fatalf("args %s, environment size %s", a[1], a[2])
	}
	if a[3] == b[3] {
		t.Fatalf("two instances drew the same random bytes %s", a[3])
	}
}
