package ocf_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
	"github.com/resmon/resmon/types/ocf"
)

// Debian's ocf:heartbeat:Dummy through the conformance harness, in
// process and as the go-plugin executable.
func TestConformanceDummy(t *testing.T) {
	root := testRoot(t)
	rsctmp := t.TempDir()
	sdktest.Run(t, sdktest.Direct(&ocf.Type{Config: ocf.Config{Root: root, RscTmp: rsctmp}}), sdktest.Options{
		Properties: map[string]any{"Agent": "Dummy"},
	})
}

// Dummy through every entry point, both ways: Open (meta-data,
// validate-all), Online (start), LooksAlive and IsAlive (monitor), the
// type's control codes, a reload of a changed parameter, Offline (stop),
// Terminate and Close. The agent's own log lines reach the node log.
func TestDummyEveryEntryPoint(t *testing.T) {
	root := testRoot(t)
	for _, tg := range targets(t, root) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := ctxT(t)
			state := filepath.Join(t.TempDir(), "dummy.state")
			req := openReq("Dummy "+tg.name, map[string]any{"Agent": "Dummy", "Provider": "heartbeat", "state": state, "fake": "one"})
			h := sdktest.NewHost(req.ID)
			r, err := tg.open(t, h, req)
			must(t, "Open", err)
			must(t, "Online", r.Online(ctx))
			if _, err := os.Stat(state); err != nil {
				t.Fatalf("start left no state file: %v", err)
			}
			must(t, "LooksAlive", r.health(ctx, false))
			must(t, "IsAlive", r.health(ctx, true))

			out, err := r.Control(ctx, ocf.CodeMetadata, nil)
			if err != nil || !bytes.Contains(out, []byte(`<resource-agent name="Dummy"`)) {
				t.Fatalf("meta-data control: %v\n%.200s", err, out)
			}
			out, err = r.Control(ctx, ocf.CodeMonitor, []byte("0"))
			if err != nil || string(out) != "monitor (OCF_CHECK_LEVEL 0): success (0)\n" {
				t.Fatalf("monitor control: %v %q", err, out)
			}
			out, err = r.Control(ctx, ocf.CodeValidate, nil)
			if err != nil || !strings.Contains(string(out), "success") {
				t.Fatalf("validate control: %v %q", err, out)
			}
			if _, err := r.Control(ctx, 0x01200099, nil); !errors.Is(err, sdk.ErrInvalidFunction) {
				t.Fatalf("unknown code: %v", err)
			}

			// Dummy follows the older API: "reload", and any parameter
			// not marked unique may change without a restart.
			_, err = r.Control(ctx, sdk.SetPrivateProperties, []byte(`{"Agent":"Dummy","Provider":"heartbeat","state":"`+state+`","fake":"two"}`))
			must(t, "SetPrivateProperties (fake)", err)
			if !hasLog(h, "Reloading") || !hasLog(h, "parameters reloaded", "action=reload", "changed=fake") {
				t.Fatalf("no reload in the log:\n%s", strings.Join(h.Logs(), "\n"))
			}
			// state is unique: it cannot change while Dummy runs.
			_, err = r.Control(ctx, sdk.SetPrivateProperties, []byte(`{"Agent":"Dummy","state":"`+state+`.new","fake":"two"}`))
			if !errors.Is(err, sdk.ErrInvalidFunction) || !strings.Contains(err.Error(), "cannot reload parameter state") {
				t.Fatalf("unique parameter changed while running: %v", err)
			}

			must(t, "Offline", r.Offline(ctx))
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Fatalf("stop left the state file: %v", err)
			}
			err = r.health(ctx, false)
			if sdk.ClassOf(err) != sdk.ClassRestart || !strings.Contains(err.Error(), "not running (7)") {
				t.Fatalf("LooksAlive after stop: %v", err)
			}
			must(t, "Offline again (stop of a stopped resource succeeds)", r.Offline(ctx))
			must(t, "Online again", r.Online(ctx))
			must(t, "Terminate", r.Terminate(ctx))
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Fatalf("Terminate left the state file: %v", err)
			}
			must(t, "Close", r.Close(ctx))
			if !hasLog(h, "action=start", "agent=heartbeat:Dummy") && tg.name == "Direct" {
				t.Logf("log:\n%s", strings.Join(h.Logs(), "\n"))
			}
		})
	}
}

