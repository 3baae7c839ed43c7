// Package applife records the real lifetimes of application processes
// for tests of application fencing: each process (cmd/applife-app) writes
// its own start, to the nanosecond, into a file; a Watcher tails the file
// and learns each process's end through a pidfd the moment the kernel
// reaps it or it becomes a zombie, killed or not.
package applife

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Life is one application process: from its own start line to its end.
type Life struct {
	PID   int
	Label string
	Start time.Time
	End   time.Time // zero while it runs
	// Approx is set when the process was gone before the watcher could
	// open a pidfd on it: End is then when the watcher noticed, later than
	// the real end.
	Approx bool
}

// Running reports whether l still ran at t.
func (l Life) Running(t time.Time) bool {
	return !t.Before(l.Start) && (l.End.IsZero() || t.Before(l.End))
}

// Watcher follows one file of start lines.
type Watcher struct {
	path string

	mu    sync.Mutex
	off   int64
	rest  []byte
	lives []*Life
}

// Watch follows path (it need not exist yet) until ctx ends, polling it
// every few milliseconds.
func Watch(ctx context.Context, path string) *Watcher {
	w := &Watcher{path: path}
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			w.Poll()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Poll reads new start lines now.
func (w *Watcher) Poll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.Open(w.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(w.off, io.SeekStart); err != nil {
		return
	}
	b, _ := io.ReadAll(f)
	w.off += int64(len(b))
	b = append(w.rest, b...)
	last := bytes.LastIndexByte(b, '\n')
	if last < 0 {
		w.rest = b
		return
	}
	w.rest = append([]byte(nil), b[last+1:]...)
	sc := bufio.NewScanner(bytes.NewReader(b[:last+1]))
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || fs[0] != "start" {
			continue
		}
		pid, err1 := strconv.Atoi(fs[1])
		ns, err2 := strconv.ParseInt(fs[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		l := &Life{PID: pid, Label: strings.Join(fs[3:], " "), Start: time.Unix(0, ns)}
		w.lives = append(w.lives, l)
		w.follow(l)
	}
}

// follow learns l's end through a pidfd; the process's start time in
// /proc must match its own start line, or the pid is someone else's.
func (w *Watcher) follow(l *Life) {
	fd, err := unix.PidfdOpen(l.PID, 0)
	if err != nil {
		l.End, l.Approx = time.Now(), true
		return
	}
	if !sameProcess(l.PID, l.Start) || !alive(l.PID) {
		unix.Close(fd)
		l.End, l.Approx = time.Now(), true
		return
	}
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, -1)
			if n > 0 || (err != nil && err != unix.EINTR) {
				break
			}
		}
		end := time.Now()
		w.mu.Lock()
		l.End = end
		w.mu.Unlock()
	}()
}

// sameProcess checks that pid started around start (the kernel counts in
// clock ticks of 10 ms, and the process writes its line a little later).
func sameProcess(pid int, start time.Time) bool {
	ticks, ok := startTicks(pid)
	if !ok {
		return false
	}
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return true
	}
	boot := time.Now().Add(-time.Duration(ts.Nano()))
	began := boot.Add(time.Duration(ticks) * 10 * time.Millisecond)
	d := start.Sub(began)
	return d > -time.Second && d < 10*time.Second
}

func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func startTicks(pid int) (uint64, bool) {
	fs := procStat(pid)
	if len(fs) < 20 {
		return 0, false
	}
	t, err := strconv.ParseUint(fs[19], 10, 64)
	return t, err == nil
}

func alive(pid int) bool {
	fs := procStat(pid)
	return len(fs) > 0 && fs[0] != "Z" && fs[0] != "X"
}

// Lives returns every process seen so far, by start.
func (w *Watcher) Lives() []Life {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Life, len(w.lives))
	for i, l := range w.lives {
		out[i] = *l
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}
