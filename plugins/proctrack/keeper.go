package proctrack

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// The keeper is a process of its own (clusterd starts it as `clusterd
// keeper`) that reads the tracker's messages on its standard input, one
// JSON object a line:
//
//	{"base": "DIR"}      the node's cgroup directory, if any
//	{"deadline": NS}     the node's self-fencing deadline on CLOCK_MONOTONIC
//	{"track": RECORD}    a unit (as recorded under the tracker's Dir)
//	{"untrack": "NAME"}  the unit was closed
//
// When the deadline passes unrenewed it kills every process of every unit
// but the plugin hosts (Policy SpareLeader: they enforce the deadline on
// their own resources) and what a plugin host starts from the deadline on
// (its Terminate: an OCF agent's stop must run to its end, and the sdk
// refuses Online past the deadline), and keeps killing while no later
// deadline comes. At end of file, clusterd is gone, however it ended: the
// plugin hosts see it too (their stdin closes) and terminate their
// resources before they exit, so the keeper kills every other unit at
// once, waits for the hosts until they exit but never past the deadline
// (hostGrace when none is ahead), then kills what is left and exits.
type keeperMsg struct {
	Base     string  `json:"base,omitempty"` // the node's cgroup, removed at the end once empty
	Deadline int64   `json:"deadline,omitempty"`
	Track    *record `json:"track,omitempty"`
	Untrack  string  `json:"untrack,omitempty"`
}

// sweepEvery is how often the keeper kills the deadline units again while
// the deadline stays passed: a process clusterd forked just before it was
// stopped lands in a unit after the first kill.
const sweepEvery = 50 * time.Millisecond

// hostGrace bounds the wait for plugin hosts to exit by themselves once
// clusterd is gone and no deadline is ahead (sdk/plugin gives its
// Terminates 5 s then).
const hostGrace = 6 * time.Second

// ServeKeeper is the keeper's main loop: it reads messages from in until
// end of file, then kills what it tracks and returns. SIGPIPE, SIGINT and
// SIGHUP are ignored: the keeper must outlive clusterd and its terminal.
func ServeKeeper(in io.Reader, log hclog.Logger) error {
	signal.Ignore(syscall.SIGPIPE, syscall.SIGINT, syscall.SIGHUP)
	if log == nil {
		log = hclog.NewNullLogger()
	}
	msgs := make(chan keeperMsg)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var m keeperMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				log.Warn("keeper: unreadable message", "error", err)
				continue
			}
			msgs <- m
		}
		readErr <- sc.Err()
	}()
	units := map[string]record{}
	var base string
	var deadline int64
	expired := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	sweep := time.NewTicker(sweepEvery)
	sweep.Stop()
	killAll := func(atDeadline, hostsToo bool, why string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, r := range units {
			spare := spareNone
			switch {
			case r.Spare != 0 && !hostsToo:
				continue
			case r.Spare != 0 && atDeadline:
				spare = spareRule{pid: r.Spare, from: bootTick(deadline)}
			}
			n, err := r.killBut(ctx, spare)
			if n > 0 || err != nil {
				log.Warn("keeper: killed a unit", "unit", r.Name, "what", r.What, "processes", n, "why", why, "error", err)
			}
		}
	}
	for {
		select {
		case m := <-msgs:
			switch {
			case m.Base != "":
				base = m.Base
			case m.Deadline > deadline:
				deadline = m.Deadline
				wait := untilMonotonic(deadline)
				if wait > 0 && expired {
					expired = false
					sweep.Stop()
					log.Info("keeper: the deadline was renewed")
				}
				timer.Reset(max(wait, 0))
			case m.Track != nil:
				units[m.Track.Name] = *m.Track
				if expired {
					killAll(true, true, "tracked after the deadline passed")
				}
			case m.Untrack != "":
				delete(units, m.Untrack)
			}
		case <-timer.C:
			if wait := untilMonotonic(deadline); wait > 0 {
				timer.Reset(wait)
				continue
			}
			expired = true
			sweep.Reset(sweepEvery)
			log.Error("keeper: the node's self-fencing deadline passed without renewal: killing the processes of resources")
			killAll(true, true, "deadline")
		case <-sweep.C:
			killAll(true, true, "deadline")
		case err := <-readErr:
			if len(units) > 0 {
				log.Warn("keeper: clusterd is gone: killing every process it tracked", "units", len(units), "error", err)
			}
			killAll(false, false, "clusterd exited")
			bound := hostGrace
			if deadline != 0 {
				bound = min(max(untilMonotonic(deadline), 0), hostGrace)
			}
			waitHosts(units, bound, log)
			killAll(false, true, "clusterd exited")
			// Empty cgroups go too; the records stay for the next clusterd,
			// which finds nothing left to kill.
			for _, r := range units {
				r.remove("")
			}
			if base != "" {
				_ = syscall.Rmdir(base) // only once empty
			}
			return nil
		}
	}
}

