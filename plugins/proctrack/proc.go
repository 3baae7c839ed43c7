package proctrack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stat is what kill needs of /proc/<pid>/stat.
type stat struct {
	state   byte
	ppid    int
	session int
	start   uint64 // clock ticks after boot
}

// readStat parses /proc/<pid>/stat; ok is false once the process is gone.
func readStat(pid int) (stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	// The command name is in parentheses and may hold anything, so the
	// fields are counted from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return stat{}, false
	}
	fs := strings.Fields(s[i+1:])
	if len(fs) < 20 {
		return stat{}, false
	}
	var st stat
	st.state = fs[0][0]
	st.ppid, _ = strconv.Atoi(fs[1])
	st.session, _ = strconv.Atoi(fs[3])
	st.start, _ = strconv.ParseUint(fs[19], 10, 64)
	return st, true
}

// live reports whether st is a running process (not a zombie).
func (st stat) live() bool { return st.state != 'Z' && st.state != 'X' }

// startTime is pid's start time in clock ticks after boot.
func startTime(pid int) (uint64, error) {
	st, ok := readStat(pid)
	if !ok {
		return 0, fmt.Errorf("process %d is gone", pid)
	}
	return st.start, nil
}

// allPIDs lists the pids in /proc.
func allPIDs() []int {
	f, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	out := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// kill SIGKILLs every process of the unit until none is left or ctx ends,
// and returns how many it found.
func (r record) kill(ctx context.Context) (int, error) { return r.killBut(ctx, spareNone) }

// spareRule says which processes of a unit a kill leaves alone.
type spareRule struct {
	pid int // this process (0: none)
	// from, when not 0, spares every process that started at this clock
	// tick after boot or later (/proc/PID/stat's starttime).
	from uint64
}

var spareNone = spareRule{}

// spares reports whether the rule leaves pid, started at tick start, alone.
func (s spareRule) spares(pid int, start uint64) bool {
	return (s.pid != 0 && pid == s.pid) || (s.from != 0 && start >= s.from)
}

// killBut is kill sparing what spare says.
func (r record) killBut(ctx context.Context, spare spareRule) (int, error) {
	// A cgroup holds every descendant, whatever sessions they made; the
	// sessions recorded beside it are for people reading the record.
	if r.Cgroup != "" {
		return killCgroup(ctx, r.Cgroup, spare)
	}
	if len(r.Sessions) > 0 {
		return killSessions(ctx, r.Sessions, spare)
	}
	return 0, nil
}

// killCgroup kills every process in dir, one by one, until the cgroup is
// empty: a process forked meanwhile is found at the next pass. cgroup.kill
// is not used: on some kernels a cgroup that was killed that way kills
// every process later started into it with CLONE_INTO_CGROUP, and a unit
// lives on after a Terminate.
func killCgroup(ctx context.Context, dir string, spare spareRule) (int, error) {
	seen := map[int]bool{}
	for try := 0; ; try++ {
		procs, err := cgroupPIDs(dir)
		procs = slices.DeleteFunc(procs, func(pid int) bool {
			if spare == spareNone {
				return false
			}
			st, ok := readStat(pid)
			return ok && spare.spares(pid, st.start)
		})
		if errors.Is(err, os.ErrNotExist) || len(procs) == 0 {
			return len(seen), nil
		}
		unit := "/" + filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		for _, pid := range procs {
			seen[pid] = true
			killIf(pid, func() bool { return inCgroup(pid, unit) })
		}
		if err := pause(ctx, try); err != nil {
			return len(seen), fmt.Errorf("cgroup %s still holds %d processes: %w", dir, len(procs), err)
		}
	}
}

func cgroupPIDs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// killSessions kills every live process of the sessions until none is
// left. A session counts only while it is still the one recorded: its
// leader runs with the recorded start time, or the leader is gone (its pid
// cannot have been reused while other members of its session lived).
func killSessions(ctx context.Context, ss []session, spare spareRule) (int, error) {
	seen := map[int]bool{}
	for try := 0; ; try++ {
		want := map[int]bool{}
		for _, s := range ss {
			st, ok := readStat(s.SID)
			if ok && st.live() && st.start != s.Start {
				continue // the pid belongs to someone else now
			}
			want[s.SID] = true
		}
		var victims []int
		for _, pid := range allPIDs() {
			if st, ok := readStat(pid); ok && st.live() && want[st.session] && !spare.spares(pid, st.start) {
				victims = append(victims, pid)
			}
		}
		if len(victims) == 0 {
			return len(seen), nil
		}
		for _, pid := range victims {
			seen[pid] = true
			killIf(pid, func() bool {
				st, ok := readStat(pid)
				return ok && st.live() && want[st.session]
			})
		}
		if err := pause(ctx, try); err != nil {
			return len(seen), fmt.Errorf("%d processes of sessions %v still run: %w", len(victims), ss, err)
		}
	}
}

// pause waits a little longer at each try (1 ms up to 20 ms).
func pause(ctx context.Context, try int) error {
	t := time.NewTimer(time.Duration(min(try+1, 20)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// killIf sends SIGKILL to pid if still holds once a pidfd pins the
// process: between reading a pid (cgroup.procs, /proc) and signalling it,
// the process may exit and its pid go to someone else, but not once a
// pidfd refers to it. Kernels without pidfds get a plain kill.
func killIf(pid int, still func() bool) {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, syscall.ENOSYS) {
		if still() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return
	}
	if err != nil {
		return // gone already
	}
	defer unix.Close(fd)
	if still() {
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
}

// inCgroup reports whether pid is in the cgroup whose path ends with unit.
func inCgroup(pid int, unit string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return strings.HasSuffix(p, unit)
		}
	}
	return false
}