// Dummy can produce two classes itself: "not running" (soft) when its
// state file disappears under it, and "invalid arguments" (hard: this node
// is banned) from validate-all when its state directory is not writable.
func TestDummyClasses(t *testing.T) {
	root := testRoot(t)
	for _, tg := range targets(t, root) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := ctxT(t)
			state := filepath.Join(t.TempDir(), "dummy.state")
			req := openReq("soft "+tg.name, map[string]any{"Agent": "Dummy", "state": state})
			r, err := tg.open(t, sdktest.NewHost(req.ID), req)
			must(t, "Open", err)
			must(t, "Online", r.Online(ctx))
			os.Remove(state)
			err = r.health(ctx, true)
			var ee *ocf.ExitError
			if !errors.As(err, &ee) && tg.name == "Direct" || sdk.ClassOf(err) != sdk.ClassRestart || !strings.Contains(err.Error(), "ocf:heartbeat:Dummy monitor (OCF_CHECK_LEVEL 0): not running (7)") {
				t.Fatalf("IsAlive with the state file gone: %v", err)
			}
			must(t, "Close", r.Close(ctx))

			req = openReq("hard "+tg.name, map[string]any{"Agent": "Dummy", "state": "/nonexistent/dir/dummy.state"})
			_, err = tg.open(t, sdktest.NewHost(req.ID), req)
			// The sentinels of the type stay in the plugin process; the
			// class crosses the wire.
			if sdk.ClassOf(err) != sdk.ClassBanNode || (tg.name == "Direct" && !errors.Is(err, ocf.ErrAgentFailed)) || !strings.Contains(err.Error(), "validate-all: invalid arguments (2)") ||
				!strings.Contains(err.Error(), "is not writable") {
				t.Fatalf("validate-all with an unwritable state directory: %v (class %v)", err, sdk.ClassOf(err))
			}
		})
	}
}

// Every exit-code class from the test agent, at every entry point that
// runs an action, in process and across the go-plugin wire: the class
// (sdk.ClassOf) is what the monitor acts on.
func TestExitCodeClasses(t *testing.T) {
	root := testRoot(t)
	for _, tg := range targets(t, root) {
		t.Run(tg.name, func(t *testing.T) {
			for _, c := range []struct {
				action string // start, monitor (LooksAlive), validate-all (Open), stop
				code   int
				class  sdk.FailureClass
				name   string
			}{
				{"start", 1, sdk.ClassRestart, "generic error (1)"},
				{"start", 7, sdk.ClassRestart, "not running (7)"},
				{"start", 2, sdk.ClassBanNode, "invalid arguments (2)"},
				{"start", 3, sdk.ClassBanNode, "unimplemented (3)"},
				{"start", 4, sdk.ClassBanNode, "insufficient privileges (4)"},
				{"start", 5, sdk.ClassBanNode, "not installed (5)"},
				{"start", 6, sdk.ClassFailEverywhere, "not configured (6)"},
				{"start", 42, sdk.ClassRestart, "unknown error (42)"},
				{"monitor", 1, sdk.ClassRestart, "generic error (1)"},
				{"monitor", 5, sdk.ClassBanNode, "not installed (5)"},
				{"monitor", 6, sdk.ClassFailEverywhere, "not configured (6)"},
				{"validate-all", 4, sdk.ClassBanNode, "insufficient privileges (4)"},
				{"validate-all", 6, sdk.ClassFailEverywhere, "not configured (6)"},
				{"stop", 1, sdk.ClassRestart, "generic error (1)"},
			} {
				name := c.action + " " + c.name
				t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
					ctx := ctxT(t)
					dir := t.TempDir()
					failFile := filepath.Join(dir, "fail")
					req := openReq("classes "+name, map[string]any{"Provider": "resmontest", "Agent": "classes",
						"state": filepath.Join(dir, "state"), "fail_file": failFile})
					if c.action == "validate-all" {
						os.WriteFile(failFile, []byte("validate-all "+itoa(c.code)+" told to fail\n"), 0o644)
					}
					h := sdktest.NewHost(req.ID)
					r, err := tg.open(t, h, req)
					if c.action == "validate-all" {
						check(t, err, c.class, "validate-all: "+c.name)
						return
					}
					must(t, "Open", err)
					defer r.Close(ctx)
					if c.action != "start" {
						must(t, "Online", r.Online(ctx))
					}
					os.WriteFile(failFile, []byte(c.action+" "+itoa(c.code)+" told to fail\n"), 0o644)
					switch c.action {
					case "start":
						err = r.Online(ctx)
					case "monitor":
						err = r.health(ctx, false)
					case "stop":
						err = r.Offline(ctx)
					}
					what := c.action
					if what == "monitor" {
						what = "monitor (OCF_CHECK_LEVEL 0)"
					}
					check(t, err, c.class, "ocf:resmontest:classes "+what+": "+c.name+": told to fail")
					if !hasLog(h, "exit reason: told to fail") {
						t.Errorf("the exit reason is not in the node log:\n%s", strings.Join(h.Logs(), "\n"))
					}
				})
			}
			t.Run("start_timeout", func(t *testing.T) {
				ctx := ctxT(t)
				req := openReq("slow", map[string]any{"Provider": "resmontest", "Agent": "classes", "state": filepath.Join(t.TempDir(), "state"), "mode": "slow"})
				r, err := tg.open(t, sdktest.NewHost(req.ID), req)
				must(t, "Open", err)
				defer r.Close(ctx)
				err = r.Online(ctx)
				if sdk.ClassOf(err) != sdk.ClassRestart || !strings.Contains(err.Error(), "start: timed out") {
					t.Fatalf("a start past its 3 s timeout: %v", err)
				}
				if tg.name == "Direct" && !errors.Is(err, ocf.ErrTimeout) {
					t.Fatalf("not ErrTimeout: %v", err)
				}
			})
		})
	}
}

