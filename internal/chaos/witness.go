package chaos

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// interval is one stretch during which a resource instance was online: from
// a witness "online" line to the matching "offline" or "terminate" line of
// the same token and process, or to the moment the runner saw the process
// gone (a killed plugin host writes nothing).
type interval struct {
	Group string
	Token int64
	PID   int
	Node  string // the clusterd that hosted the process, "" if unknown
	Start time.Time
	End   time.Time // zero while open
	Why   string    // "offline", "terminate", "exit", "open at end"
}

func (iv *interval) end(runEnd time.Time) time.Time {
	if iv.End.IsZero() {
		return runEnd
	}
	return iv.End
}

// tracker tails the witness files of every group and keeps the intervals.
type tracker struct {
	nodeOf func(ppid int) string // clusterd pid → node name

	mu    sync.Mutex
	files map[string]*tail // by group
	ivs   []*interval
}

type tail struct {
	path string
	off  int64
	rest []byte // an incomplete last line
}

func newTracker(witness map[string]string, nodeOf func(int) string) *tracker {
	t := &tracker{nodeOf: nodeOf, files: map[string]*tail{}}
	for g, p := range witness {
		t.files[g] = &tail{path: p}
	}
	return t
}

// poll reads new witness lines and closes intervals whose process is gone.
func (t *tracker) poll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for g, f := range t.files {
		for _, line := range f.read() {
			t.apply(g, line)
		}
	}
	now := time.Now()
	for _, iv := range t.ivs {
		if iv.End.IsZero() && !alive(iv.PID) {
			iv.End, iv.Why = now, "exit"
		}
	}
}

func (f *tail) read() []string {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil
	}
	defer fh.Close()
	if _, err := fh.Seek(f.off, io.SeekStart); err != nil {
		return nil
	}
	b, err := io.ReadAll(fh)
	if err != nil || len(b) == 0 {
		return nil
	}
	f.off += int64(len(b))
	b = append(f.rest, b...)
	last := bytes.LastIndexByte(b, '\n')
	if last < 0 {
		f.rest = b
		return nil
	}
	f.rest = append([]byte(nil), b[last+1:]...)
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b[:last+1]))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func (t *tracker) apply(group, line string) {
	fs := strings.Fields(line)
	if len(fs) != 4 {
		return
	}
	tok, err1 := strconv.ParseInt(fs[1], 10, 64)
	pid, err2 := strconv.Atoi(fs[2])
	ns, err3 := strconv.ParseInt(fs[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	at := time.Unix(0, ns)
	// An instance has at most one open interval: a second Online of the
	// same process and token (a restart) closes the first.
	for _, iv := range t.ivs {
		if iv.End.IsZero() && iv.Group == group && iv.PID == pid && iv.Token == tok {
			iv.End, iv.Why = at, fs[0]
		}
	}
	if fs[0] != "online" {
		return
	}
	node := ""
	if _, ppid, ok := procStat(pid); ok {
		node = t.nodeOf(ppid)
	}
	t.ivs = append(t.ivs, &interval{Group: group, Token: tok, PID: pid, Node: node, Start: at})
}

// intervals returns a copy of every interval seen so far.
func (t *tracker) intervals() []interval {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]interval, len(t.ivs))
	for i, iv := range t.ivs {
		out[i] = *iv
	}
	return out
}

// firstOnline is the start of the first interval of group with token, or
// false when none was witnessed.
func (t *tracker) firstOnline(group string, token int64) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, iv := range t.ivs {
		if iv.Group == group && iv.Token == token {
			return iv.Start, true
		}
	}
	return time.Time{}, false
}

// onlineSince reports whether group had an Online witnessed at or after t.
func (t *tracker) onlineSince(group string, at time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, iv := range t.ivs {
		if iv.Group == group && !iv.Start.Before(at) {
			return true
		}
	}
	return false
}

// pids lists every plugin process the witness named.
func (t *tracker) pids() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[int]bool{}
	var out []int
	for _, iv := range t.ivs {
		if !seen[iv.PID] {
			seen[iv.PID] = true
			out = append(out, iv.PID)
		}
	}
	return out
}
