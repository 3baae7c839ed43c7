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
// a witness "online" line to the matching "offline", "terminate" or "fault"
// line of the same token and process, or to the moment the runner saw the
// process that hosted it gone (a killed plugin host, or for WASM the
// clusterd itself, writes nothing).
type interval struct {
	Group string
	Token int64
	PID   int    // the plugin process; 0 for a WASM instance
	Host  int    // the process whose death ends the interval; 0 until known
	Node  string // the clusterd that hosted it, "" if unknown
	Start time.Time
	End   time.Time // zero while open
	Why   string    // "offline", "terminate", "fault trap", "exit", …
	Found int64     // the checkpointed Count Online found; -1 if not reported
}

// confirmation is one counter value the host confirmed stored in etcd
// (FLUSH_CHECKPOINTS returned) under a tenure's token.
type confirmation struct {
	Group string
	Token int64
	Value int64
	At    time.Time
}

func (iv *interval) end(runEnd time.Time) time.Time {
	if iv.End.IsZero() {
		return runEnd
	}
	return iv.End
}

// tracker tails the witness files of every group and keeps the intervals
// and confirmations.
type tracker struct {
	nodeOf  func(ppid int) string               // clusterd pid → node name
	ownerOf func(token int64) string            // token → node, for WASM lines (pid 0)
	pidAt   func(node string, at time.Time) int // node → the pid of its clusterd at a time

	mu        sync.Mutex
	files     map[string]*tail // by group
	ivs       []*interval
	confirmed []confirmation
	faults    []faultLine
}

// faultLine is a fault a resource took.
type faultLine struct {
	group string
	at    time.Time
}

type tail struct {
	path string
	off  int64
	rest []byte // an incomplete last line
}

func newTracker(witness map[string]string, nodeOf func(int) string, ownerOf func(int64) string, pidAt func(string, time.Time) int) *tracker {
	t := &tracker{nodeOf: nodeOf, ownerOf: ownerOf, pidAt: pidAt, files: map[string]*tail{}}
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
		if !iv.End.IsZero() {
			continue
		}
		if iv.Host == 0 && iv.PID == 0 {
			// A WASM instance runs inside the clusterd of its tenure's
			// owner, known once the owner has published the token: the
			// process that ran that node when the instance went online.
			if iv.Node == "" {
				iv.Node = t.ownerOf(iv.Token)
			}
			if iv.Node != "" {
				iv.Host = t.pidAt(iv.Node, iv.Start)
			}
		}
		if iv.Host != 0 && !alive(iv.Host) {
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

// apply takes one witness line: "<entry> <token> <pid> <unix nanos> [extra]".
func (t *tracker) apply(group, line string) {
	fs := strings.Fields(line)
	if len(fs) != 4 && len(fs) != 5 {
		return
	}
	tok, err1 := strconv.ParseInt(fs[1], 10, 64)
	pid, err2 := strconv.Atoi(fs[2])
	ns, err3 := strconv.ParseInt(fs[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	at := time.Unix(0, ns)
	extra := ""
	if len(fs) == 5 {
		extra = fs[4]
	}
	entry := fs[0]
	switch entry {
	case "stored":
		v, err := strconv.ParseInt(extra, 10, 64)
		if err == nil {
			t.confirmed = append(t.confirmed, confirmation{Group: group, Token: tok, Value: v, At: at})
		}
		return
	case "fault":
		entry += " " + extra // the instance stops serving: trapped, spinning or failed
		t.faults = append(t.faults, faultLine{group, at})
	case "online", "offline", "terminate":
	default:
		return
	}
	// An instance has at most one open interval: a second Online of the
	// same process and token (a restart) closes the first.
	for _, iv := range t.ivs {
		if iv.End.IsZero() && iv.Group == group && iv.PID == pid && iv.Token == tok {
			iv.End, iv.Why = at, entry
		}
	}
	if entry != "online" {
		return
	}
	iv := &interval{Group: group, Token: tok, PID: pid, Host: pid, Start: at, Found: -1}
	if v, err := strconv.ParseInt(extra, 10, 64); err == nil {
		iv.Found = v
	}
	if pid != 0 {
		if _, ppid, ok := procStat(pid); ok {
			iv.Node = t.nodeOf(ppid)
		}
	}
	t.ivs = append(t.ivs, iv)
}

// confirmations returns a copy of every confirmation seen so far.
func (t *tracker) confirmations() []confirmation {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]confirmation(nil), t.confirmed...)
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

// faultSince reports whether group's resource took a fault at or after t.
func (t *tracker) faultSince(group string, at time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.faults {
		if f.group == group && !f.at.Before(at) {
			return true
		}
	}
	return false
}

// pids lists every plugin process the witness named.
func (t *tracker) pids() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[int]bool{0: true}
	var out []int
	for _, iv := range t.ivs {
		if !seen[iv.PID] {
			seen[iv.PID] = true
			out = append(out, iv.PID)
		}
	}
	return out
}
