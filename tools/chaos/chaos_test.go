package chaos_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/testutil/testbin"
	"github.com/resmon/resmon/tools/chaos"
)

// TestChaosCI runs a short seeded fault sequence against three clusterd
// processes (three go-plugin groups and one WASM group) and one etcd
// member: kinds come in shuffled decks, so 20 rounds inject every kind
// that applies to one member at least once, and every invariant is
// checked. The seed is fixed so a failure replays with
// `go run ./tools/cmd/chaos -seed 9 -rounds 20`.
func TestChaosCI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three clusterd processes")
	}
	var log strings.Builder
	cfg := chaos.Config{
		Rounds:       20,
		Seed:         9,
		Out:          t.TempDir(),
		Clusterd:     testbin.Build(t, "github.com/resmon/resmon/cmd/clusterd"),
		Testtype:     testbin.Build(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-plugin"),
		WasmGroups:   1,
		TesttypeWASM: testbin.BuildWASM(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-wasm"),
		App:          testbin.Build(t, "github.com/resmon/resmon/testutil/applife/cmd/applife-app"),
		Log:          &log,
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
	for _, k := range chaos.AllKinds {
		if k != chaos.KindMember && k != chaos.KindLeader && rep.Faults[k] == 0 {
			t.Errorf("no %s fault in %d rounds", k, rep.Rounds)
		}
	}
	if rep.Apps == 0 || len(rep.Gaps) == 0 || rep.Orphans == 0 {
		t.Errorf("the application checks had nothing to check: %d processes, %d handovers, %d orphan rounds", rep.Apps, len(rep.Gaps), rep.Orphans)
	}
	if rep.Confirmed == 0 || rep.Restored == 0 {
		t.Errorf("the no-lost-checkpoint check had nothing to check: %d confirmations, %d restores", rep.Confirmed, rep.Restored)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
