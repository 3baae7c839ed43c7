package checkpoint_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/wasm"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/testutil/testbin"
)

// nodeServices is what clusterd hands the plugin hosts: the manager answers
// the registry and the checkpoint codes.
type nodeServices struct {
	mgr   *checkpoint.Manager
	fence model.Fence
}

func (s nodeServices) Log(model.Ref, sdk.LogLevel, string, ...any)       {}
func (s nodeServices) Progress(context.Context, model.Ref, string) error { return nil }
func (s nodeServices) Registry() sdk.Registry                            { return s.mgr.Registry() }
func (s nodeServices) FencingToken(context.Context, model.Ref) (int64, error) {
	return s.fence.Token, nil
}
func (s nodeServices) Control(ctx context.Context, r model.Ref, code sdk.ControlCode, in, out []byte) (int, error) {
	return s.mgr.Control(ctx, model.Ref(r), code, in, out)
}

// TestPluginHostUsesTheManager runs a real WASM resource type whose Online
// adds a registry checkpoint and writes the registry through its Host: the
// checkpoint lands in the cluster database and its data in etcd.
func TestPluginHostUsesTheManager(t *testing.T) {
	c := newCluster(t)
	n1 := c.node("node1")
	ctx := ctxT(t)
	f := n1.acquire(c.res.Group).Fence()
	if err := n1.mgr.Restore(ctx, c.res, f); err != nil {
		t.Fatal(err)
	}
	if err := n1.mgr.StartOnline(ctx, c.res, f); err != nil {
		t.Fatal(err)
	}
	d := wasm.New(wasm.Config{Services: nodeServices{n1.mgr, f}, CacheDir: filepath.Join(os.TempDir(), "resmon-checkpoint-test-cache")})
	defer d.Close(context.Background())
	spec := plugins.TypeSpec{Name: "testtype", Kind: "wasm", Path: testbin.BuildWASM(t, "github.com/resmon/resmon/testutil/testtype/cmd/testtype-wasm")}
	key := `SOFTWARE\Microsoft\onyone`
	inst, err := d.Open(ctx, spec, plugins.ResourceSpec{ID: c.res.ID, Name: c.res.Name,
		Properties: map[string]any{"CheckpointKey": key, "RegistryKey": key}})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Online(ctx); err != nil {
		t.Fatalf("Online issuing checkpoint codes through the host: %v", err)
	}
	r, err := c.admin.Resource(ctx, c.res.ID)
	if err != nil || len(r.Value.RegistryCheckpoints) != 1 || r.Value.RegistryCheckpoints[0] != key {
		t.Fatalf("resource record checkpoints: %+v %v", r.Value.RegistryCheckpoints, err)
	}
	if err := n1.mgr.Flush(ctx, c.res); err != nil {
		t.Fatal(err)
	}
	doc, _, err := c.stored(c.res, model.RegistryCheckpoint, 1)
	if err != nil {
		t.Fatalf("no CPT for the checkpoint the plugin added: %v", err)
	}
	if doc.Tree == nil || len(doc.Tree.Values) == 0 {
		t.Fatalf("CPT does not hold the value the plugin wrote: %+v", doc)
	}
	if err := inst.Offline(ctx); err != nil {
		t.Fatal(err)
	}
	if err := inst.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