// waitHosts waits until the leader of every SpareLeader unit has exited,
// or bound has passed.
func waitHosts(units map[string]record, bound time.Duration, log hclog.Logger) {
	end := time.Now().Add(bound)
	for {
		live := 0
		for _, r := range units {
			if st, ok := readStat(r.Spare); r.Spare != 0 && ok && st.live() {
				live++
			}
		}
		if live == 0 {
			return
		}
		if !time.Now().Before(end) {
			log.Warn("keeper: plugin hosts still run once clusterd is gone: killing them", "hosts", live, "waited", bound)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// userHZ is the unit of /proc/PID/stat's times on Linux.
const userHZ = 100

// bootTick is the CLOCK_MONOTONIC time ns as /proc/PID/stat's starttime
// counts: clock ticks after boot (CLOCK_BOOTTIME, which goes on during a
// suspend where CLOCK_MONOTONIC stops).
func bootTick(ns int64) uint64 {
	var mono, boot unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	return uint64((ns + boot.Nano() - mono.Nano()) / (1e9 / userHZ))
}

func untilMonotonic(ns int64) time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ns - ts.Nano())
}

func monotonicOf(t time.Time) int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() + int64(time.Until(t))
}

// keeper is the tracker's end of the keeper process.
type keeper struct {
	command []string
	stderr  io.Writer

	mu      sync.Mutex
	pending []keeperMsg
	kick    chan struct{}
	in      *os.File
	cmd     *exec.Cmd
	closing bool
	done    chan struct{} // closed when the keeper's last process was reaped after Close
}

// StartKeeper starts the keeper, command (a program and its arguments)
// being a process that runs ServeKeeper on its standard input, such as
// clusterd's "keeper" subcommand. Its standard error goes to stderr. If it
// dies, it is started again and told everything anew. Call it after
// Setup.
func (t *Tracker) StartKeeper(ctx context.Context, command []string, stderr io.Writer) error {
	if len(command) == 0 {
		return fmt.Errorf("%w: no keeper command", ErrConfig)
	}
	k := &keeper{command: command, stderr: stderr, kick: make(chan struct{}, 1), done: make(chan struct{})}
	if err := k.start(); err != nil {
		return err
	}
	t.mu.Lock()
	if t.keeper != nil || t.closed {
		t.mu.Unlock()
		k.close()
		return fmt.Errorf("%w: a keeper runs already, or the tracker is closed", ErrClosed)
	}
	t.keeper = k
	t.mu.Unlock()
	t.resend()
	go k.writeLoop()
	go t.watchKeeper(k)
	return nil
}

func (k *keeper) start() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("proctrack: keeper pipe: %w", err)
	}
	cmd := exec.Command(k.command[0], k.command[1:]...)
	cmd.Stdin, cmd.Stderr = r, k.stderr
	// A session of its own: a signal to clusterd's process group (Ctrl-C)
	// does not reach it, and it outlives clusterd to clean up after it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("proctrack: starting the keeper %v: %w", k.command, err)
	}
	k.mu.Lock()
	k.in, k.cmd = w, cmd
	k.mu.Unlock()
	return nil
}

