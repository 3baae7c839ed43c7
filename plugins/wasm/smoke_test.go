package wasm_test

import (
	"testing"

	"github.com/resmon/resmon/plugins/pluginstest"
)

func TestSmoke(t *testing.T) {
	eachGuest(t, func(t *testing.T, path string) {
		svc := pluginstest.New()
		d := newDriver(t, svc)
		in := open(t, d, typeSpec("t", path), resSpec(map[string]any{"CheckpointKey": `SOFTWARE\X`}))
		ctx := ctxT(t)
		if err := in.Online(ctx); err != nil {
			t.Fatal(err)
		}
		ok, err := in.LooksAlive(ctx)
		t.Log(ok, err, svc.Logs())
	})
}
