package quorum_test

import (
	"context"
	"testing"
	"time"

	"github.com/resmon/resmon/quorum/quorumtest"
)

func TestEmbeddedRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	m, cli := quorumtest.StartIn(t, dir)
	ctx := context.Background()
	if _, err := cli.Put(ctx, "/resmon/test/k", "v1"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	m.Stop()
	m.Restart(t)
	cli2 := quorumtest.Client(t, m.Endpoints()...)
	resp, err := cli2.Get(ctx, "/resmon/test/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart got %v, want v1", resp.Kvs)
	}
}

func TestThreeMemberClusterSurvivesLeaderLoss(t *testing.T) {
	members, cli := quorumtest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/resmon/test/before", "x"); err != nil {
		t.Fatal(err)
	}
	stopped := false
	for _, m := range members {
		if m.IsLeader() {
			m.Stop()
			stopped = true
			break
		}
	}
	if !stopped {
		t.Fatal("no leader found")
	}
	if _, err := cli.Put(ctx, "/resmon/test/after", "y"); err != nil {
		t.Fatalf("put after leader loss: %v", err)
	}
}
