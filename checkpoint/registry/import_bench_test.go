package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/resmon/resmon/checkpoint/registry"
	bolt "go.etcd.io/bbolt"
)

// regFile is a .reg file of n keys under SOFTWARE\Bench, one string value
// each: the shape of a large application configuration.
func regFile(n int) []byte {
	var b bytes.Buffer
	b.WriteString("Windows Registry Editor Version 5.00\r\n\r\n")
	for i := range n {
		fmt.Fprintf(&b, "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Bench\\K%07d]\r\n\"Value\"=\"setting %d\"\r\n\r\n", i, i)
	}
	return b.Bytes()
}

// rawBolt writes the same keys straight into bbolt, one nested bucket a key
// with its name and value, in one transaction: the floor of an import.
func rawBolt(t testing.TB, n int) time.Duration {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "raw.db"), 0o600, &bolt.Options{InitialMmapSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	err = db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists([]byte("root"))
		if err != nil {
			return err
		}
		parent := root
		for _, p := range []string{"software", "bench"} {
			if parent, err = parent.CreateBucketIfNotExists([]byte("k" + p)); err != nil {
				return err
			}
		}
		for i := range n {
			name := fmt.Sprintf("K%07d", i)
			b, err := parent.CreateBucket([]byte("k" + name))
			if err != nil {
				return err
			}
			if err := b.Put([]byte("n"), []byte(name)); err != nil {
				return err
			}
			if err := b.Put([]byte("vvalue"), []byte(fmt.Sprintf("\x01setting %d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestImportScalesLinearlyReport prints keys/s of an import at 10k, 100k
// and 1M keys beside a raw bbolt write of the same data (set
// RESMON_BENCH=1; 1M keys needs RESMON_BENCH_LARGE=1).
func TestImportScalesLinearlyReport(t *testing.T) {
	if os.Getenv("RESMON_BENCH") == "" {
		t.Skip("set RESMON_BENCH=1 to measure imports")
	}
	sizes := []int{10_000, 100_000}
	if os.Getenv("RESMON_BENCH_LARGE") != "" {
		sizes = append(sizes, 200_000, 400_000, 1_000_000)
	}
	t.Logf("%-9s %-12s %-12s %-10s %-10s %s", "keys", "import", "raw bbolt", "keys/s", "raw keys/s", "ratio")
	for _, n := range sizes {
		data := regFile(n)
		reg, err := registry.Open(filepath.Join(t.TempDir(), "registry.db"))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := reg.Import(context.Background(), "bench.reg", bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		ours := time.Since(start)
		reg.Close()
		floor := rawBolt(t, n)
		t.Logf("%-9d %-12s %-12s %-10.0f %-10.0f %.2f×", n, ours.Round(time.Millisecond), floor.Round(time.Millisecond),
			float64(n)/ours.Seconds(), float64(n)/floor.Seconds(), ours.Seconds()/floor.Seconds())
	}
}
