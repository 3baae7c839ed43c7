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

	"github.com/resmon/resmon/internal/config"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/testutil/testbin"
	"github.com/resmon/resmon/tools/benchrec"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestFenceSoakReport measures how often a healthy node fences itself for
// each lease TTL, to choose the default: the shortest TTL with no spurious
// fence. For each topology (RESMON_SOAK_KINDS, default "majority,external",
// one after the other) every setting (RESMON_SOAK_TTLS, default 1,2,3,5,10
// s) runs at the same time for RESMON_SOAK (default 30m, 1m with -short) on
// three clusterd processes of its own, with the go-plugin test type polled
// every 100/300 ms and checkpointing:
//
//   - majority: each clusterd hosts a member of the cluster's etcd (node
//     majority, the three-node deployment), at etcd's default heartbeat
//     (100 ms) and election timeout (1 s), or the longest election that
//     grants a 1 s lease (700 ms) for TTL 1 s, as Validate demands, or
//     RESMON_SOAK_HEARTBEAT and RESMON_SOAK_ELECTION for every TTL;
//
//   - external: the three reach one etcd member of their own in the test
//     process (the heartbeat 100 ms, the election 700 ms).
//
// Beside them, for the whole soak, 2 × NumCPU busy-looping processes
// oversubscribe the CPUs at least twice over (more with the clusters' own
// work), and a disk writer on the etcd data directories' filesystem
// rewrites a 64 MiB file in 4 MiB blocks with an fdatasync after each, so
// etcd's WAL fsyncs queue behind it. Nothing is killed or paused: every
// fence counted is spurious.
//
//	RESMON_BENCH=1 go test ./internal/daemon -run TestFenceSoakReport -v -timeout 90m
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
	kinds := []string{"majority", "external"}
	if s := os.Getenv("RESMON_SOAK_KINDS"); s != "" {
		kinds = strings.Split(s, ",")
	}
	plugin := testbin.Build(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-plugin")
	typeTOML := fmt.Sprintf("kind = \"plugin\"\npath = %q", plugin)
	for _, kind := range kinds {
		if kind != "majority" && kind != "external" {
			t.Fatalf("RESMON_SOAK_KINDS: %q is neither majority nor external", kind)
		}
		t.Run(kind, func(t *testing.T) { soakTopology(t, kind, typeTOML, ttls, soak) })
	}
}

// soakElection is the etcd election timeout a lease of ttl seconds runs
// with in the majority topology: RESMON_SOAK_ELECTION if set, else etcd's
// default 1 s, or the longest that grants 1 s.
func soakElection(ttl int) time.Duration {
	if d, err := time.ParseDuration(os.Getenv("RESMON_SOAK_ELECTION")); err == nil && d > 0 {
		return d
	}
	if el := time.Second; config.EtcdMinLease(soakHeartbeat(), el) <= time.Duration(ttl)*time.Second {
		return el
	}
	return 700 * time.Millisecond
}

// soakHeartbeat is the etcd heartbeat of the majority topology:
// RESMON_SOAK_HEARTBEAT if set, else etcd's default 100 ms.
func soakHeartbeat() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("RESMON_SOAK_HEARTBEAT")); err == nil && d > 0 {
		return d
	}
	return 100 * time.Millisecond
}

// soakSetting names a lease TTL in the rows, with the election when
// RESMON_SOAK_ELECTION chose it.
func soakSetting(ttl int) string {
	if os.Getenv("RESMON_SOAK_ELECTION") != "" {
		return fmt.Sprintf("lease TTL %ds, heartbeat %s, election %s", ttl, soakHeartbeat(), soakElection(ttl))
	}
	return fmt.Sprintf("lease TTL %ds", ttl)
}

