package wasm_test

import (
	"testing"

	"github.com/resmon/resmon/plugins/wasm/wasmtest"
	"github.com/resmon/resmon/sdk/sdktest"
)

// The conformance harness of sdktest, through the WASM transport: the Go
// test type (the same code as the go-plugin build) and the C guest.
func TestConformance(t *testing.T) {
	props := map[string]any{"CheckpointKey": `SOFTWARE\Conformance`, "RegistryKey": `SOFTWARE\Conformance`}
	t.Run("Go", func(t *testing.T) {
		sdktest.Run(t, wasmtest.Target(typeSpec("conformance", goGuest(t, guestTestType)), wasmtest.Options{CacheDir: cacheDir()}), sdktest.Options{Properties: props})
	})
	t.Run("C", func(t *testing.T) {
		sdktest.Run(t, wasmtest.Target(typeSpec("conformance", cGuest(t)), wasmtest.Options{CacheDir: cacheDir()}), sdktest.Options{Properties: props})
	})
}
