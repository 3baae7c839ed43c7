package checkpoint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
	"github.com/resmon/resmon/quorum/quorumtest"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/tools/benchrec"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The checkpoint benchmarks, each against its floor measured in the same run
// on the same etcd (an embedded member with default raft timings):
//
//	RESMON_BENCH=1 go test ./checkpoint/ -run TestCheckpointBenchReport -v
//	go test ./checkpoint/ -run '^$' -bench .      (the CPU-only parts)
//
// They print tables and assert nothing about time.

// benchCluster is newCluster on an etcd with default timings.
func benchCluster(t *testing.T) *cluster {
	t.Helper()
	cfg := quorum.EmbedConfig{Name: "bench", DataDir: t.TempDir(), ClientURL: quorumtest.FreeURL(t), PeerURL: quorumtest.FreeURL(t), StartTimeout: 30 * time.Second}
	e, err := quorum.StartEmbedded(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cli := quorumtest.Client(t, cfg.ClientURL)
	st, _ := quorum.NewStore(cli, testCluster, nil)
	c := &cluster{t: t, endpoints: []string{cfg.ClientURL}, admin: st, raw: cli, key: make([]byte, checkpoint.CryptoKeyLen)}
	ctx := ctxT(t)
	if err := st.CreateType(ctx, model.ResourceType{Name: "Network Name", Kind: model.KindPlugin, Path: "x", Defaults: model.DefaultProperties()}); err != nil {
		t.Fatal(err)
	}
	c.res = c.resource("Network Name DATA", "onyone")
	return c
}

type stored struct {
	at  time.Time
	rev uint64
	cpt []byte
}

// storeWatch collects the stores of a manager through the test hook.
type storeWatch struct {
	mu    sync.Mutex
	cond  *sync.Cond
	all   []stored
	count atomic.Int64
}

func watchStores(m *checkpoint.Manager) *storeWatch {
	w := &storeWatch{}
	w.cond = sync.NewCond(&w.mu)
	checkpoint.SetAfterStore(m, func(_ checkpoint.Document, cpt []byte, rev uint64) {
		now := time.Now()
		w.count.Add(1)
		w.mu.Lock()
		w.all = append(w.all[max(0, len(w.all)-16):], stored{now, rev, cpt})
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	return w
}

// until waits for a store of registry revision ≥ rev and returns it.
func (w *storeWatch) until(t testing.TB, rev uint64) stored {
	deadline := time.AfterFunc(30*time.Second, func() { w.mu.Lock(); w.cond.Broadcast(); w.mu.Unlock() })
	defer deadline.Stop()
	start := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for _, s := range w.all {
			if s.rev >= rev {
				return s
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no store of revision %d", rev)
		}
		w.cond.Wait()
	}
}

func pct(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func msf(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

func compact(t testing.TB, cli *clientv3.Client) {
	resp, err := cli.Get(context.Background(), "/", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(context.Background(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil && !strings.Contains(err.Error(), "compacted") {
		t.Fatal(err)
	}
}

// bigTree is a subtree of n values in keys of 100, of mixed types.
func bigTree(name string, n int) *registry.Key {
	root := &registry.Key{Name: name}
	for k := 0; k*100 < n; k++ {
		sub := &registry.Key{Name: fmt.Sprintf("Key%04d", k)}
		for i := k * 100; i < min(n, (k+1)*100); i++ {
			name := fmt.Sprintf("Value%05d", i)
			var v sdk.Value
			switch i % 4 {
			case 0:
				v = sdk.StringValue(name, fmt.Sprintf("setting number %d of the application", i))
			case 1:
				v = sdk.DWordValue(name, uint32(i))
			case 2:
				v = sdk.BinaryValue(name, []byte(fmt.Sprintf("%016x", i)))
			default:
				v = sdk.MultiStringValue(name, "node1", "node2", strconv.Itoa(i))
			}
			sub.Values = append(sub.Values, v)
		}
		root.SubKeys = append(root.SubKeys, sub)
	}
	return root
}

func TestCheckpointBenchReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") != "1" {
		t.Skip("set RESMON_BENCH=1 to run the checkpoint benchmarks")
	}
	n := 300
	if v, err := strconv.Atoi(os.Getenv("RESMON_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	var out strings.Builder
	benchLatency(t, &out, n)
	benchBurst(t, &out)
	benchSnapshotRestore(t, &out)
	t.Log("\n" + out.String())
}

// benchLatency: a registry write → its CPT durable in etcd, through the
// saver as in production (no Flush), vs a raw Put of the same CPT bytes.
// Two regimes: isolated writes (each measurement, ours or raw, after 12 ms
// of quiet, beyond the save interval: both pay for waking an idle process
// and etcd), and back to back (no pause, save interval off: the intrinsic
// overhead of the checkpoint path).
func benchLatency(t *testing.T, out *strings.Builder, n int) {
	fmt.Fprintf(out, "registry write → CPT durable in etcd (saver path, no Flush) vs raw etcd Put of the same CPT bytes; N=%d each, alternating\n", n)
	fmt.Fprintf(out, "| regime | CPT size | raw Put p50 | ours p50 from commit | ratio | ours p50 incl. registry write | ratio | raw Put p99 | ours p99 from commit | ratio | ours p99 incl. write | ratio |\n")
	fmt.Fprintf(out, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, regime := range []struct {
		name     string
		pause    time.Duration
		interval time.Duration
	}{{"isolated (12 ms apart)", checkpoint.DefaultSaveInterval + 2*time.Millisecond, 0}, {"back to back", 0, -1}} {
		for _, size := range []struct {
			name   string
			values int
		}{{"~1 KiB", 12}, {"~64 KiB", 800}} {
			c := benchCluster(t)
			n1 := c.node("node1", saveInterval(regime.interval))
			w := watchStores(n1.mgr)
			n1.addCheckpoint(c.res, onyone)
			if err := n1.reg.Replace(ctxT(t), onyone, bigTree("onyone", size.values)); err != nil {
				t.Fatal(err)
			}
			n1.online(c.res)
			ctx := context.Background()
			rawKey := c.admin.Keys().Prefix() + "bench/raw"
			var withWrite, fromCommit, raw []time.Duration
			var bytes int
			ours := func(i int) {
				time.Sleep(regime.pause)
				t0 := time.Now()
				if err := n1.reg.SetValue(ctx, onyone, "Counter", sdk.DWordValue("", uint32(i))); err != nil {
					t.Fatal(err)
				}
				tc := time.Now()
				s := w.until(t, n1.reg.Revision())
				withWrite = append(withWrite, s.at.Sub(t0))
				fromCommit = append(fromCommit, s.at.Sub(tc))
			}
			floor := func() {
				data, _, err := c.admin.GetCheckpoint(ctx, c.res.ID, model.RegistryCheckpoint, 1)
				if err != nil {
					t.Fatal(err)
				}
				bytes = len(data)
				time.Sleep(regime.pause)
				t0 := time.Now()
				if _, err := c.raw.Put(ctx, rawKey, string(data)); err != nil {
					t.Fatal(err)
				}
				raw = append(raw, time.Since(t0))
			}
			for i := 0; i < 20; i++ {
				ours(i)
				floor()
			}
			withWrite, fromCommit, raw = nil, nil, nil
			compact(t, c.raw)
			for i := 0; i < n; i++ {
				if i%2 == 0 {
					ours(i)
					floor()
				} else {
					floor()
					ours(i)
				}
			}
			r50, r99 := pct(raw, .5), pct(raw, .99)
			what := fmt.Sprintf("registry write → CPT durable, %s, CPT %s", regime.name, size.name)
			against := "a raw etcd Put of the same CPT bytes"
			benchrec.Latency(t, "Checkpoints", what+" p50", pct(fromCommit, .5), r50, against, n)
			benchrec.Latency(t, "Checkpoints", what+" p99", pct(fromCommit, .99), r99, against, n)
			fmt.Fprintf(out, "| %s | %s (%d B) | %s | %s | %.2f× | %s | %.2f× | %s | %s | %.2f× | %s | %.2f× |\n", regime.name, size.name, bytes,
				msf(r50), msf(pct(fromCommit, .5)), float64(pct(fromCommit, .5))/float64(r50), msf(pct(withWrite, .5)), float64(pct(withWrite, .5))/float64(r50),
				msf(r99), msf(pct(fromCommit, .99)), float64(pct(fromCommit, .99))/float64(r99), msf(pct(withWrite, .99)), float64(pct(withWrite, .99))/float64(r99))
		}
	}
}

// benchBurst: 10,000 registry writes/s for 5 s into one checkpointed key.
func benchBurst(t *testing.T, out *strings.Builder) {
	const (
		rate     = 10000
		duration = 5 * time.Second
		workers  = 16
		values   = 100
	)
	c := benchCluster(t)
	n1 := c.node("node1")
	w := watchStores(n1.mgr)
	n1.addCheckpoint(c.res, onyone)
	n1.online(c.res)
	ctx := context.Background()
	before := w.count.Load()

	tokens := make(chan int, rate)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lastDone time.Time
	var lat []time.Duration
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := range tokens {
				t0 := time.Now()
				if err := n1.reg.SetValue(ctx, onyone, fmt.Sprintf("v%03d", i%values), sdk.DWordValue("", uint32(i))); err != nil {
					t.Error(err)
					return
				}
				done := time.Now()
				mine = append(mine, done.Sub(t0))
				mu.Lock()
				if done.After(lastDone) {
					lastDone = done
				}
				mu.Unlock()
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	start := time.Now()
	issued := 0
	tick := time.NewTicker(time.Millisecond)
	for now := range tick.C {
		due := min(int(float64(rate)*now.Sub(start).Seconds()), rate*int(duration/time.Second))
		for ; issued < due; issued++ {
			tokens <- issued
		}
		if issued == rate*int(duration/time.Second) {
			break
		}
	}
	tick.Stop()
	close(tokens)
	wg.Wait()
	elapsed := lastDone.Sub(start)
	finalRev := n1.reg.Revision()
	s := w.until(t, finalRev)
	stores := w.count.Load() - before
	// The final CPT holds the last value written to each name.
	final, err := checkpoint.Decode(s.cpt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := final.Tree.Value("", fmt.Sprintf("v%03d", (issued-1)%values)); !ok || v.Num != uint64(issued-1) {
		t.Errorf("final CPT: %+v", v)
	}
	fmt.Fprintf(out, "\nburst: %d registry writes/s offered for %s by %d writers into one checkpointed key (%d values rewritten in turn), save interval %s\n",
		rate, duration, workers, values, checkpoint.DefaultSaveInterval)
	fmt.Fprintf(out, "| registry writes | achieved rate | registry commits | write p50 / p99 | etcd CPT writes | etcd writes per s | last write → final state stored |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	benchrec.Add(t, benchrec.Row{Section: "Checkpoints", Measure: fmt.Sprintf("burst of %d registry writes at %d/s: last write → final state stored", issued, rate),
		Unit: benchrec.Seconds, Ours: s.at.Sub(lastDone).Seconds(), Target: "≤ 50 ms", Note: fmt.Sprintf("%d etcd CPT writes", stores)})
	fmt.Fprintf(out, "| %d | %.0f/s | %d | %s / %s | %d | %.0f | %s |\n", issued, float64(issued)/elapsed.Seconds(), finalRev,
		msf(pct(lat, .5)), msf(pct(lat, .99)), stores, float64(stores)/elapsed.Seconds(), msf(s.at.Sub(lastDone)))
}

// benchSnapshotRestore: save and restore of a 10,000-value subtree, each
// step timed, against raw etcd Put/Get of the same bytes.
func benchSnapshotRestore(t *testing.T, out *strings.Builder) {
	c := benchCluster(t)
	n1 := c.node("node1")
	ctx := context.Background()
	tree := bigTree("Big", 10000)
	if err := n1.reg.Replace(ctx, `SOFTWARE\Big`, tree); err != nil {
		t.Fatal(err)
	}
	f := n1.acquire(c.res.Group).Fence()
	other, err := registry.Open(filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const runs = 7
	var snap, enc, onePass, put, rawPut, get, rawGet, dec, repl []time.Duration
	var size, chunks int
	for r := 0; r < runs; r++ {
		tj := time.Now()
		if _, _, err := n1.reg.SnapshotJSON(ctx, `SOFTWARE\Big`, nil); err != nil {
			t.Fatal(err)
		}
		onePass = append(onePass, time.Since(tj))
		t0 := time.Now()
		k, _, err := n1.reg.Snapshot(ctx, `SOFTWARE\Big`)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		b, err := checkpoint.Encode(checkpoint.Document{Kind: model.RegistryCheckpoint, Resource: c.res.ID, Number: 1, Path: `SOFTWARE\Big`, Seq: uint64(r + 1), Node: "node1", Time: time.Now(), Tree: k}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		m, err := c.admin.PutCheckpoint(ctx, f, c.res.ID, model.RegistryCheckpoint, 1, "node1", b)
		if err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		size, chunks = len(b), m.Chunks
		// Raw floor: the same bytes in ≤ 1 MiB Puts, and read back.
		var keys []string
		for lo, i := 0, 0; lo < len(b); lo, i = lo+(1<<20), i+1 {
			key := fmt.Sprintf("%sbench/raw/%d", c.admin.Keys().Prefix(), i)
			keys = append(keys, key)
			if _, err := c.raw.Put(ctx, key, string(b[lo:min(lo+1<<20, len(b))])); err != nil {
				t.Fatal(err)
			}
		}
		t4 := time.Now()
		if _, err := c.raw.Get(ctx, c.admin.Keys().Prefix()+"bench/raw/", clientv3.WithPrefix()); err != nil {
			t.Fatal(err)
		}
		t5 := time.Now()
		data, _, err := c.admin.GetCheckpoint(ctx, c.res.ID, model.RegistryCheckpoint, 1)
		if err != nil {
			t.Fatal(err)
		}
		t6 := time.Now()
		d, err := checkpoint.Decode(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		t7 := time.Now()
		if err := other.Replace(ctx, `SOFTWARE\Big`, d.Tree); err != nil {
			t.Fatal(err)
		}
		t8 := time.Now()
		snap, enc, put, rawPut = append(snap, t1.Sub(t0)), append(enc, t2.Sub(t1)), append(put, t3.Sub(t2)), append(rawPut, t4.Sub(t3))
		rawGet, get, dec, repl = append(rawGet, t5.Sub(t4)), append(get, t6.Sub(t5)), append(dec, t7.Sub(t6)), append(repl, t8.Sub(t7))
		compact(t, c.raw)
	}
	regBytes := 0
	if fi, err := os.Stat(n1.reg.File()); err == nil {
		regBytes = int(fi.Size())
	}
	jsonTree, _ := json.Marshal(tree)
	med := func(d []time.Duration) time.Duration { return pct(d, .5) }
	save := med(snap) + med(enc) + med(put)
	restore := med(get) + med(dec) + med(repl)
	benchrec.Latency(t, "Checkpoints", "10,000-value subtree: save (snapshot + encode + put) p50", save, med(rawPut), "raw etcd Puts of the same bytes", runs)
	benchrec.Add(t, benchrec.Row{Section: "Checkpoints", Measure: "10,000-value subtree: restore (get + decode + replace) p50", Unit: benchrec.Seconds,
		Ours: restore.Seconds(), Floor: med(rawGet).Seconds(), Against: "a raw etcd Get of the same bytes", Samples: runs,
		Note: fmt.Sprintf("the floor is the etcd read alone: decoding (%s) and the registry commit (%s) have none", msf(med(dec)), msf(med(repl)))})
	fmt.Fprintf(out, "\nsnapshot + restore of a subtree of 10,000 values (100 keys × 100; REG_SZ, DWORD, BINARY, MULTI_SZ), median of %d\n", runs)
	fmt.Fprintf(out, "CPT %d bytes (tree JSON %d bytes) in %d chunks; registry file %d bytes\n", size, len(jsonTree), chunks, regBytes)
	fmt.Fprintf(out, "| step | time | raw floor (same bytes) | ratio |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(out, "| Snapshot (bbolt read into a tree) | %s | | |\n| Encode (canonical JSON + sha256) | %s | | |\n", msf(med(snap)), msf(med(enc)))
	fmt.Fprintf(out, "| (the saver instead: SnapshotJSON, read + encode in one pass) | %s | | |\n", msf(med(onePass)))
	fmt.Fprintf(out, "| PutCheckpoint | %s | %s (%d Put) | %.2f× |\n", msf(med(put)), msf(med(rawPut)), (size+(1<<20)-1)>>20, float64(med(put))/float64(med(rawPut)))
	fmt.Fprintf(out, "| **save total** | **%s** | %s | %.2f× |\n", msf(save), msf(med(rawPut)), float64(save)/float64(med(rawPut)))
	fmt.Fprintf(out, "| GetCheckpoint (verify) | %s | %s (Get) | %.2f× |\n", msf(med(get)), msf(med(rawGet)), float64(med(get))/float64(med(rawGet)))
	fmt.Fprintf(out, "| Decode (strict, canonical check) | %s | | |\n| Replace (one bbolt commit) | %s | | |\n", msf(med(dec)), msf(med(repl)))
	fmt.Fprintf(out, "| **restore total** | **%s** | %s | %.2f× |\n", msf(restore), msf(med(rawGet)), float64(restore)/float64(med(rawGet)))
}

// CPU-only parts of a 10,000-value checkpoint.

func BenchmarkSnapshot10k(b *testing.B) {
	r, _ := registry.Open(filepath.Join(b.TempDir(), "r.db"))
	defer r.Close()
	ctx := context.Background()
	r.Replace(ctx, `SOFTWARE\Big`, bigTree("Big", 10000))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := r.Snapshot(ctx, `SOFTWARE\Big`); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode10k(b *testing.B) {
	d := checkpoint.Document{Kind: model.RegistryCheckpoint, Resource: "r", Number: 1, Path: `SOFTWARE\Big`, Seq: 1, Node: "n", Time: time.Now(), Tree: bigTree("Big", 10000)}
	for i := 0; i < b.N; i++ {
		x, err := checkpoint.Encode(d, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(x)))
	}
}

func BenchmarkDecode10k(b *testing.B) {
	d := checkpoint.Document{Kind: model.RegistryCheckpoint, Resource: "r", Number: 1, Path: `SOFTWARE\Big`, Seq: 1, Node: "n", Time: time.Now(), Tree: bigTree("Big", 10000)}
	x, _ := checkpoint.Encode(d, nil)
	b.SetBytes(int64(len(x)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := checkpoint.Decode(x, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReplace10k(b *testing.B) {
	r, _ := registry.Open(filepath.Join(b.TempDir(), "r.db"))
	defer r.Close()
	ctx := context.Background()
	tree := bigTree("Big", 10000)
	for i := 0; i < b.N; i++ {
		if err := r.Replace(ctx, `SOFTWARE\Big`, tree); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSnapshotJSON10k(b *testing.B) {
	r, _ := registry.Open(filepath.Join(b.TempDir(), "r.db"))
	defer r.Close()
	ctx := context.Background()
	r.Replace(ctx, `SOFTWARE\Big`, bigTree("Big", 10000))
	b.ResetTimer()
	var buf []byte
	for i := 0; i < b.N; i++ {
		var err error
		if buf, _, err = r.SnapshotJSON(ctx, `SOFTWARE\Big`, buf[:0]); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(buf)))
	}
}