func soakTopology(t *testing.T, kind, typeTOML string, ttls []int, soak time.Duration) {
	clusters := map[int][]*mpNode{}
	var dataDir string
	for _, ttl := range ttls {
		if kind == "external" {
			c := newMPClusterWith(t, quorumtest.Options{TickMs: 100, ElectionMs: 700}, typeTOML, fmt.Sprintf("lease_ttl = \"%ds\"", ttl), "", "", "")
			c.startAll()
			c.waitStatus("online", func(s model.GroupStatus) bool { return s.State == "Online" })
			for _, n := range c.nodes {
				clusters[ttl] = append(clusters[ttl], n)
			}
			dataDir = c.member.Config.DataDir
		} else {
			c := startMajoritySoak(t, typeTOML, ttl)
			clusters[ttl], dataDir = c.nodes, c.dir
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	burners := 2 * runtime.NumCPU()
	for range burners {
		burn := exec.Command("sh", "-c", "while :; do :; done")
		burn.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with the test, however it ends
		if err := burn.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { burn.Process.Kill(); burn.Wait() })
	}
	dw := &diskWriter{path: filepath.Join(filepath.Dir(dataDir), "soak-writer")}
	wg.Add(1)
	go func() { defer wg.Done(); dw.run(ctx, t) }()

	t.Logf("%s: soaking %d settings for %s: %d CPU burners on %d CPUs, a disk writer at %s", kind, len(ttls), soak, burners, runtime.NumCPU(), dw.path)
	deadline := time.Now().Add(soak)
	for time.Now().Before(deadline) {
		time.Sleep(min(time.Minute, time.Until(deadline))) // a progress line a minute, not a synchronisation
		var line []string
		for _, ttl := range ttls {
			f, k := soakCounts(clusters[ttl])
			line = append(line, fmt.Sprintf("TTL %ds: %d fences, %d failed keepalives", ttl, f, k))
		}
		t.Logf("%s left: %s; disk writer %s", time.Until(deadline).Round(time.Second), strings.Join(line, "; "), dw.summary())
		for _, ttl := range ttls {
			for _, n := range clusters[ttl] {
				select {
				case err := <-n.exited:
					t.Fatalf("TTL %ds: clusterd %s exited during the soak: %v\n%s", ttl, n.name, err, n.logs.String())
				default:
				}
			}
		}
	}
	cancel()
	wg.Wait()

	const sec = "Spurious self-fences against lease TTL (soak with the CPUs oversubscribed 2× and a disk writer beside etcd)"
	p50, p99, worst := dw.percentiles()
	topo := "each clusterd hosting a member of a three-member etcd, heartbeat " + soakHeartbeat().String()
	if kind == "external" {
		topo = "the three on one external etcd member, heartbeat 100 ms, election 700 ms"
	}
	cond := fmt.Sprintf("%s, 3 nodes, every setting at once, %s; %d busy loops on %d CPUs; fdatasync of 4 MiB blocks beside etcd: p50 %s, p99 %s, max %s",
		soak.Round(time.Minute), topo, burners, runtime.NumCPU(), p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond))
	for _, ttl := range ttls {
		f, k := soakCounts(clusters[ttl])
		t.Logf("%s, TTL %ds: %d spurious fences, %d failed keepalives in %s (3 nodes)", kind, ttl, f, k, soak)
		note := fmt.Sprintf("%d keepalives failed or timed out; %s", k, cond)
		setting := fmt.Sprintf("lease TTL %ds", ttl)
		if kind == "majority" {
			note = fmt.Sprintf("%d keepalives failed or timed out; election %s; %s", k, soakElection(ttl), cond)
			setting = soakSetting(ttl)
		}
		benchrec.Add(t, benchrec.Row{Section: sec, Measure: fmt.Sprintf("%s, %s: spurious self-fences", kind, setting), Unit: benchrec.Count, Ours: float64(f), Note: note})
	}
}

const soakMajorityConfig = `
[cluster]
name = "soak"
pki_dir = %q
[node]
name = "%s"
data_dir = "%s"
[log]
level = "debug"
[quorum]
lease_ttl = "%ds"
[quorum.embedded]
client_url = "%s"
peer_url = "%s"
heartbeat = "%s"
election = "%s"
cluster_token = "soak"
[quorum.embedded.peers]
%s
`

