package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
	"github.com/resmon/resmon/tools/benchrec"
)

// TestFenceSoakReport measures how often a healthy node fences itself for
// each lease TTL, to choose the default: the shortest TTL with no spurious
// fence. Every setting (RESMON_SOAK_TTLS, default 1,2,3,5,10 s) runs at the
// same time for RESMON_SOAK (default 30m, 1m with -short): three clusterd processes of its
// own on an etcd of its own, with the go-plugin test type polled every
// 100/300 ms and checkpointing. Beside them, for the whole soak:
//
//   - 2 × NumCPU busy-looping processes, so the CPUs are oversubscribed at
//     least twice over (more with the clusters' own work);
//
//   - a disk writer on the etcd data directories' filesystem, rewriting a
//     64 MiB file in 4 MiB blocks with an fdatasync after each, so etcd's
//     WAL fsyncs queue behind it.
//
// Nothing is killed or paused, so every fence counted is spurious. The
// etcds run the default heartbeat (100 ms) and a 600 ms election timeout:
// etcd grants no lease shorter than 1.5 election timeouts, and a 1 s lease
// must be granted as asked.
//
//	RESMON_BENCH=1 go test ./internal/daemon -run TestFenceSoakReport -v -timeout 60m
func TestFenceSoakReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") == "" {
		t.Skip("set RESMON_BENCH=1 to run the lease TTL soak")
	}
	soak := 30 * time.Minute
	if testing.Short() {
		soak = time.Minute // a smoke run, not for choosing
	}
	if s := os.Getenv("RESMON_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("RESMON_SOAK=%q: want a positive duration", s)
		}
		soak = d
	}
	ttls := []int{1, 2, 3, 5, 10}
	if s := os.Getenv("RESMON_SOAK_TTLS"); s != "" {
		ttls = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("RESMON_SOAK_TTLS=%q: want whole seconds, comma-separated", s)
			}
			ttls = append(ttls, n)
		}
	}
	plugin := testbin.Build(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-plugin")
	typeTOML := fmt.Sprintf("kind = \"plugin\"\npath = %q", plugin)

	clusters := map[int]*mpCluster{}
	for _, ttl := range ttls {
		c := newMPClusterWith(t, quorumtest.Options{TickMs: 100, ElectionMs: 600}, typeTOML, fmt.Sprintf("lease_ttl = \"%ds\"", ttl), "", "", "")
		c.startAll()
		c.waitStatus("online", func(s model.GroupStatus) bool { return s.State == "Online" })
		clusters[ttl] = c
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	burners := 2 * runtime.NumCPU()
	for range burners {
		burn := exec.Command("sh", "-c", "while :; do :; done")
		if err := burn.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { burn.Process.Kill(); burn.Wait() })
	}
	dw := &diskWriter{path: filepath.Join(clusters[ttls[0]].member.Config.DataDir, "..", "soak-writer")}
	wg.Add(1)
	go func() { defer wg.Done(); dw.run(ctx, t) }()

	t.Logf("soaking %d settings for %s: %d CPU burners on %d CPUs, a disk writer at %s", len(ttls), soak, burners, runtime.NumCPU(), dw.path)
	deadline := time.Now().Add(soak)
	for time.Now().Before(deadline) {
		select {
		case <-time.After(min(time.Minute, time.Until(deadline))): // a progress line a minute
		case <-ctx.Done():
		}
		var line []string
		for _, ttl := range ttls {
			f, k := soakCounts(clusters[ttl])
			line = append(line, fmt.Sprintf("TTL %ds: %d fences, %d failed keepalives", ttl, f, k))
		}
		t.Logf("%s left: %s; disk writer %s", time.Until(deadline).Round(time.Second), strings.Join(line, "; "), dw.summary())
		for _, ttl := range ttls {
			for _, n := range clusters[ttl].nodes {
				select {
				case err := <-n.exited:
					t.Fatalf("TTL %ds: clusterd %s exited during the soak: %v", ttl, n.name, err)
				default:
				}
			}
		}
	}
	cancel()
	wg.Wait()

	const sec = "Spurious self-fences against lease TTL (soak with the CPUs oversubscribed 2× and a disk writer beside etcd)"
	p50, p99, worst := dw.percentiles()
	cond := fmt.Sprintf("%s each, 3 nodes, all settings at once; %d busy loops on %d CPUs; fdatasync of 4 MiB blocks beside etcd: p50 %s, p99 %s, max %s",
		soak.Round(time.Minute), burners, runtime.NumCPU(), p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond))
	for _, ttl := range ttls {
		f, k := soakCounts(clusters[ttl])
		t.Logf("TTL %ds: %d spurious fences, %d failed keepalives in %s (3 nodes)", ttl, f, k, soak)
		benchrec.Add(t, benchrec.Row{Section: sec, Measure: fmt.Sprintf("lease TTL %ds: spurious self-fences", ttl), Unit: benchrec.Count, Ours: float64(f),
			Note: fmt.Sprintf("%d keepalives failed or timed out; %s", k, cond)})
	}
}

// soakCounts counts, over c's nodes, the fences (each is followed by a
// rejoin) and the keepalives that failed or timed out.
func soakCounts(c *mpCluster) (fences, failed int) {
	for _, n := range c.nodes {
		l := n.logs.String()
		fences += strings.Count(l, "self-fenced: every resource was terminated")
		failed += strings.Count(l, "lease keepalive failed")
	}
	return fences, failed
}

// diskWriter rewrites one file in 4 MiB blocks with an fdatasync after each
// and keeps how long each sync took.
type diskWriter struct {
	path  string
	mu    sync.Mutex
	syncs []time.Duration
	bytes int64
}

func (w *diskWriter) run(ctx context.Context, t *testing.T) {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Error(err)
		return
	}
	defer os.Remove(w.path)
	defer f.Close()
	block := make([]byte, 4<<20)
	for i := range block {
		block[i] = byte(i * 7)
	}
	const size = 64 << 20
	for off := int64(0); ctx.Err() == nil; off = (off + int64(len(block))) % size {
		if _, err := f.WriteAt(block, off); err != nil {
			t.Error(err)
			return
		}
		t0 := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			t.Error(err)
			return
		}
		w.mu.Lock()
		w.syncs = append(w.syncs, time.Since(t0))
		w.bytes += int64(len(block))
		w.mu.Unlock()
	}
}

func (w *diskWriter) percentiles() (p50, p99, worst time.Duration) {
	w.mu.Lock()
	s := slices.Clone(w.syncs)
	w.mu.Unlock()
	if len(s) == 0 {
		return 0, 0, 0
	}
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}

func (w *diskWriter) summary() string {
	p50, p99, worst := w.percentiles()
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("%d MiB synced, fdatasync p50 %s p99 %s max %s", w.bytes>>20, p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond))
}
