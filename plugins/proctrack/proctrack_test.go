package proctrack_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/plugins/proctrack"
)

// The test binary doubles as the keeper process.
func TestMain(m *testing.M) {
	if os.Getenv("PROCTRACK_TEST_KEEPER") == "1" {
		if err := proctrack.ServeKeeper(os.Stdin, hclog.New(&hclog.LoggerOptions{Name: "keeper", Output: os.Stderr})); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func keeperCommand(t *testing.T) []string {
	t.Setenv("PROCTRACK_TEST_KEEPER", "1") // inherited by the keeper only: tests run it once
	return []string{os.Args[0]}
}

// modes runs f in each mode this machine allows.
func modes(t *testing.T, f func(t *testing.T, noCgroups bool)) {
	t.Run("session", func(t *testing.T) { f(t, true) })
	t.Run("cgroup", func(t *testing.T) {
		tr := newTracker(t, t.TempDir(), false)
		if tr.Mode() != proctrack.ModeCgroup {
			t.Skip("no usable cgroup v2 here: the tracker fell back to sessions (logged as a warning)")
		}
		f(t, false)
	})
}

func newTracker(t *testing.T, dir string, noCgroups bool) *proctrack.Tracker {
	t.Helper()
	tr, err := proctrack.New(proctrack.Config{Dir: dir, Node: "n1", NoCgroups: noCgroups})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close(context.Background()) })
	return tr
}

// marker is a sleep length no other process on the machine uses.
func marker(t *testing.T) string {
	return fmt.Sprintf("%d.%d", 100000+os.Getpid()%100000, time.Now().UnixNano()%1000000)
}

