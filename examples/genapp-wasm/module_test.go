package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/examples/genapp"
	"github.com/resmon/resmon/examples/genapp/genapptest"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/wasm"
	"github.com/resmon/resmon/plugins/wasm/wasmtest"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
	"github.com/resmon/resmon/testutil/readme"
	"github.com/resmon/resmon/testutil/testbin"
)

func spec(t *testing.T) plugins.TypeSpec {
	return plugins.TypeSpec{
		Name: "genapp", Kind: wasm.Kind,
		Path:     testbin.BuildWASM(t, "github.com/resmon/resmon/examples/genapp-wasm"),
		Commands: genapptest.Commands(t),
	}
}

// cacheDir keeps compiled modules across test runs; wazero keys entries by
// module hash and its own version.
func cacheDir() string { return filepath.Join(os.TempDir(), "resmon-examples-wasm-cache") }

func target(t *testing.T, s plugins.TypeSpec) sdktest.Target {
	return wasmtest.Target(s, wasmtest.Options{CacheDir: cacheDir()})
}

// The WASM module, loaded by the real WASM host, with the suite's commands
// granted.
func TestWASM(t *testing.T) {
	s := spec(t)
	genapptest.Run(t, func(*testing.T) sdktest.Target { return target(t, s) }, genapptest.Options{})
}

// A command the type was not granted does not start: Online fails with
// access denied, and the host logs the attempt.
func TestCommandNotGranted(t *testing.T) {
	s := spec(t)
	tg := target(t, s)
	t.Cleanup(func() { _ = tg.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := sdktest.NewHost("00000000-0000-4000-9000-000000000001")
	r, err := tg.Open(ctx, h, sdk.OpenRequest{ID: h.ResourceID, Name: "ungranted", Properties: map[string]any{
		"CommandLine": "/usr/bin/env sleep 600",
	}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	err = r.Online(ctx)
	if !errors.Is(err, sdk.ErrAccessDenied) || !strings.Contains(err.Error(), `resource "ungranted"`) {
		t.Fatalf("Online: %v, want access denied naming the resource", err)
	}
	found := false
	for _, l := range h.Logs() {
		found = found || strings.Contains(l, "event=capability_denied")
	}
	if !found {
		t.Fatalf("no capability event in %q", h.Logs())
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// The cluster.toml snippet of README.md loads; its resources name granted
// commands and only properties this build honours.
func TestReadmeSnippet(t *testing.T) {
	typ, resources := readme.OneType(t, "README.md")
	granted := typ.Capabilities.Commands
	for _, r := range resources {
		cfg, err := genapp.ParseConfig(sdk.OpenRequest{Name: r.Name, Properties: r.Private})
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range [][]string{cfg.Command, cfg.HealthCommand} {
			if len(cmd) > 0 && !slices.Contains(granted, cmd[0]) {
				t.Errorf("%s: %s is not among the granted commands %q", r.Name, cmd[0], granted)
			}
		}
		if cfg.Dir != "" || cfg.Env != nil || cfg.HealthTCP != "" || cfg.HealthHTTP != "" {
			t.Errorf("%s: uses a property the WASM build refuses", r.Name)
		}
	}
}