// watchKeeper starts the keeper again whenever it dies unasked.
func (t *Tracker) watchKeeper(k *keeper) {
	defer close(k.done)
	for {
		k.mu.Lock()
		cmd := k.cmd
		k.mu.Unlock()
		err := cmd.Wait()
		k.mu.Lock()
		closing := k.closing
		k.mu.Unlock()
		if closing {
			return
		}
		t.log.Error("the process keeper exited; starting it again", "error", err)
		time.Sleep(100 * time.Millisecond)
		if err := k.start(); err != nil {
			t.log.Error("restarting the process keeper", "error", err)
			continue
		}
		t.resend()
	}
}

// resend tells a (new) keeper the deadline and every open unit.
func (t *Tracker) resend() {
	t.mu.Lock()
	k, dl, base := t.keeper, t.deadline, t.base
	t.mu.Unlock()
	if k == nil {
		return
	}
	var ms []keeperMsg
	if base != "" {
		ms = append(ms, keeperMsg{Base: base})
	}
	if dl != 0 {
		ms = append(ms, keeperMsg{Deadline: dl})
	}
	for _, r := range t.records() {
		ms = append(ms, keeperMsg{Track: &r})
	}
	k.send(ms...)
}

// tell queues a message for the keeper, if there is one; it never blocks.
func (t *Tracker) tell(m keeperMsg) {
	t.mu.Lock()
	k := t.keeper
	t.mu.Unlock()
	if k != nil {
		k.send(m)
	}
}

func (k *keeper) send(ms ...keeperMsg) {
	k.mu.Lock()
	k.pending = append(k.pending, ms...)
	k.mu.Unlock()
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// writeLoop writes queued messages to the keeper until it is closed. A
// write to a dead keeper fails and is dropped: its successor is told
// everything by resend.
func (k *keeper) writeLoop() {
	for range k.kick {
		k.mu.Lock()
		ms, in := k.pending, k.in
		k.pending = nil
		k.mu.Unlock()
		var b []byte
		for _, m := range ms {
			line, _ := json.Marshal(m)
			b = append(append(b, line...), '\n')
		}
		if len(b) > 0 && in != nil {
			_, _ = in.Write(b)
		}
		k.mu.Lock()
		closing := k.closing && len(k.pending) == 0
		k.mu.Unlock()
		if closing {
			return
		}
	}
}

func (k *keeper) close() {
	k.mu.Lock()
	k.closing = true
	in := k.in
	k.mu.Unlock()
	if in != nil {
		_ = in.Close()
	}
	select { // ends writeLoop
	case k.kick <- struct{}{}:
	default:
	}
}

// SetDeadline hands the node's self-fencing deadline to the keeper. An
// earlier deadline than the last one is ignored. It never blocks.
func (t *Tracker) SetDeadline(d time.Time) {
	ns := monotonicOf(d)
	t.mu.Lock()
	if ns <= t.deadline {
		t.mu.Unlock()
		return
	}
	t.deadline = ns
	t.mu.Unlock()
	t.tell(keeperMsg{Deadline: ns})
}

// DeadlinePassed reports whether the last deadline set has passed: a
// process started now would run past it. False before the first deadline.
func (t *Tracker) DeadlinePassed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.deadline != 0 && untilMonotonic(t.deadline) <= 0
}

// Close stops the keeper: it kills whatever units are still open (Close
// them first for an orderly stop) and exits. The tracker takes no new unit
// afterwards. It returns when the keeper has exited, or ctx ends.
func (t *Tracker) Close(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	k, base := t.keeper, t.base
	t.mu.Unlock()
	if k == nil {
		if base != "" {
			_ = syscall.Rmdir(base) // only once empty
		}
		return nil
	}
	// Let the queued messages out first: the keeper should not kill a unit
	// that was closed a moment ago.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		k.mu.Lock()
		n := len(k.pending)
		k.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	k.close()
	select {
	case <-k.done:
		if base != "" {
			_ = syscall.Rmdir(base) // only once empty: units left are the next start's
		}
		return nil
	case <-ctx.Done():
		k.mu.Lock()
		cmd := k.cmd
		k.mu.Unlock()
		return errors.Join(ctx.Err(), cmd.Process.Kill())
	}
}