// running lists live sleep processes whose argument is m.
func running(m string) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		args := strings.Split(string(b), "\x00")
		if err != nil || len(args) < 2 || filepath.Base(args[0]) != "sleep" || args[1] != m {
			continue
		}
		st, _ := os.ReadFile(filepath.Join(d, "stat"))
		if i := strings.LastIndexByte(string(st), ')'); i < 0 || strings.HasPrefix(string(st[i:]), ") Z") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		out = append(out, pid)
	}
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startFamily starts a shell in u that starts two sleeps, one of them in a
// session of its own (it escapes a session, not a cgroup), and waits for
// all of them.
func startFamily(t *testing.T, u *proctrack.Unit, m string, escape bool) *exec.Cmd {
	t.Helper()
	script := fmt.Sprintf("sleep %s & sleep %s", m, m)
	if escape {
		script = fmt.Sprintf("setsid sleep %s & sleep %s", m, m)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	if err := u.Start(cmd); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	waitFor(t, "both sleeps to run", 5*time.Second, func() bool { return len(running(m)) == 2 })
	return cmd
}

// TestSetupKillsWhatAPreviousRunLeft: a tracker that was never closed (its
// clusterd crashed) left a family of processes running; the next tracker
// on the same directory kills them all in Setup, before anything else.
func TestSetupKillsWhatAPreviousRunLeft(t *testing.T) {
	modes(t, func(t *testing.T, noCgroups bool) {
		dir := t.TempDir()
		old, err := proctrack.New(proctrack.Config{Dir: dir, Node: "n1", NoCgroups: noCgroups})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Setup(context.Background()); err != nil {
			t.Fatal(err)
		}
		u, err := old.NewUnit("resource 1", proctrack.KillAll)
		if err != nil {
			t.Fatal(err)
		}
		m := marker(t)
		startFamily(t, u, m, !noCgroups)

		tr := newTracker(t, dir, noCgroups)
		_ = tr
		if n := running(m); len(n) != 0 {
			t.Fatalf("after Setup, %d processes of the previous run still run: %v", len(n), n)
		}
		if recs, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(recs) != 0 {
			t.Fatalf("records left after Setup: %v", recs)
		}
		if c := u.Cgroup(); c != "" {
			if _, err := os.Stat(c); !os.IsNotExist(err) {
				t.Fatalf("cgroup %s of the previous run still there: %v", c, err)
			}
		}
	})
}

// TestUnitCloseKillsEverything: closing a unit kills every process in it,
// grandchildren included, and removes its record.
func TestUnitCloseKillsEverything(t *testing.T) {
	modes(t, func(t *testing.T, noCgroups bool) {
		dir := t.TempDir()
		tr := newTracker(t, dir, noCgroups)
		u, err := tr.NewUnit("resource 2", proctrack.KillAll)
		if err != nil {
			t.Fatal(err)
		}
		m := marker(t)
		startFamily(t, u, m, !noCgroups)
		if err := u.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := running(m); len(n) != 0 {
			t.Fatalf("%d processes of the unit survived Close: %v", len(n), n)
		}
		if recs, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(recs) != 0 {
			t.Fatalf("records left after Close: %v", recs)
		}
	})
}

// TestKeeperKillsAtTheDeadline: past the deadline, unrenewed, the keeper
// kills every process of the units, sparing only the leader of a
// SpareLeader unit (a plugin host); a process started after the deadline
// is killed too, until a later deadline comes.
func TestKeeperKillsAtTheDeadline(t *testing.T) {
	modes(t, func(t *testing.T, noCgroups bool) {
		tr := newTracker(t, t.TempDir(), noCgroups)
		if err := tr.StartKeeper(context.Background(), keeperCommand(t), os.Stderr); err != nil {
			t.Fatal(err)
		}
		fenced, err := tr.NewUnit("wasm resource", proctrack.KillAll)
		if err != nil {
			t.Fatal(err)
		}
		spared, err := tr.NewUnit("plugin process", proctrack.SpareLeader)
		if err != nil {
			t.Fatal(err)
		}
		mf, ms := marker(t)+"1", marker(t)+"2"
		startFamily(t, fenced, mf, false)
		leader := exec.Command("/bin/sleep", ms)
		if err := spared.Start(leader); err != nil {
			t.Fatal(err)
		}
		go leader.Wait()
		other := exec.Command("/bin/sleep", ms+"0")
		if err := spared.Start(other); err != nil {
			t.Fatal(err)
		}
		go other.Wait()
		deadline := time.Now().Add(300 * time.Millisecond)
		tr.SetDeadline(deadline)
		if tr.DeadlinePassed() {
			t.Fatal("DeadlinePassed before the deadline")
		}
		waitFor(t, "the keeper to kill the deadline unit", 10*time.Second, func() bool { return len(running(mf)) == 0 })
		if late := time.Since(deadline); late < 0 {
			t.Fatalf("killed %s before the deadline", -late)
		} else {
			t.Logf("killed %s after the deadline", late.Round(time.Millisecond))
		}
		if !tr.DeadlinePassed() {
			t.Fatal("DeadlinePassed false after the deadline")
		}
		waitFor(t, "the keeper to kill the plugin's child", 10*time.Second, func() bool { return len(running(ms+"0")) == 0 })
		if n := len(running(ms)); n != 1 {
			t.Fatal("the keeper killed the leader of a SpareLeader unit")
		}
		// Started after the deadline (clusterd stood still in between): killed too.
		ml := marker(t) + "3"
		cmd := exec.Command("/bin/sleep", ml)
		if err := fenced.Start(cmd); err != nil {
			t.Fatal(err)
		}
		go cmd.Wait()
		waitFor(t, "the keeper to kill a process started past the deadline", 10*time.Second, func() bool { return len(running(ml)) == 0 })
		// Renewed: processes live again.
		tr.SetDeadline(time.Now().Add(time.Hour))
		time.Sleep(2 * 50 * time.Millisecond) // the keeper reads the renewal
		mr := marker(t) + "4"
		cmd = exec.Command("/bin/sleep", mr)
		if err := fenced.Start(cmd); err != nil {
			t.Fatal(err)
		}
		go cmd.Wait()
		time.Sleep(300 * time.Millisecond)
		if n := len(running(mr)); n != 1 {
			t.Fatalf("after a renewal a new process was killed (%d running)", n)
		}
		fenced.Close(context.Background())
		spared.Close(context.Background())
	})
}

// TestKeeperKillsEverythingWhenClusterdGoes: at the end of its input
// (clusterd is gone, however) the keeper kills every unit it tracks.
func TestKeeperKillsEverythingWhenClusterdGoes(t *testing.T) {
	modes(t, func(t *testing.T, noCgroups bool) {
		tr := newTracker(t, t.TempDir(), noCgroups)
		if err := tr.StartKeeper(context.Background(), keeperCommand(t), os.Stderr); err != nil {
			t.Fatal(err)
		}
		u, err := tr.NewUnit("plugin process", proctrack.SpareLeader)
		if err != nil {
			t.Fatal(err)
		}
		m := marker(t)
		startFamily(t, u, m, false)
		if err := tr.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the keeper to kill the unit", 10*time.Second, func() bool { return len(running(m)) == 0 })
	})
}

// TestKeeperSparesAPluginHostsTerminate: past the deadline the keeper
// kills what a plugin host's unit ran before it, but spares what the host
// starts from the deadline on: its own Terminate (an OCF agent's stop, which
// must run to its end). Processes of other units are killed as before.
func TestKeeperSparesAPluginHostsTerminate(t *testing.T) {
	modes(t, func(t *testing.T, noCgroups bool) {
		tr := newTracker(t, t.TempDir(), noCgroups)
		if err := tr.StartKeeper(context.Background(), keeperCommand(t), os.Stderr); err != nil {
			t.Fatal(err)
		}
		host, err := tr.NewUnit("plugin process", proctrack.SpareLeader)
		if err != nil {
			t.Fatal(err)
		}
		fenced, err := tr.NewUnit("wasm resource", proctrack.KillAll)
		if err != nil {
			t.Fatal(err)
		}
		m := marker(t)
		start := func(u *proctrack.Unit, arg string) {
			t.Helper()
			cmd := exec.Command("/bin/sleep", arg)
			if err := u.Start(cmd); err != nil {
				t.Fatal(err)
			}
			go cmd.Wait()
		}
		start(host, m+"1")  // the leader: the plugin host
		start(host, m+"10") // the application it ran
		tr.SetDeadline(time.Now().Add(300 * time.Millisecond))
		waitFor(t, "the keeper to kill the application", 10*time.Second, func() bool { return len(running(m+"10")) == 0 })
		// Ticks of /proc's start times are 10 ms: start the terminate one
		// tick later for sure.
		waitFor(t, "a tick to pass", time.Second, func() bool { return tr.DeadlinePassed() })
		time.Sleep(20 * time.Millisecond)
		start(host, m+"11") // the host's Terminate
		// A unit tracked past the deadline makes the keeper kill again; it
		// is killed, and the host's Terminate is not.
		start(fenced, m+"2")
		waitFor(t, "the keeper to kill the late unit", 10*time.Second, func() bool { return len(running(m+"2")) == 0 })
		if len(running(m+"1")) != 1 || len(running(m+"11")) != 1 {
			t.Fatalf("the keeper killed the plugin host (%d running) or its terminate (%d running)", len(running(m+"1")), len(running(m+"11")))
		}
		fenced.Close(context.Background())
		host.Close(context.Background())
	})
}

// TestKeeperLetsPluginHostsFinishWhenClusterdGoes: once clusterd is gone
// the keeper kills the units of WASM resources at once, and lets a plugin
// host run until it exits (it terminates its resources first), within
// hostGrace when no deadline is ahead; what it leaves is killed after.
func TestKeeperLetsPluginHostsFinishWhenClusterdGoes(t *testing.T) {
	modes(t, func(t *testing.T, noCgroups bool) {
		tr := newTracker(t, t.TempDir(), noCgroups)
		if err := tr.StartKeeper(context.Background(), keeperCommand(t), os.Stderr); err != nil {
			t.Fatal(err)
		}
		host, err := tr.NewUnit("plugin process", proctrack.SpareLeader)
		if err != nil {
			t.Fatal(err)
		}
		fenced, err := tr.NewUnit("wasm resource", proctrack.KillAll)
		if err != nil {
			t.Fatal(err)
		}
		m := marker(t)
		done := filepath.Join(t.TempDir(), "terminated")
		// The host: its "terminate" takes a while, writes its mark and
		// exits, leaving a child behind.
		leader := exec.Command("/bin/sh", "-c", fmt.Sprintf("sleep %s0 & sleep 0.5; echo ok > %s", m, done))
		if err := host.Start(leader); err != nil {
			t.Fatal(err)
		}
		go leader.Wait()
		startFamily(t, fenced, m+"2", false)
		waitFor(t, "the host's child to run", 5*time.Second, func() bool { return len(running(m+"0")) == 1 })
		if err := tr.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the keeper to kill the WASM unit", 10*time.Second, func() bool { return len(running(m+"2")) == 0 })
		waitFor(t, "the keeper to kill what the host left", 10*time.Second, func() bool { return len(running(m+"0")) == 0 })
		if b, err := os.ReadFile(done); err != nil || string(b) != "ok\n" {
			t.Fatalf("the host was killed before it finished: %q, %v", b, err)
		}
	})
}

// TestReusedPIDIsNotKilled: a recorded session whose leader's pid now
// belongs to another process (another start time) is left alone.
func TestReusedPIDIsNotKilled(t *testing.T) {
	dir := t.TempDir()
	m := marker(t)
	other := exec.Command("/bin/sleep", m)
	other.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	rec := fmt.Sprintf(`{"name":"old.1.1","sessions":[{"sid":%d,"start":1}]}`, other.Process.Pid)
	if err := os.WriteFile(filepath.Join(dir, "old.1.1.json"), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := proctrack.New(proctrack.Config{Dir: dir, Node: "n1", NoCgroups: true})
	if err != nil {
		t.Fatal(err)
	}
	left, err := tr.Setup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if left.Units != 1 || left.Processes != 0 {
		t.Fatalf("Setup found %+v, want 1 unit and no process", left)
	}
	if len(running(m)) != 1 {
		t.Fatal("a process that merely reuses a recorded pid was killed")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []proctrack.Config{{Node: "n"}, {Dir: "x"}, {Dir: "x", Node: "a/b"}} {
		if _, err := proctrack.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// TestForeignCgroupRecordIsIgnored: a record naming a cgroup that is not
// one of the node's own is dropped, never acted on.
func TestForeignCgroupRecordIsIgnored(t *testing.T) {
	dir := t.TempDir()
	rec := `{"name":"evil.1.1","cgroup":"/sys/fs/cgroup/unified"}`
	if err := os.WriteFile(filepath.Join(dir, "evil.1.1.json"), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := proctrack.New(proctrack.Config{Dir: dir, Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	left, err := tr.Setup(context.Background())
	if err != nil || left.Processes != 0 {
		t.Fatalf("Setup: %+v %v", left, err)
	}
	defer tr.Close(context.Background())
	if _, err := os.Stat(filepath.Join(dir, "evil.1.1.json")); !os.IsNotExist(err) {
		t.Fatalf("the foreign record is still there: %v", err)
	}
}

// TestUnitsSurviveTheNodeCgroupGoing: the keeper of a previous run removes
// the node's cgroup once empty when it exits, which may come after this
// run's Setup made it; new units make it again.
func TestUnitsSurviveTheNodeCgroupGoing(t *testing.T) {
	tr := newTracker(t, t.TempDir(), false)
	if tr.Mode() != proctrack.ModeCgroup {
		t.Skip("no usable cgroup v2 here")
	}
	u, err := tr.NewUnit("first", proctrack.KillAll)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Dir(u.Cgroup())
	if err := u.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Rmdir(base); err != nil {
		t.Fatal(err)
	}
	u, err = tr.NewUnit("second", proctrack.KillAll)
	if err != nil {
		t.Fatalf("a unit after the node's cgroup went: %v", err)
	}
	u.Close(context.Background())
}
