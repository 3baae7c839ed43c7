package quorum_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/tools/benchrec"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The checkpoint put is measured against its raw floor, a plain clientv3 Put
// of the same bytes, on the same embedded etcd in the same process:
//
//	go test ./quorum/ -run '^$' -bench 'CheckpointPut|RawPut' -benchtime 2s
//	RESMON_BENCH=1 go test ./quorum/ -run TestCheckpointPutLatencyReport -v
//
// A 5 MiB payload cannot be one raw Put (etcd refuses requests over 1.5 MiB),
// so its floor is five raw 1 MiB Puts in a row.

type cptBenchSize struct {
	name string
	n    int
}

var (
	cptBenchSizes = []cptBenchSize{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}, {"5MiB", 5 << 20}}
	rawBenchSizes = cptBenchSizes[:3]
)

// cptShared is one etcd for every benchmark of the process, so raw and
// checkpoint puts meet the same server, disk and history. It outlives the
// benchmark that started it (the process ends right after the benchmarks), so
// its data directory is named after the process and removed by the next run
// once that process is gone.
var cptShared struct {
	once  sync.Once
	cli   *clientv3.Client
	store *quorum.Store
	fence model.Fence
	err   error
}

func cptBenchEnv(b testing.TB) *cptEnv {
	b.Helper()
	cptShared.once.Do(func() {
		removeStaleCPTBenchDirs()
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("resmon-cpt-bench-%d", os.Getpid()))
		cfg := quorum.EmbedConfig{
			Name: "bench", DataDir: dir, ClientURL: quorumtest.FreeURL(b), PeerURL: quorumtest.FreeURL(b),
			TickMs: quorumtest.TickMs, ElectionMs: quorumtest.ElectionMs, StartTimeout: 30 * time.Second,
		}
		if _, err := quorum.StartEmbedded(context.Background(), cfg); err != nil {
			cptShared.err = err
			return
		}
		cli, err := quorum.Connect(context.Background(), quorum.ClientConfig{Endpoints: []string{cfg.ClientURL}})
		if err != nil {
			cptShared.err = err
			return
		}
		cptShared.cli = cli
		cptShared.store, cptShared.err = quorum.NewStore(cli, cptCluster, nil)
	})
	if cptShared.err != nil {
		b.Fatalf("benchmark etcd: %v", cptShared.err)
	}
	e := &cptEnv{t: b, cli: cptShared.cli, store: cptShared.store, keys: cptShared.store.Keys()}
	if cptShared.fence.Token == 0 {
		cptShared.fence = e.takeOwnership()
	}
	e.fence = cptShared.fence
	return e
}

func removeStaleCPTBenchDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "resmon-cpt-bench-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "resmon-cpt-bench-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil && errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone) {
			os.RemoveAll(d)
		}
	}
}

// cptCompactor compacts etcd's history now and then, outside the timed part.
// Without it the benchmarks would fill etcd's 2 GiB backend quota with old
// revisions of multi-megabyte values; production runs periodic compaction.
// Raw and checkpoint puts are compacted by the same rule.
type cptCompactor struct {
	cli     *clientv3.Client
	ops     int
	written int
	probe   string // a key the client may read, for the current revision; default quorum.Root
}

const (
	cptCompactEveryOps   = 500
	cptCompactEveryBytes = 64 << 20
)

func (c *cptCompactor) wrote(tb testing.TB, n int, stop, start func()) {
	c.ops++
	c.written += n
	if c.ops < cptCompactEveryOps && c.written < cptCompactEveryBytes {
		return
	}
	stop()
	c.compact(tb)
	start()
}

func (c *cptCompactor) compact(tb testing.TB) {
	c.ops, c.written = 0, 0
	ctx := context.Background()
	probe := c.probe
	if probe == "" {
		probe = quorum.Root
	}
	resp, err := c.cli.Get(ctx, probe, clientv3.WithCountOnly())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil && !strings.Contains(err.Error(), "compacted") {
		tb.Fatal(err)
	}
}

func BenchmarkCheckpointPut(b *testing.B) {
	e := cptBenchEnv(b)
	ctx := context.Background()
	for _, sz := range cptBenchSizes {
		b.Run(sz.name, func(b *testing.B) {
			data := cptPayload(sz.n, 1)
			c := &cptCompactor{cli: e.cli}
			c.compact(b)
			b.SetBytes(int64(sz.n))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.store.PutCheckpoint(ctx, e.fence, "bench-"+sz.name, model.RegistryCheckpoint, 1, cptNode, data); err != nil {
					b.Fatal(err)
				}
				c.wrote(b, sz.n, b.StopTimer, b.StartTimer)
			}
		})
	}
}

