package cshare_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/wasm"
	"github.com/resmon/resmon/plugins/wasm/wasmtest"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
	"github.com/resmon/resmon/testutil/readme"
	"github.com/resmon/resmon/testutil/testbin"
)

const marker = ".resmon-share"

// setup builds the module and grants it a fresh directory.
func setup(t *testing.T) (plugins.TypeSpec, string) {
	t.Helper()
	// Stripped, as one would ship it (wasi-libc brings debug sections).
	mod := testbin.BuildC(t, "examples/cshare/src/cshare.c", "-Wl,--strip-all")
	granted := t.TempDir()
	return plugins.TypeSpec{Name: "cshare", Kind: wasm.Kind, Path: mod, Dirs: []string{granted}}, granted
}

func target(t *testing.T, ts plugins.TypeSpec) sdktest.Target {
	tg := wasmtest.Target(ts, wasmtest.Options{})
	t.Cleanup(func() { _ = tg.Close(context.Background()) })
	return tg
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func open(t *testing.T, ts plugins.TypeSpec, props map[string]any) (sdktest.Opened, *sdktest.Host, error) {
	t.Helper()
	h := sdktest.NewHost("00000000-0000-4000-a000-000000000001")
	r, err := target(t, ts).Open(ctx(t), h, sdk.OpenRequest{ID: h.ResourceID, Name: "share " + t.Name(), Properties: props})
	return r, h, err
}

func health(t *testing.T, r sdktest.Opened) (looks, is bool) {
	t.Helper()
	looks, err := r.LooksAlive(ctx(t))
	if err != nil {
		t.Fatalf("LooksAlive: %v", err)
	}
	is, err = r.IsAlive(ctx(t))
	if err != nil {
		t.Fatalf("IsAlive: %v", err)
	}
	return looks, is
}

func TestConformance(t *testing.T) {
	ts, granted := setup(t)
	sdktest.Run(t, wasmtest.Target(ts, wasmtest.Options{}), sdktest.Options{
		Properties: map[string]any{"Path": filepath.Join(granted, "share")},
	})
}

// Online creates the directory and the marker; health follows the marker;
// Offline and Terminate remove it, and leave the directory and its files.
func TestMarkerLifecycle(t *testing.T) {
	ts, granted := setup(t)
	dir := filepath.Join(granted, "public")
	file := filepath.Join(dir, marker)
	r, h, err := open(t, ts, map[string]any{"Path": dir + "/", "ShareName": "PUBLIC"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if looks, is := health(t, r); looks || is {
		t.Fatalf("before Online: LooksAlive=%v IsAlive=%v", looks, is)
	}
	if err := r.Online(ctx(t)); err != nil {
		t.Fatalf("Online: %v", err)
	}
	b, err := os.ReadFile(file)
	if want := "resmon-share 1\nshare=PUBLIC\nresource=" + h.ResourceID + "\n"; err != nil || string(b) != want {
		t.Fatalf("marker %q %v, want %q", b, err, want)
	}
	if p := h.ProgressReports(); len(p) == 0 {
		t.Error("Online reported no progress")
	}
	if !strings.Contains(strings.Join(h.Logs(), "\n"), "share online path="+dir) {
		t.Errorf("no online line in %q", h.Logs())
	}
	if looks, is := health(t, r); !looks || !is {
		t.Fatalf("online: LooksAlive=%v IsAlive=%v", looks, is)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name      string
		content   string
		looks, is bool
	}{
		{"Tampered", "resmon-share 1\nshare=OTHER\nresource=x\n", true, false},
		{"Truncated", "resmon-share 1\n", true, false},
		{"Empty", "", true, false},
		{"Restored", string(b), true, true},
	} {
		if err := os.WriteFile(file, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if looks, is := health(t, r); looks != c.looks || is != c.is {
			t.Errorf("%s marker: LooksAlive=%v IsAlive=%v, want %v %v", c.name, looks, is, c.looks, c.is)
		}
	}

	if err := r.Offline(ctx(t)); err != nil {
		t.Fatalf("Offline: %v", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker after Offline: %v", err)
	}
	if looks, is := health(t, r); looks || is {
		t.Fatalf("offline: LooksAlive=%v IsAlive=%v", looks, is)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "data.txt")); err != nil || string(b) != "kept" {
		t.Fatalf("the share's files after Offline: %q %v", b, err)
	}

	if err := r.Online(ctx(t)); err != nil {
		t.Fatalf("Online again: %v", err)
	}
	if err := r.Terminate(ctx(t)); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker after Terminate: %v", err)
	}
	if err := r.Close(ctx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A directory outside the granted ones: Online fails with access denied,
// naming the resource, and the host records the attempt.
func TestPathOutsideGrantedDirs(t *testing.T) {
	ts, _ := setup(t)
	outside := filepath.Join(t.TempDir(), "share")
	r, h, err := open(t, ts, map[string]any{"Path": outside})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	err = r.Online(ctx(t))
	if !errors.Is(err, sdk.ErrAccessDenied) || !strings.Contains(err.Error(), `resource "share `+t.Name()+`"`) {
		t.Fatalf("Online: %v, want access denied naming the resource", err)
	}
	if !strings.Contains(strings.Join(h.Logs(), "\n"), "event=capability_denied") {
		t.Fatalf("no capability event in %q", h.Logs())
	}
	if _, err := os.Stat(outside); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the directory was created outside the grant: %v", err)
	}
}

func TestOpenRejectsBadProperties(t *testing.T) {
	ts, granted := setup(t)
	for _, c := range []struct {
		name  string
		props map[string]any
		want  string
	}{
		{"MissingPath", map[string]any{}, "property Path: required"},
		{"RelativePath", map[string]any{"Path": "srv/share"}, "property Path: not an absolute path"},
		{"PathNotAString", map[string]any{"Path": int64(7)}, "property Path: want a string"},
		{"Unknown", map[string]any{"Path": granted, "Mode": "rw"}, "property Mode: unknown property"},
		{"MultiLineName", map[string]any{"Path": granted, "ShareName": "a\nb"}, "property ShareName"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := open(t, ts, c.props)
			if !errors.Is(err, sdk.ErrInvalidParameter) || !strings.Contains(err.Error(), `resource "share `+t.Name()+`": `+c.want) {
				t.Fatalf("Open: %v; want invalid parameter with %q", err, c.want)
			}
		})
	}
}

// The module stays small: no stdio, no allocator beyond wasi-libc's.
func TestModuleIsSmall(t *testing.T) {
	ts, _ := setup(t)
	fi, err := os.Stat(ts.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cshare.wasm: %d bytes", fi.Size())
	if fi.Size() > 64<<10 {
		t.Fatalf("cshare.wasm is %d bytes, over 64 KiB", fi.Size())
	}
}

// The cluster.toml snippet of README.md loads and grants the share's path.
func TestReadmeSnippet(t *testing.T) {
	typ, resources := readme.OneType(t, "README.md")
	dirs := typ.Capabilities.Dirs
	for _, r := range resources {
		p, _ := r.Private["Path"].(string)
		ok := false
		for _, d := range dirs {
			ok = ok || p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/")
		}
		if !ok {
			t.Errorf("%s: Path %q is outside the granted dirs %q", r.Name, p, dirs)
		}
	}
}
