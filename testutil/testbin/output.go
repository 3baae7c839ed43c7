package testbin

import (
	"bytes"
	"sync"
)

// Output collects what a child process writes (its stderr, say) so that a
// test can read it while the process runs: Write and String may be called
// from different goroutines.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
