package chaos

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStat returns the state letter and parent pid of a process from
// /proc/<pid>/stat; ok is false when the process is gone.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may itself hold spaces or
	// parentheses, so the fields are counted from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	fs := strings.Fields(s[i+1:])
	if len(fs) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(fs[1])
	if err != nil {
		return 0, 0, false
	}
	return fs[0][0], ppid, true
}

// alive reports whether pid runs (a zombie does not: it has exited and
// only waits to be reaped).
func alive(pid int) bool {
	st, _, ok := procStat(pid)
	return ok && st != 'Z' && st != 'X'
}

// procChildren lists the direct children of parent.
func procChildren(parent int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, pp, ok := procStat(pid); ok && pp == parent {
			out = append(out, pid)
		}
	}
	return out
}

// killPID sends SIGKILL to pid, ignoring a process that is already gone.
func killPID(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("chaos: kill %d: %w", pid, err)
	}
	return nil
}
