package goplugintest_test

import (
	"testing"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/goplugin/goplugintest"
	"github.com/resmon/resmon/sdk/sdktest"
)

// The conformance harness of sdktest through the go-plugin transport, on
// the test type (the same code as the WASM build), in a shared process and
// with a process per resource.
func TestConformance(t *testing.T) {
	bin := goplugintest.Build(t, "../../../testutil/testtype/cmd/testtype-plugin")
	spec := plugins.TypeSpec{Name: "conformance", Kind: "plugin", Path: bin}
	props := map[string]any{"CheckpointKey": `SOFTWARE\Conformance`, "RegistryKey": `SOFTWARE\Conformance`}
	t.Run("Shared", func(t *testing.T) {
		sdktest.Run(t, goplugintest.Target(spec, goplugintest.Options{}), sdktest.Options{Properties: props})
	})
	t.Run("SeparateMonitor", func(t *testing.T) {
		sdktest.Run(t, goplugintest.Target(spec, goplugintest.Options{SeparateMonitor: true}), sdktest.Options{Properties: props})
	})
}