func BenchmarkRawPut(b *testing.B) {
	e := cptBenchEnv(b)
	ctx := context.Background()
	for _, sz := range rawBenchSizes {
		b.Run(sz.name, func(b *testing.B) {
			data := cptPayload(sz.n, 1)
			key := e.keys.Prefix() + "bench/raw/" + sz.name
			c := &cptCompactor{cli: e.cli}
			c.compact(b)
			b.SetBytes(int64(sz.n))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.cli.Put(ctx, key, string(data)); err != nil {
					b.Fatal(err)
				}
				c.wrote(b, sz.n, b.StopTimer, b.StartTimer)
			}
		})
	}
}

// TestCheckpointPutLatencyReport measures p50/p99 of PutCheckpoint and of its
// raw floor, interleaved one for one on the same etcd so both see the same
// disk and load, and prints the ratios. It asserts nothing about time.
func TestCheckpointPutLatencyReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") != "1" {
		t.Skip("set RESMON_BENCH=1 to measure checkpoint put latency")
	}
	n := 300
	if v, err := strconv.Atoi(os.Getenv("RESMON_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	m, _ := quorumtest.Start(t)
	e := newCPTEnvOn(t, quorumtest.Client(t, m.Endpoints()...))
	ctx := context.Background()
	// Compaction is etcd's root's to ask for.
	c := &cptCompactor{cli: quorumtest.RootClient(t, m.PKI, m.Endpoints()...)}
	type row struct {
		name      string
		raw, ours []time.Duration
		rawLabel  string
	}
	var rows []row
	for _, sz := range cptBenchSizes {
		data := cptPayload(sz.n, 1)
		// The raw floor: one Put of the same bytes, or for payloads above one
		// etcd request, one Put per 1 MiB piece.
		var pieces [][]byte
		for lo := 0; lo < len(data); lo += 1 << 20 {
			pieces = append(pieces, data[lo:min(lo+1<<20, len(data))])
		}
		raw := func() time.Duration {
			start := time.Now()
			for i, p := range pieces {
				if _, err := e.cli.Put(ctx, fmt.Sprintf("%sbench/raw/%s/%d", e.keys.Prefix(), sz.name, i), string(p)); err != nil {
					t.Fatal(err)
				}
			}
			return time.Since(start)
		}
		ours := func() time.Duration {
			start := time.Now()
			if _, err := e.store.PutCheckpoint(ctx, e.fence, "bench-"+sz.name, model.RegistryCheckpoint, 1, cptNode, data); err != nil {
				t.Fatal(err)
			}
			return time.Since(start)
		}
		for i := 0; i < 20; i++ { // warm up both paths
			raw()
			ours()
		}
		c.compact(t)
		r := row{name: sz.name, rawLabel: "1 Put"}
		if len(pieces) > 1 {
			r.rawLabel = fmt.Sprintf("%d×1MiB Put", len(pieces))
		}
		for i := 0; i < n; i++ {
			// Alternate which goes first so neither always follows the other.
			if i%2 == 0 {
				r.raw = append(r.raw, raw())
				r.ours = append(r.ours, ours())
			} else {
				r.ours = append(r.ours, ours())
				r.raw = append(r.raw, raw())
			}
			c.wrote(t, 2*sz.n, func() {}, func() {})
		}
		rows = append(rows, r)
	}
	pct := func(d []time.Duration, p float64) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		i := int(float64(len(s))*p+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }
	var out strings.Builder
	fmt.Fprintf(&out, "checkpoint put vs raw floor, N=%d each, interleaved, same embedded etcd\n", n)
	fmt.Fprintf(&out, "%-6s %-12s %11s %11s %11s %11s %9s %9s\n", "size", "floor", "raw p50", "ours p50", "raw p99", "ours p99", "p50 ×", "p99 ×")
	for _, r := range rows {
		rp50, op50, rp99, op99 := pct(r.raw, .5), pct(r.ours, .5), pct(r.raw, .99), pct(r.ours, .99)
		fmt.Fprintf(&out, "%-6s %-12s %11s %11s %11s %11s %9.2f %9.2f\n", r.name, r.rawLabel,
			ms(rp50), ms(op50), ms(rp99), ms(op99), float64(op50)/float64(rp50), float64(op99)/float64(rp99))
		benchrec.Latency(t, "Checkpoint put (quorum)", r.name+" p50", op50, rp50, "raw etcd "+r.rawLabel+" of the same bytes", n)
		benchrec.Latency(t, "Checkpoint put (quorum)", r.name+" p99", op99, rp99, "raw etcd "+r.rawLabel+" of the same bytes", n)
	}
	t.Log("\n" + out.String())
}

// TestCheckpointPutTLSCostReport measures what TLS and etcd auth cost a
// checkpoint put: two embedded etcds in one process, one plaintext and one
// serving TLS with client certificates and auth on (the client a node
// whose role covers its cluster's prefix, as clusterd's), and on each the
// checkpoint put and its raw floor over the same connection, all four
// interleaved. It prints ours against the floor on each transport, and TLS
// against plaintext; it asserts nothing about time.
//
//	RESMON_BENCH=1 go test ./quorum/ -run TestCheckpointPutTLSCostReport -v
func TestCheckpointPutTLSCostReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") != "1" {
		t.Skip("set RESMON_BENCH=1 to measure the cost of TLS on checkpoint puts")
	}
	n := 300
	if v, err := strconv.Atoi(os.Getenv("RESMON_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	prefix := quorum.NewKeys(cptCluster).Prefix()
	_, plainCli := quorumtest.StartWith(t, quorumtest.Options{Plaintext: true})
	m, _ := quorumtest.StartWith(t, quorumtest.Options{AuthPrefix: prefix})
	cert, key := m.Issue(t, cptNode, pki.RoleNode, true)
	tlsCli, err := quorum.Connect(ctx, quorum.ClientConfig{Endpoints: m.Endpoints(), CAFile: m.PKI.CAFile(), CertFile: cert, KeyFile: key, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer tlsCli.Close()
	envs := make([]*cptEnv, 2) // plaintext, TLS
	for i, cli := range []*clientv3.Client{plainCli, tlsCli} {
		st, err := quorum.NewStore(cli, cptCluster, nil)
		if err != nil {
			t.Fatal(err)
		}
		envs[i] = &cptEnv{t: t, cli: cli, store: st, keys: st.Keys()}
		envs[i].fence = envs[i].takeOwnership()
	}
	type cell struct{ raw, ours []time.Duration }
	type row struct {
		name string
		c    [2]cell
	}
	var rows []row
	for _, sz := range rawBenchSizes {
		data := cptPayload(sz.n, 1)
		ops := make([]func() time.Duration, 0, 4)
		r := row{name: sz.name}
		for i, e := range envs {
			c := &r.c[i]
			ops = append(ops,
				func() time.Duration {
					start := time.Now()
					if _, err := e.cli.Put(ctx, e.keys.Prefix()+"bench/raw/"+sz.name, string(data)); err != nil {
						t.Fatal(err)
					}
					d := time.Since(start)
					c.raw = append(c.raw, d)
					return d
				},
				func() time.Duration {
					start := time.Now()
					if _, err := e.store.PutCheckpoint(ctx, e.fence, "bench-"+sz.name, model.RegistryCheckpoint, 1, cptNode, data); err != nil {
						t.Fatal(err)
					}
					d := time.Since(start)
					c.ours = append(c.ours, d)
					return d
				})
		}
		for range 20 { // warm up every path
			for _, op := range ops {
				op()
			}
		}
		r.c = [2]cell{}
		compactors := []*cptCompactor{{cli: envs[0].cli, probe: prefix}, {cli: quorumtest.RootClient(t, m.PKI, m.Endpoints()...)}}
		for _, c := range compactors {
			c.compact(t)
		}
		for i := range n {
			// Rotate the order so that no path always follows another.
			for j := range ops {
				ops[(i+j)%len(ops)]()
			}
			for _, c := range compactors {
				c.wrote(t, 2*sz.n, func() {}, func() {})
			}
		}
		rows = append(rows, r)
	}
	pct := func(d []time.Duration, p float64) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		i := int(float64(len(s))*p+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }
	var out strings.Builder
	fmt.Fprintf(&out, "checkpoint put and raw Put, plaintext vs TLS + auth, N=%d each, interleaved, p50\n", n)
	fmt.Fprintf(&out, "%-6s %11s %11s %11s %11s %10s %10s %10s %10s\n", "size", "plain raw", "plain ours", "TLS raw", "TLS ours",
		"ours/raw", "TLS o/r", "TLS/plain", "raw T/P")
	const sec = "Checkpoint put over TLS (quorum)"
	for _, r := range rows {
		pr, po, tr, to := pct(r.c[0].raw, .5), pct(r.c[0].ours, .5), pct(r.c[1].raw, .5), pct(r.c[1].ours, .5)
		fmt.Fprintf(&out, "%-6s %11s %11s %11s %11s %10.2f %10.2f %10.2f %10.2f\n", r.name, ms(pr), ms(po), ms(tr), ms(to),
			float64(po)/float64(pr), float64(to)/float64(tr), float64(to)/float64(po), float64(tr)/float64(pr))
		benchrec.Latency(t, sec, r.name+" p50, TLS", to, tr, "raw etcd Put of the same bytes over the same TLS connection", n)
		benchrec.Latency(t, sec, r.name+" p50, plaintext", po, pr, "raw etcd Put of the same bytes over plaintext", n)
		benchrec.Latency(t, sec, r.name+" p50, TLS against plaintext", to, po, "the same checkpoint put over plaintext etcd (the ratio is the cost of TLS and auth)", n)
	}
	t.Log("\n" + out.String())
}
