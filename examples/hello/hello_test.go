package hello_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/resmon/resmon/examples/hello"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/goplugin/goplugintest"
	"github.com/resmon/resmon/plugins/wasm/wasmtest"
	"github.com/resmon/resmon/sdk/sdktest"
)

// The private properties every resource of the harness is opened with.
var opts = sdktest.Options{Properties: map[string]any{"Greeting": "bonjour"}}

// The type in this process: no transport, the quickest check.
func TestConformanceDirect(t *testing.T) {
	sdktest.Run(t, sdktest.Direct(hello.Type{}), opts)
}

// The go-plugin executable, started and driven as clusterd does. spec is
// what a [[resource_type]] of cluster.toml says: name, kind and path.
func TestConformanceGoPlugin(t *testing.T) {
	bin := goplugintest.Build(t, "./cmd/hello-plugin")
	spec := plugins.TypeSpec{Name: "Hello", Kind: "plugin", Path: bin}
	sdktest.Run(t, goplugintest.Target(spec, goplugintest.Options{}), opts)
}

// The WASM module, loaded and driven as clusterd does.
func TestConformanceWASM(t *testing.T) {
	module := filepath.Join(t.TempDir(), "hello.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", module, "./wasm")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the module: %v\n%s", err, out)
	}
	spec := plugins.TypeSpec{Name: "Hello (wasm)", Kind: "wasm", Path: module}
	sdktest.Run(t, wasmtest.Target(spec, wasmtest.Options{}), opts)
}
