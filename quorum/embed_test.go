package quorum_test

import (
	"context"
	"testing"

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
