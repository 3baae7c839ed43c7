package wasm

import (
	"io"
	"strings"
	"sync"

	"github.com/resmon/resmon/sdk"
)

const maxLine = 4 << 10

// stdioLog forwards a guest's (or a child process's) stdout or stderr to
// the node log, one line at a time, and remembers the line that best
// explains a crash.
type stdioLog struct {
	in     *instance
	level  sdk.LogLevel
	stream string
	kv     []any // more fields of every line (a child's pid)
	byLine bool  // each line's own level (sdk.LineLevel) instead of level

	mu      sync.Mutex
	partial []byte
	problem string // first "panic:"/"fatal error:" line, else the last line
	fatal   bool
}

func newStdioLog(in *instance, level sdk.LogLevel, stream string) *stdioLog {
	return &stdioLog{in: in, level: level, stream: stream}
}

// Write implements io.Writer.
func (w *stdioLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := strings.IndexByte(string(p), '\n')
		if i < 0 {
			room := maxLine - len(w.partial)
			w.partial = append(w.partial, p[:min(room, len(p))]...)
			break
		}
		room := maxLine - len(w.partial)
		w.partial = append(w.partial, p[:min(room, i)]...)
		w.line(string(w.partial))
		w.partial = w.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (w *stdioLog) line(s string) {
	s = strings.TrimRight(s, "\r")
	if strings.TrimSpace(s) == "" {
		return
	}
	level := w.level
	if w.byLine {
		level = sdk.LineLevel(s)
	}
	w.in.d.cfg.Services.Log(w.in.ref, level, s, append([]any{"stream", w.stream}, w.kv...)...)
	if !w.fatal {
		w.problem = s
		w.fatal = strings.HasPrefix(s, "panic:") || strings.HasPrefix(s, "fatal error:")
	}
}

// lastProblem returns the line that best explains a crash, or "".
func (w *stdioLog) lastProblem() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = w.partial[:0]
	}
	return w.problem
}

// forward copies r into w until EOF, then logs an unterminated last line
// and closes r: the output of a child process.
func (w *stdioLog) forward(r io.ReadCloser) {
	defer r.Close()
	_, _ = io.Copy(w, r)
	w.lastProblem()
}
