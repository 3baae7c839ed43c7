package goplugin_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/goplugin"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/sdk"
)

// Every entry point through the transport, with the host services the
// resource calls back into from inside them.
func TestEntryPoints(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	key := `SOFTWARE\Resmon\r1`
	in := e.open(t, res("r1", map[string]any{"RegistryKey": key, "CheckpointKey": key}))

	if err := in.Online(c); err != nil {
		t.Fatalf("Online: %v", err)
	}
	if v, err := e.svc.Reg.GetValue(c, key, "Started"); err != nil || v.Type != sdk.QWord || v.Num == 0 {
		t.Fatalf("registry written from inside Online: %+v %v", v, err)
	}
	if got := e.svc.Checkpoints.List("r1", false); len(got) != 1 || got[0] != key {
		t.Fatalf("checkpoints: %q", got)
	}
	// Again: ADD now fails with sdk.ErrAlreadyExists in the plugin, which
	// the resource tolerates only if errors.Is sees it across the boundary.
	if err := in.Online(c); err != nil {
		t.Fatalf("second Online: %v", err)
	}
	for name, f := range map[string]func(context.Context) (bool, error){"LooksAlive": in.LooksAlive, "IsAlive": in.IsAlive} {
		if ok, err := f(c); !ok || err != nil {
			t.Fatalf("%s: %v %v", name, ok, err)
		}
	}
	if out, err := in.Control(c, 1, []byte("ping")); err != nil || string(out) != "ping" {
		t.Fatalf("Control echo: %q %v", out, err)
	}
	e.svc.SetFencingToken("r1", 42)
	if out, err := in.Control(c, 2, nil); err != nil || string(out) != "42" {
		t.Fatalf("Control fencing token: %q %v", out, err)
	}
	_, err := in.Control(c, 0x1234, nil)
	wantIs(t, err, sdk.ErrInvalidFunction) // returned by the resource, carried across
	_, err = in.Control(c, sdk.AddRegistryCheckpoint, []byte(`SOFTWARE\x`))
	wantIs(t, err, sdk.ErrInvalidFunction) // host-only code, refused before the plugin
	if err := in.Offline(c); err != nil {
		t.Fatalf("Offline: %v", err)
	}
	if err := in.Terminate(c); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if err := in.Close(c); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := in.Online(c); err == nil {
		t.Fatal("Online after Close succeeded")
	}
	logs := strings.Join(e.svc.Logs(), "\n")
	for _, want := range []string{"res-r1 2 opened resource=res-r1", "res-r1 2 online"} {
		if !strings.Contains(logs, want) {
			t.Errorf("Services.Log: no %q in\n%s", want, logs)
		}
	}
}

func TestHealthAndFailures(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	sick := e.open(t, res("sick", map[string]any{"LooksAlive": false, "IsAlive": false}))
	if ok, err := sick.LooksAlive(c); ok || err != nil {
		t.Fatalf("LooksAlive: %v %v", ok, err)
	}
	if ok, err := sick.IsAlive(c); ok || err != nil {
		t.Fatalf("IsAlive: %v %v", ok, err)
	}
	for _, entry := range []string{"Online", "Offline", "Close"} {
		in := e.open(t, res("fail"+entry, map[string]any{"FailIn": entry}))
		var err error
		switch entry {
		case "Online":
			err = in.Online(c)
		case "Offline":
			err = in.Offline(c)
		case "Close":
			err = in.Close(c)
		}
		if err == nil || !strings.Contains(err.Error(), "injected failure in "+entry) || errors.Is(err, plugins.ErrPluginExited) {
			t.Fatalf("FailIn %s: %v", entry, err)
		}
	}
	_, err := e.d.Open(c, testtypeSpec(), res("failOpen", map[string]any{"FailIn": "Open"}))
	if err == nil || !strings.Contains(err.Error(), "injected failure in Open") {
		t.Fatalf("FailIn Open: %v", err)
	}
	// The id is free again after a failed Open; a duplicate Open is refused.
	in := e.open(t, res("failOpen", nil))
	if _, err := e.d.Open(c, testtypeSpec(), res("failOpen", nil)); !errors.Is(err, sdk.ErrAlreadyExists) {
		t.Fatalf("duplicate Open: %v", err)
	}
	if ok, err := in.LooksAlive(c); !ok || err != nil {
		t.Fatalf("LooksAlive: %v %v", ok, err)
	}
}

