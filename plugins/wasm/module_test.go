package wasm_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/plugins/wasm"
)

func writeModule(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Modules that are not usable resource types are refused with
// ErrBadModule and a message naming the problem.
func TestBadModulesAreRefused(t *testing.T) {
	valid := wasm.GenModule(wasm.ModOpts{})
	for _, tc := range []struct {
		name string
		bin  []byte
		want []string
	}{
		{"Malformed", []byte("this is not wasm"), []string{"not a WebAssembly binary"}},
		{"TruncatedSection", valid[:len(valid)-3], []string{"not a valid WebAssembly module"}},
		{"CorruptCode", append(append([]byte{}, valid[:len(valid)-1]...), 0xff), []string{"not a valid WebAssembly module"}},
		{"MissingExport", wasm.GenModule(wasm.ModOpts{Omit: "resmon_is_alive"}), []string{"missing export resmon_is_alive", "ABI 1"}},
		{"NoMemory", wasm.GenModule(wasm.ModOpts{NoMemory: true}), []string{`does not export its memory as "memory"`}},
		{"ABIVersionMismatch", wasm.GenModule(wasm.ModOpts{Version: 2}), []string{"ABI version 2", "this host implements version 1"}},
		{"NewerImportModule", wasm.GenModule(wasm.ModOpts{Imports: []string{"resmon_v2.log"}}), []string{"resmon_v2.log", "built for resmon ABI 2", "implements ABI 1"}},
		{"UnknownImport", wasm.GenModule(wasm.ModOpts{Imports: []string{"resmon_v1.teleport"}}), []string{"resmon_v1.teleport", "does not provide"}},
		{"ImportWrongType", wasm.GenModule(wasm.ModOpts{Imports: []string{"resmon_v1.log"}}), []string{"resmon_v1.log with type () -> ()"}},
		{"ForeignImport", wasm.GenModule(wasm.ModOpts{Imports: []string{"env.abort"}}), []string{"env.abort", "only resmon_v1 and wasi_snapshot_preview1"}},
		{"CommandModule", wasm.GenModule(wasm.ModOpts{Start: true}), []string{"exports _start", "reactor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, pluginstest.New())
			_, err := d.Open(ctxT(t), typeSpec("bad", writeModule(t, tc.bin)), resSpec(nil))
			if !errors.Is(err, plugins.ErrBadModule) {
				t.Fatalf("Open: %v, want ErrBadModule", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
			t.Log(err)
		})
	}
	t.Run("GeneratedModuleIsValid", func(t *testing.T) {
		d := newDriver(t, pluginstest.New())
		in := open(t, d, typeSpec("good", writeModule(t, valid)), resSpec(nil))
		if ok, err := in.LooksAlive(ctxT(t)); !ok || err != nil {
			t.Fatalf("LooksAlive: %v %v", ok, err)
		}
	})
	t.Run("MissingFile", func(t *testing.T) {
		d := newDriver(t, pluginstest.New())
		_, err := d.Open(ctxT(t), typeSpec("gone", filepath.Join(t.TempDir(), "nope.wasm")), resSpec(nil))
		if !errors.Is(err, plugins.ErrBadModule) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("WrongKind", func(t *testing.T) {
		d := newDriver(t, pluginstest.New())
		ts := typeSpec("k", writeModule(t, valid))
		ts.Kind = "plugin"
		if _, err := d.Open(ctxT(t), ts, resSpec(nil)); !errors.Is(err, plugins.ErrBadModule) {
			t.Fatalf("Open: %v", err)
		}
	})
}

// The module is pinned by sha256.
func TestChecksumPin(t *testing.T) {
	path := goGuest(t, guestTestType)
	d := newDriver(t, pluginstest.New())
	ts := typeSpec("pinned", path)
	ts.SHA256 = strings.Repeat("ab", 32)
	_, err := d.Open(ctxT(t), ts, resSpec(nil))
	if !errors.Is(err, plugins.ErrChecksum) || !strings.Contains(err.Error(), sha(t, path)) {
		t.Fatalf("Open with a wrong pin: %v", err)
	}
	ts.SHA256 = strings.ToUpper(sha(t, path))
	open(t, d, ts, resSpec(nil))
}

// A type's memory limit is enforced: a module that starts above it is
// refused, and a guest cannot grow past it.
func TestMemoryLimit(t *testing.T) {
	t.Run("StartsAboveLimit", func(t *testing.T) {
		d := newDriver(t, pluginstest.New())
		ts := typeSpec("tiny", goGuest(t, guestCaps))
		ts.MemoryLimitPages = 4
		_, err := d.Open(ctxT(t), ts, resSpec(nil))
		if !errors.Is(err, plugins.ErrBadModule) || !strings.Contains(err.Error(), "the limit is 4 pages") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("Go", func(t *testing.T) {
		d := newDriver(t, pluginstest.New())
		ts := typeSpec("limited", goGuest(t, guestCaps))
		ts.MemoryLimitPages = 1024 // 64 MiB
		in := open(t, d, ts, resSpec(nil))
		ctx := ctxT(t)
		if out, err := in.Control(ctx, 0x20, []byte("8388608")); err != nil || string(out) != "ok" {
			t.Fatalf("8 MiB within the limit: %q %v", out, err)
		}
		_, err := in.Control(ctx, 0x20, []byte("134217728")) // 128 MiB
		if !errors.Is(err, plugins.ErrPluginExited) || !strings.Contains(err.Error(), "out of memory") {
			t.Fatalf("128 MiB over the limit: %v", err)
		}
		if mem := wasm.GuestMemoryBytes(in); mem != 0 {
			t.Fatalf("the crashed instance was kept (%d bytes)", mem)
		}
		if ok, err := in.LooksAlive(ctx); !ok || err != nil {
			t.Fatalf("LooksAlive in a fresh instance: %v %v", ok, err)
		}
		if mem := wasm.GuestMemoryBytes(in); mem > 1024*64<<10 {
			t.Fatalf("memory %d over the limit", mem)
		}
	})
	t.Run("C", func(t *testing.T) {
		d := newDriver(t, pluginstest.New())
		ts := typeSpec("limited", cGuest(t))
		ts.MemoryLimitPages = 32 // 2 MiB
		in := open(t, d, ts, resSpec(nil))
		ctx := ctxT(t)
		if out, err := in.Control(ctx, 3, []byte("65536")); err != nil || string(out) != "ok" {
			t.Fatalf("64 KiB within the limit: %q %v", out, err)
		}
		_, err := in.Control(ctx, 3, []byte("4194304")) // 4 MiB: malloc fails gracefully
		if err == nil || !strings.Contains(err.Error(), "malloc failed") {
			t.Fatalf("4 MiB over the limit: %v", err)
		}
		if mem := wasm.GuestMemoryBytes(in); mem > 32*64<<10 {
			t.Fatalf("memory %d over the limit", mem)
		}
	})
}

// Two drivers sharing a cache directory: the second loads without
// compiling (checked by the benchmark for time; here for correctness).
func TestCompilationCacheDir(t *testing.T) {
	dir := t.TempDir()
	path := cGuestOrGo(t)
	for i := range 2 {
		d := wasm.New(wasm.Config{Services: pluginstest.New(), CacheDir: dir})
		in, err := d.Open(ctxT(t), typeSpec("cached", path), resSpec(nil))
		if err != nil {
			t.Fatalf("driver %d: %v", i, err)
		}
		if ok, err := in.LooksAlive(ctxT(t)); !ok || err != nil {
			t.Fatalf("driver %d: LooksAlive %v %v", i, ok, err)
		}
		if err := d.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache dir is empty: %v", err)
	}
}

// cGuestOrGo is the C guest if it can be built (small, fast), else the Go one.
func cGuestOrGo(t *testing.T) string {
	if p, _, _ := buildCGuest(); p != "" {
		return p
	}
	return goGuest(t, guestTestType)
}
