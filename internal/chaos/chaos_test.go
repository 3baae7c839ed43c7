package chaos_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/internal/chaos"
	"github.com/resmon/resmon/internal/testbin"
)

// TestChaosCI runs a short seeded fault sequence against three clusterd
// processes and one etcd member: with this seed every kind of fault that
// applies to one member comes up at least once, and every
// invariant is checked. The seed is fixed so a failure replays with
// `go run ./cmd/chaos -seed 9 -rounds 20`.
func TestChaosCI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three clusterd processes")
	}
	var log strings.Builder
	cfg := chaos.Config{
		Rounds:   20,
		Seed:     9,
		Out:      t.TempDir(),
		Clusterd: testbin.Build(t, "github.com/resmon/resmon/cmd/clusterd"),
		Testtype: testbin.Build(t, "github.com/resmon/resmon/internal/testtype/cmd/testtype-plugin"),
		Log:      &log,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := chaos.Run(ctx, cfg)
	var sum strings.Builder
	if rep != nil {
		rep.Print(&sum)
	}
	t.Logf("rounds:\n%s%s", log.String(), sum.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		for _, n := range []string{"node1", "node2", "node3"} {
			if b, err := os.ReadFile(cfg.Out + "/" + n + ".log"); err == nil {
				t.Logf("--- %s.log (tail) ---\n%s", n, tail(string(b), 6000))
			}
		}
		t.Fatalf("%d violation(s) with seed %d", len(rep.Violations), rep.Seed)
	}
	if rep.Rounds != cfg.Rounds {
		t.Fatalf("ran %d of %d rounds", rep.Rounds, cfg.Rounds)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