func check(t *testing.T, err error, class sdk.FailureClass, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q of class %v", want, class)
	}
	if got := sdk.ClassOf(err); got != class || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %q of class %v, want %q of class %v", err, got, want, class)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// The OCF environment as Pacemaker sets it, and nothing of the plugin's
// handshake.
func TestEnvironment(t *testing.T) {
	root := testRoot(t)
	for _, tg := range targets(t, root) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := ctxT(t)
			dir := t.TempDir()
			envFile := filepath.Join(dir, "env")
			req := openReq("Web IP "+tg.name, map[string]any{"Provider": "resmontest", "Agent": "classes",
				"state": filepath.Join(dir, "state"), "env_file": envFile, "port": int64(8080), "verbose": true})
			r, err := tg.open(t, sdktest.NewHost(req.ID), req)
			must(t, "Open", err)
			must(t, "Online", r.Online(ctx))
			must(t, "IsAlive", r.health(ctx, true))
			must(t, "Close", r.Close(ctx))
			b, err := os.ReadFile(envFile)
			must(t, "reading the environment", err)
			blocks := map[string]string{}
			for _, blk := range strings.Split(string(b), "\n\n") {
				if a, rest, ok := strings.Cut(blk, "\n"); ok {
					blocks[strings.TrimPrefix(a, "action=")] = rest
				}
			}
			inst := "Web_IP_" + strings.ReplaceAll(tg.name, " ", "_") + "-6f1c2e4a"
			for action, want := range map[string][]string{
				"validate-all": {"OCF_RESKEY_state=" + filepath.Join(dir, "state"), "OCF_RESKEY_port=8080", "OCF_RESKEY_verbose=true"},
				"start": {"OCF_ROOT=" + root, "OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=1", "OCF_RESOURCE_INSTANCE=" + inst,
					"OCF_RESOURCE_TYPE=classes", "OCF_RESOURCE_PROVIDER=resmontest", "OCF_RESKEY_CRM_meta_timeout=3000",
					"OCF_RESKEY_CRM_meta_interval=0", "OCF_EXIT_REASON_PREFIX=ocf-exit-reason:", "HA_RSCTMP=/", "HA_LOGFACILITY=none", "OCF_RESKEY_CRM_meta_on_node=node1"},
				"monitor": {"OCF_CHECK_LEVEL=10", "OCF_RESKEY_CRM_meta_interval=30000", "OCF_RESKEY_CRM_meta_timeout=15000"},
			} {
				env, ok := blocks[action]
				if !ok {
					t.Fatalf("no %s recorded in\n%s", action, b)
				}
				for _, w := range want {
					if !strings.Contains(env, w) {
						t.Errorf("%s: no %q in\n%s", action, w, env)
					}
				}
				if strings.Contains(env, "PLUGIN_") || strings.Contains(env, "RESMON_") {
					t.Errorf("%s: the plugin handshake leaked into the agent's environment:\n%s", action, env)
				}
			}
		})
	}
}