// Many resources in one process, called concurrently (run with -race).
func TestConcurrentResources(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%d", i)
			key := `SOFTWARE\Resmon\` + id
			in, err := e.d.Open(c, testtypeSpec(), res(id, map[string]any{"CheckpointKey": key, "RegistryKey": key}))
			if err != nil {
				errs <- err
				return
			}
			defer in.Close(c)
			for range 20 {
				if err := in.Online(c); err != nil {
					errs <- err
				}
				if ok, err := in.LooksAlive(c); !ok || err != nil {
					errs <- fmt.Errorf("LooksAlive %v %v", ok, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// inFlight wraps the services and counts progress reports that arrive
// while the host's Online call is in flight.
type inFlight struct {
	*pluginstest.Services
	online  atomic.Bool
	during  atomic.Int32
	outside atomic.Int32
}

func (s *inFlight) Progress(ctx context.Context, r model.Ref, msg string) error {
	if s.online.Load() {
		s.during.Add(1)
	} else {
		s.outside.Add(1)
	}
	return s.Services.Progress(ctx, r, msg)
}

// Progress reports flow to Services while Online runs.
func TestProgressReachesServicesDuringOnline(t *testing.T) {
	base := pluginstest.New()
	svc := &inFlight{Services: base}
	e := newEnv(t, func(c *goplugin.Config) { c.Services = svc })
	in := e.open(t, res("slow", map[string]any{"OnlineDelayMs": 300, "ProgressMs": 10}))
	svc.online.Store(true)
	err := in.Online(ctx(t))
	svc.online.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := base.ProgressCount("slow"); n < 2 || svc.during.Load() != int32(n) || svc.outside.Load() != 0 {
		t.Fatalf("progress reports: %d recorded, %d during Online, %d outside", n, svc.during.Load(), svc.outside.Load())
	}
}

// Terminate reaches the plugin while Online is in flight and makes it return.
func TestTerminateWhileOnlineInFlight(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	t.Run("slow Online", func(t *testing.T) {
		in := e.open(t, res("long", map[string]any{"OnlineDelayMs": 600000, "ProgressMs": 20}))
		online := result(func() error { return in.Online(c) })
		e.waitProgress(t, "long", 1) // Online is running in the plugin
		if err := in.Terminate(c); err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		// Either the resource's Terminate released it, or the plugin
		// cancelled its context after Terminate (caught inside Progress).
		err := await(t, online, "Online")
		if err == nil || errors.Is(err, plugins.ErrPluginExited) ||
			!strings.Contains(err.Error(), "interrupted by Terminate") && !errors.Is(err, context.Canceled) {
			t.Fatalf("Online after Terminate: %v", err)
		}
	})
	t.Run("HangIn Online", func(t *testing.T) {
		in := e.open(t, res("hang", map[string]any{"HangIn": "Online", "CheckpointKey": `SOFTWARE\hang`}))
		online := result(func() error { return in.Online(c) })
		if err := in.Terminate(c); err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		if err := await(t, online, "Online"); err == nil || errors.Is(err, plugins.ErrPluginExited) {
			t.Fatalf("Online after Terminate: %v", err)
		}
		if ok, err := in.LooksAlive(c); !ok || err != nil { // the process is fine
			t.Fatalf("LooksAlive: %v %v", ok, err)
		}
	})
}

// A plugin killed with SIGKILL in the middle of a call fails exactly the
// resources of its process; the next Open starts a new process.
func TestKill9FailsItsResourcesAndRestarts(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	a := e.open(t, res("a", map[string]any{"OnlineDelayMs": 600000, "ProgressMs": 20}))
	b := e.open(t, res("b", nil))
	sep := res("c", nil)
	sep.SeparateMonitor = true
	other := e.open(t, sep)
	pid := a.PID()
	if b.PID() != pid || other.PID() == pid {
		t.Fatalf("pids: a %d b %d c %d", pid, b.PID(), other.PID())
	}

	online := result(func() error { return a.Online(c) })
	e.waitProgress(t, "a", 1)
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := await(t, online, "Online")
	t.Logf("in-flight Online returned %v after the kill: %v", time.Since(killed), err)
	wantIs(t, err, plugins.ErrPluginExited)
	if !strings.Contains(err.Error(), fmt.Sprint(pid)) || !strings.Contains(err.Error(), "signal: killed") || !strings.Contains(err.Error(), `"testtype"`) {
		t.Fatalf("error does not name the type, pid and signal: %v", err)
	}
	_, err = b.LooksAlive(c)
	wantIs(t, err, plugins.ErrPluginExited)
	if ok, err := other.LooksAlive(c); !ok || err != nil {
		t.Fatalf("resource of another process: %v %v", ok, err)
	}
	select {
	case x := <-e.exit:
		got := map[string]bool{}
		for _, r := range x.Resources {
			got[r.ID] = true
		}
		if x.PID != pid || len(got) != 2 || !got["a"] || !got["b"] || !errors.Is(x.Err, plugins.ErrPluginExited) {
			t.Fatalf("OnExit: %+v", x)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no OnExit")
	}

	// The monitor closes the failed resources and opens them again.
	for _, in := range []*goplugin.Instance{a, b} {
		if err := in.Close(c); err != nil {
			t.Fatalf("Close of a failed resource: %v", err)
		}
	}
	a2 := e.open(t, res("a", nil))
	if a2.PID() == pid {
		t.Fatal("no new process")
	}
	if err := a2.Online(c); err != nil {
		t.Fatalf("Online after restart: %v", err)
	}
}

func TestExitAndPanicInEntryPoints(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	for _, tc := range []struct{ prop, want string }{
		{"ExitIn", "exit status 3"},
		{"PanicIn", "panic: testtype: injected panic in Online"},
	} {
		t.Run(tc.prop, func(t *testing.T) {
			in := e.open(t, res(tc.prop, map[string]any{tc.prop: "Online"}))
			err := in.Online(c)
			wantIs(t, err, plugins.ErrPluginExited)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not say %q: %v", tc.want, err)
			}
			if _, err := in.IsAlive(c); !errors.Is(err, plugins.ErrPluginExited) {
				t.Fatalf("later call: %v", err)
			}
			_ = in.Close(c)
			again := e.open(t, res(tc.prop, nil))
			if ok, err := again.IsAlive(c); !ok || err != nil {
				t.Fatalf("after restart: %v %v", ok, err)
			}
		})
	}
	// ExitIn Open: the Open itself fails with the exit.
	_, err := e.d.Open(c, testtypeSpec(), res("exitOpen", map[string]any{"ExitIn": "Open"}))
	wantIs(t, err, plugins.ErrPluginExited)
	// The panic's stack trace went to the node log, tagged with the type.
	if log := e.log.String(); !strings.Contains(log, "injected panic in Online") || !strings.Contains(log, "type=testtype") {
		t.Errorf("node log lacks the panic:\n%s", log)
	}
}

// deadlockTimeout is long enough for a healthy Open on a loaded machine
// (-race, parallel packages), short enough to keep the test quick.
const deadlockTimeout = 1500 * time.Millisecond

// An entry point past DeadlockTimeout gets the process killed: ErrDeadlock
// for the caller, ErrPluginExited for the other resources of the process.
func TestDeadlockTimeoutKillsTheProcess(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	for _, tc := range []struct{ prop, entry string }{{"HangIn", "Online"}, {"SpinIn", "LooksAlive"}} {
		t.Run(tc.prop, func(t *testing.T) {
			stuck := res("stuck"+tc.prop, map[string]any{tc.prop: tc.entry})
			stuck.DeadlockTimeout = deadlockTimeout
			in := e.open(t, stuck)
			bystander := e.open(t, res("by"+tc.prop, nil))
			pid := in.PID()
			var err error
			if tc.entry == "Online" {
				err = in.Online(c)
			} else {
				_, err = in.LooksAlive(c)
			}
			wantIs(t, err, plugins.ErrDeadlock, plugins.ErrPluginExited)
			_, err = bystander.LooksAlive(c)
			wantIs(t, err, plugins.ErrPluginExited)
			if errors.Is(err, plugins.ErrDeadlock) || !strings.Contains(err.Error(), "DeadlockTimeout") {
				t.Fatalf("bystander: %v", err)
			}
			waitGone(t, pid)
			_ = in.Close(c)
			_ = bystander.Close(c)
		})
	}
	t.Run("HangIn Open", func(t *testing.T) {
		stuck := res("stuckOpen", map[string]any{"HangIn": "Open"})
		stuck.DeadlockTimeout = deadlockTimeout
		bystander := e.open(t, res("byOpen", nil))
		_, err := e.d.Open(c, testtypeSpec(), stuck)
		wantIs(t, err, plugins.ErrDeadlock)
		_, err = bystander.IsAlive(c)
		wantIs(t, err, plugins.ErrPluginExited)
		waitGone(t, bystander.PID())
		// The id is free again, and a new process serves it.
		if ok, err := e.open(t, res("stuckOpen", nil)).IsAlive(c); !ok || err != nil {
			t.Fatal(ok, err)
		}
	})
}

func TestChecksumPinning(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	src := filepath.Join(e.dir, "testtype-copy")
	data, err := os.ReadFile(bins.testtype)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, data, 0o755); err != nil {
		t.Fatal(err)
	}
	good := sha256File(t, src)
	spec := plugins.TypeSpec{Name: "pinned", Kind: "plugin", Path: src, SHA256: good}

	wrong := spec
	wrong.SHA256 = strings.Repeat("ab", 32)
	_, err = e.d.Open(c, wrong, res("p0", nil))
	wantIs(t, err, plugins.ErrChecksum)
	for _, want := range []string{src, wrong.SHA256, good} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error does not name %q: %v", want, err)
		}
	}
	bad := spec
	bad.SHA256 = "not-hex"
	if _, err := e.d.Open(c, bad, res("p0", nil)); !errors.Is(err, plugins.ErrChecksum) {
		t.Fatalf("malformed pin: %v", err)
	}

	in := e.openType(t, spec, res("p1", nil))
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", in.PID()))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(exe) != filepath.Join(e.dir, "plugins", "bin") || filepath.Base(exe) != good {
		t.Fatalf("runs %s, not the verified private copy", exe)
	}
	if err := in.Online(c); err != nil {
		t.Fatal(err)
	}
	pid := in.PID()
	if err := in.Close(c); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid) // the last resource closed: the process stopped

	// The installed binary changes under the pin: the next start refuses it.
	if err := os.WriteFile(src, append(data, "tampered"...), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = e.d.Open(c, spec, res("p2", nil))
	wantIs(t, err, plugins.ErrChecksum)
	if !strings.Contains(err.Error(), src) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

func TestNotAPlugin(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	for _, tc := range []struct {
		name, path string
		want       string
		is         []error
	}{
		{"true", "/bin/true", "", nil},
		{"garbage", bins.garbage, "not a resource type", nil},
		{"missing", filepath.Join(e.dir, "nope"), "", []error{fs.ErrNotExist}},
		{"badversion", bins.badversion, fmt.Sprint(pluginproto.ProtocolVersion + 98), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.d.Open(c, plugins.TypeSpec{Name: tc.name, Kind: "plugin", Path: tc.path}, res("x", nil))
			wantIs(t, err, append(tc.is, plugins.ErrBadModule)...)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.name)) {
				t.Fatalf("unclear error: %v", err)
			}
			t.Log(err)
		})
	}
	if _, err := e.d.Open(c, plugins.TypeSpec{Name: "w", Kind: "wasm", Path: "x.wasm"}, res("x", nil)); !errors.Is(err, plugins.ErrBadModule) {
		t.Fatalf("wrong kind: %v", err)
	}
	// The driver still works.
	if ok, err := e.open(t, res("ok", nil)).LooksAlive(c); !ok || err != nil {
		t.Fatal(ok, err)
	}
}

func TestSeparateMonitor(t *testing.T) {
	e := newEnv(t)
	s1, s2 := res("s1", nil), res("s2", nil)
	s1.SeparateMonitor, s2.SeparateMonitor = true, true
	shared1, shared2 := e.open(t, res("r1", nil)), e.open(t, res("r2", nil))
	sep1, sep2 := e.open(t, s1), e.open(t, s2)
	if shared1.PID() != shared2.PID() {
		t.Fatalf("shared resources in different processes: %d %d", shared1.PID(), shared2.PID())
	}
	pids := map[int]bool{shared1.PID(): true, sep1.PID(): true, sep2.PID(): true}
	if len(pids) != 3 {
		t.Fatalf("SeparateMonitor resources share processes: %v", pids)
	}
	pid := sep1.PID()
	if err := sep1.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if ok, err := sep2.LooksAlive(ctx(t)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// A SeparateMonitor process's log lines carry the resource's name.
	if log := e.log.String(); !strings.Contains(log, "resource=res-s2") {
		t.Errorf("node log does not name the resource:\n%s", log)
	}
}

// Callbacks go through the host-owned socket: it is a 0600 socket in the
// data directory, it refuses callers without the resource's token, and a
// plugin reaches it again after the host re-creates it.
func TestCallbacksUseTheHostSocket(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	key := `SOFTWARE\Resmon\sock`
	in := e.open(t, res("sock", map[string]any{"RegistryKey": key}))
	path := e.d.SocketPath()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 || filepath.Dir(path) != filepath.Join(e.dir, "plugins") {
		t.Fatalf("callback socket %s: %v", path, fi.Mode())
	}
	if err := in.Online(c); err != nil {
		t.Fatal(err)
	}
	first, _ := e.svc.Reg.GetValue(c, key, "Started")

	if err := e.d.RestartCallbackServer(); err != nil {
		t.Fatal(err)
	}
	if err := in.Online(c); err != nil { // the registry write redials the new socket
		t.Fatalf("Online after the host re-created its socket: %v", err)
	}
	if second, _ := e.svc.Reg.GetValue(c, key, "Started"); second.Num == first.Num {
		t.Fatal("the registry write after the restart did not arrive")
	}

	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	host := pluginproto.NewHostClient(conn)
	for _, md := range []metadata.MD{
		nil,
		metadata.Pairs(pluginproto.MetaResourceID, "sock"),
		metadata.Pairs(pluginproto.MetaResourceID, "sock", pluginproto.MetaResourceToken, "forged"),
	} {
		_, err := host.FencingToken(metadata.NewOutgoingContext(c, md), &pluginproto.Empty{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("callback with %v: %v", md, err)
		}
	}
}

// The plugin's own hclog lines (stderr, JSON) land in the node log with
// their fields and the type.
func TestPluginLogsReachTheNodeLog(t *testing.T) {
	e := newEnv(t)
	_ = e.open(t, res("logged", nil))
	// stderr is read asynchronously: wait for the line.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(e.log.String(), "resource opened") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
	var line string
	for l := range strings.Lines(e.log.String()) {
		if strings.Contains(l, "resource opened") {
			line = l
		}
	}
	for _, want := range []string{"resource=res-logged", "resource_id=logged", "type=testtype", "[DEBUG]"} {
		if !strings.Contains(line, want) {
			t.Errorf("plugin log line %q lacks %q", line, want)
		}
	}
}

func TestCloseStopsPlugins(t *testing.T) {
	build(t)
	e := newEnv(t)
	in := e.open(t, res("z", nil))
	pid := in.PID()
	if err := e.d.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if _, err := os.Stat(e.d.SocketPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
	if _, err := e.d.Open(ctx(t), testtypeSpec(), res("y", nil)); err == nil {
		t.Fatal("Open after Close succeeded")
	}
	if _, err := in.LooksAlive(ctx(t)); !errors.Is(err, plugins.ErrPluginExited) {
		t.Fatalf("call after Close: %v", err)
	}
}

// A plugin started by a host exits when the host goes away, however it
// dies: the host holds the plugin's stdin, and its end means the host is gone.
func TestPluginExitsWithItsHost(t *testing.T) {
	build(t)
	cmd := exec.Command(bins.testtype)
	cmd.Env = append(os.Environ(),
		pluginproto.Handshake.MagicCookieKey+"="+pluginproto.Handshake.MagicCookieValue,
		fmt.Sprintf("PLUGIN_PROTOCOL_VERSIONS=%d", pluginproto.ProtocolVersion),
		"PLUGIN_UNIX_SOCKET_DIR="+t.TempDir(),
		pluginproto.EnvExitWithHost+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, fmt.Sprintf("1|%d|unix|", pluginproto.ProtocolVersion)) {
		t.Fatalf("handshake line %q: %v", line, err)
	}
	_ = stdin.Close() // the host is gone
	exited := result(cmd.Wait)
	if err := await(t, exited, "the plugin"); err != nil {
		t.Fatalf("plugin exit: %v", err)
	}
}

// TestCloseDuringAFailingStart: Close while a plugin process is still
// starting, and the start then fails, leaves nothing to stop: the driver
// must not touch a go-plugin client that never came to be (it once did, and
// clusterd panicked when it stopped during its first Open).
func TestCloseDuringAFailingStart(t *testing.T) {
	e := newEnv(t)
	fifo, marker := filepath.Join(e.dir, "release"), filepath.Join(e.dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(e.dir, "slowfail")
	body := fmt.Sprintf("#!/bin/sh\ntouch %q\nread x < %q\nexit 1\n", marker, fifo)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		_, err := e.d.Open(ctx(t), plugins.TypeSpec{Name: "slowfail", Kind: "plugin", Path: script}, res("s", nil))
		opened <- err
	}()
	waitFor(t, "the plugin process to start", func() bool { _, err := os.Stat(marker); return err == nil })
	closed := make(chan error, 1)
	go func() { closed <- e.d.Close(ctx(t)) }()
	// Close has taken the process table once Open refuses for closing.
	waitFor(t, "Close to begin", func() bool {
		_, err := e.d.Open(ctx(t), testtypeSpec(), res("after", nil))
		return err != nil && strings.Contains(err.Error(), "closed")
	})
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, "go")
	w.Close()
	if err := <-opened; !errors.Is(err, plugins.ErrBadModule) {
		t.Errorf("Open of a plugin that exits during the handshake: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}