// majorityCluster is three clusterd processes that each host a member of
// their etcd.
type majorityCluster struct {
	t          *testing.T
	bin        string
	dir        string // on the etcd data directories' filesystem
	ttl        int
	nodes      []*mpNode
	clientURLs map[string]string
	cli        *clientv3.Client // every member, as the operator
	store      *quorum.Store
}

// startMajoritySoak starts three clusterd processes that each host a member
// of their etcd, with lease TTL ttl seconds, and waits until the group
// "app" is online.
func startMajoritySoak(t *testing.T, typeTOML string, ttl int) *majorityCluster {
	c := &majorityCluster{t: t, bin: clusterdBinary(t), dir: t.TempDir(), ttl: ttl, clientURLs: map[string]string{}}
	names := []string{"node1", "node2", "node3"}
	peerURLs := map[string]string{}
	var peers strings.Builder
	for _, n := range names {
		c.clientURLs[n], peerURLs[n] = quorumtest.FreeTLSURL(t), quorumtest.FreeTLSURL(t)
		fmt.Fprintf(&peers, "%s = %q\n", n, peerURLs[n])
	}
	pkiDir := pki.Dir(filepath.Join(c.dir, "pki"))
	ca, err := pki.Init(pkiDir, "soak")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := ca.IssueNode(n, nil, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ca.IssueOperator(quorumtest.Admin, pki.RoleAdmin, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		// Short data dirs: the plugin host's socket path must fit 107 bytes.
		data, err := os.MkdirTemp("", "soak-"+n+"-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(data) })
		cfg := fmt.Sprintf(soakMajorityConfig, pkiDir, n, data, ttl, c.clientURLs[n], peerURLs[n], soakHeartbeat(), soakElection(ttl), peers.String())
		// The same database on every node, as an operator writes it:
		// whichever member bootstraps the cluster creates it.
		cfg += mpSpec(typeTOML, filepath.Join(c.dir, "witness"), "", "", "")
		node := &mpNode{name: n, cfg: filepath.Join(c.dir, n+".toml")}
		if err := os.WriteFile(node.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, node)
		c.run(node)
	}
	for _, n := range c.nodes {
		waitFor(t, fmt.Sprintf("TTL %ds: %s to join", ttl, n.name), 2*time.Minute, func() bool { return strings.Contains(n.logs.String(), "node joined") })
	}
	c.cli, err = quorum.Connect(context.Background(), quorumtest.PKIClientConfig(string(pkiDir), "soak", c.clientURLs["node1"], c.clientURLs["node2"], c.clientURLs["node3"]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cli.Close() })
	if c.store, err = quorum.NewStore(c.cli, "soak", nil); err != nil {
		t.Fatal(err)
	}
	c.waitOnline()
	return c
}

// run starts clusterd for node, with fresh logs; the process is killed
// when the test ends.
func (c *majorityCluster) run(node *mpNode) {
	t := c.t
	node.logs, node.exited = &syncBuffer{}, make(chan error, 1)
	node.cmd = exec.Command(c.bin, "-config", node.cfg)
	node.cmd.Stderr = node.logs
	if err := node.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, exited, logs := node.cmd, node.exited, node.logs
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("--- log of %s (TTL %ds) ---\n%s", node.name, c.ttl, logs.String())
		}
	})
}

func (c *majorityCluster) waitOnline() {
	waitFor(c.t, fmt.Sprintf("TTL %ds: group app online", c.ttl), 2*time.Minute, func() bool {
		st, err := c.store.GroupStatus(context.Background(), "app")
		return err == nil && st.State == "Online"
	})
}

// leader returns the node whose etcd member leads, or nil.
func (c *majorityCluster) leader(among []*mpNode) *mpNode {
	for _, n := range among {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		st, err := c.cli.Status(ctx, c.clientURLs[n.name])
		cancel()
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
			return n
		}
	}
	return nil
}

// soakCounts counts, over nodes, the fences (each is followed by a rejoin)
// and the keepalives that failed or timed out.
func soakCounts(nodes []*mpNode) (fences, failed int) {
	for _, n := range nodes {
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