// Bad properties get one error naming the resource, the parameter and the
// agent's own description; they fail the resource everywhere (no node
// can fix its configuration), except an agent missing on this node, which
// bans the node.
func TestBadProperties(t *testing.T) {
	root := testRoot(t)
	typ := &ocf.Type{Config: ocf.Config{Root: root, RscTmp: t.TempDir()}}
	state := filepath.Join(t.TempDir(), "state")
	classes := func(kv ...any) map[string]any {
		m := map[string]any{"Provider": "resmontest", "Agent": "classes", "state": state}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		name  string
		props map[string]any
		class sdk.FailureClass
		want  []string
	}{
		{"no agent", map[string]any{"Provider": "heartbeat"}, sdk.ClassFailEverywhere, []string{`resource "bad": Agent: required`}},
		{"provider with a slash", map[string]any{"Provider": "../x", "Agent": "Dummy"}, sdk.ClassFailEverywhere, []string{"Provider must be a name"}},
		{"agent misspelt key", map[string]any{"agent": "Dummy"}, sdk.ClassFailEverywhere, []string{"agent: did you mean Agent?"}},
		{"not installed", map[string]any{"Agent": "NoSuchAgent"}, sdk.ClassBanNode, []string{"agent not installed", "ocf:heartbeat:NoSuchAgent"}},
		{"unknown parameter", classes("prot", 80), sdk.ClassFailEverywhere, []string{`resource "bad": prot: ocf:resmontest:classes has no parameter "prot" (did you mean port?)`}},
		{"not an integer", classes("port", "http"), sdk.ClassFailEverywhere, []string{`port: "http" is not an integer`, "TCP port of the pretend service [integer]"}},
		{"not a boolean", classes("verbose", "maybe"), sdk.ClassFailEverywhere, []string{`verbose: "maybe" is not a boolean`, "Log more"}},
		{"not a choice", classes("mode", "medium"), sdk.ClassFailEverywhere, []string{`mode: "medium" is not one of fast, slow`}},
		{"a list", classes("port", []any{1, 2}), sdk.ClassFailEverywhere, []string{"port: a []interface {}"}},
		{"required missing", map[string]any{"Provider": "resmontest", "Agent": "classes"}, sdk.ClassFailEverywhere, []string{`state: required by ocf:resmontest:classes: State file`}},
		{"several at once", classes("port", "x", "verbose", "x"), sdk.ClassFailEverywhere, []string{"port:", "verbose:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := openReq("bad", c.props)
			_, err := typ.Open(ctxT(t), sdktest.NewHost(req.ID), req)
			if err == nil {
				t.Fatal("opened")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := sdk.ClassOf(err); got != c.class {
				t.Errorf("class %v, want %v", got, c.class)
			}
			if c.class == sdk.ClassFailEverywhere && !errors.Is(err, sdk.ErrInvalidParameter) {
				t.Errorf("not sdk.ErrInvalidParameter: %v", err)
			}
		})
	}
}

// A parameter the agent declares unique cannot have the same value in two
// resources open on the node.
func TestUniqueParameters(t *testing.T) {
	root := testRoot(t)
	typ := &ocf.Type{Config: ocf.Config{Root: root, RscTmp: t.TempDir()}}
	state := filepath.Join(t.TempDir(), "state")
	props := map[string]any{"Provider": "resmontest", "Agent": "classes", "state": state}
	first := openReq("first", props)
	r, err := typ.Open(ctxT(t), sdktest.NewHost(first.ID), first)
	must(t, "Open first", err)
	second := openReq("second", props)
	_, err = typ.Open(ctxT(t), sdktest.NewHost(second.ID), second)
	if err == nil || !strings.Contains(err.Error(), `resource "second": state: ocf:resmontest:classes declares state unique, and resource "first" on this node has the same value`) {
		t.Fatalf("second open: %v", err)
	}
	must(t, "Close first", r.Close(ctxT(t)))
	r, err = typ.Open(ctxT(t), sdktest.NewHost(second.ID), second)
	must(t, "Open second once the first is closed", err)
	r.Close(ctxT(t))
}

// OCF 1.1: a parameter marked reloadable changes with reload-agent while
// the resource runs; any other waits for the next start (the monitor then
// reopens the resource before its next Online); while stopped every change
// is taken at once.
func TestReloadAgent(t *testing.T) {
	root := testRoot(t)
	for _, tg := range targets(t, root) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := ctxT(t)
			state := filepath.Join(t.TempDir(), "state")
			props := func(greeting string, port int) []byte {
				return []byte(`{"Provider":"resmontest","Agent":"classes","state":"` + state + `","greeting":"` + greeting + `","port":` + itoa(port) + `}`)
			}
			req := openReq("reload "+tg.name, map[string]any{"Provider": "resmontest", "Agent": "classes", "state": state, "greeting": "hello", "port": int64(7000)})
			h := sdktest.NewHost(req.ID)
			r, err := tg.open(t, h, req)
			must(t, "Open", err)
			defer r.Close(ctx)
			_, err = r.Control(ctx, sdk.SetPrivateProperties, props("bonjour", 7000))
			must(t, "SetPrivateProperties while stopped", err)
			must(t, "Online", r.Online(ctx))
			if b, _ := os.ReadFile(state); string(b) != "bonjour\n" {
				t.Fatalf("start used %q, want the greeting set while stopped", b)
			}
			_, err = r.Control(ctx, sdk.SetPrivateProperties, props("hallo", 7000))
			must(t, "SetPrivateProperties of a reloadable parameter", err)
			if b, _ := os.ReadFile(state); string(b) != "hallo\n" {
				t.Fatalf("reload-agent did not run: state %q", b)
			}
			if !hasLog(h, "action=reload-agent", "changed=greeting") {
				t.Fatalf("log:\n%s", strings.Join(h.Logs(), "\n"))
			}
			_, err = r.Control(ctx, sdk.SetPrivateProperties, props("hallo", 7001))
			if !errors.Is(err, sdk.ErrInvalidFunction) || !strings.Contains(err.Error(), "cannot reload parameter port") {
				t.Fatalf("a parameter that is not reloadable: %v", err)
			}
			_, err = r.Control(ctx, sdk.SetPrivateProperties, props("hallo", -0)[:10])
			if !errors.Is(err, sdk.ErrInvalidParameter) {
				t.Fatalf("broken JSON: %v", err)
			}
			_, err = r.Control(ctx, sdk.SetPrivateProperties, []byte(`{"Provider":"resmontest","Agent":"classes","state":"`+state+`","port":"x"}`))
			if !errors.Is(err, sdk.ErrInvalidParameter) || !strings.Contains(err.Error(), `port: "x" is not an integer`) {
				t.Fatalf("a bad new value: %v", err)
			}
		})
	}
}

// Something the agent leaves running in the background with its stderr
// (IPaddr2's send_arp logger) neither holds the action up nor loses its
// lines: start returns while the child still runs, and the child's line
// reaches the node log when it comes.
func TestBackgroundChildOfAnAgent(t *testing.T) {
	root := testRoot(t)
	for _, tg := range targets(t, root) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := ctxT(t)
			state := filepath.Join(t.TempDir(), "state")
			req := openReq("linger "+tg.name, map[string]any{"Provider": "resmontest", "Agent": "classes", "state": state, "linger": true})
			h := sdktest.NewHost(req.ID)
			r, err := tg.open(t, h, req)
			must(t, "Open", err)
			defer r.Close(ctx)
			must(t, "Online", r.Online(ctx)) // the child waits for us: Online returned first
			if hasLog(h, "late line") {
				t.Fatal("the child wrote before it was told to")
			}
			os.WriteFile(state+".go", nil, 0o644)
			deadline := time.Now().Add(30 * time.Second)
			for !hasLog(h, "late line", "action=start") {
				if time.Now().After(deadline) {
					t.Fatalf("the background child's line never reached the log:\n%s", strings.Join(h.Logs(), "\n"))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
