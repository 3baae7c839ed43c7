package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/proctrack"
)

// Kind is the TypeSpec.Kind this driver loads.
const Kind = "wasm"

// DefaultMemoryLimitPages bounds an instance whose type sets no limit:
// 1024 pages of 64 KiB, 64 MiB. A Go guest starts with about 3 MiB of
// linear memory and a C guest with a few hundred KiB, so this leaves a type
// room to work while a guest that allocates without bound fails on its
// own before it can push the node into swapping or the OOM killer (see
// TestMemoryHogFailsAlone). Types that need more set memory_limit_pages.
const DefaultMemoryLimitPages = 1024

// Config configures a Driver.
type Config struct {
	// Services answers what resources ask of the node. Required.
	Services plugins.Services
	// CacheDir keeps compiled modules across restarts, typically
	// <data_dir>/wasm-cache. Empty: compile in memory only.
	CacheDir string
	// MemoryLimitPages bounds instances of types that set no limit
	// (0: DefaultMemoryLimitPages).
	MemoryLimitPages uint32
	// Tracker, if set, starts each resource's child processes in a unit
	// of the resource's own (a cgroup, or sessions), marked for the keeper
	// to kill at the node's self-fencing deadline; no child starts once
	// that deadline has passed. Set up by the caller. Nil: children run in
	// process groups of their own, untracked.
	Tracker *proctrack.Tracker
}

// Driver loads WASM resource types into one wazero runtime and opens one
// module instance per resource. It is safe for concurrent use.
type Driver struct {
	cfg Config

	mu        sync.Mutex
	started   bool
	startErr  error
	closed    bool
	rt        wazero.Runtime
	cache     wazero.CompilationCache
	types     map[string]*moduleType
	instances map[*instance]struct{}
}

var _ plugins.Driver = (*Driver)(nil)

// New returns a driver. It does no I/O: the runtime and the compilation
// cache are set up by the first Open.
func New(cfg Config) *Driver {
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	return &Driver{cfg: cfg, types: map[string]*moduleType{}, instances: map[*instance]struct{}{}}
}

var errDriverClosed = fmt.Errorf("%w: wasm: driver closed", plugins.ErrPluginExited)

// start creates the runtime on first use.
func (d *Driver) start(ctx context.Context) error {
	if d.closed {
		return errDriverClosed
	}
	if d.started {
		return d.startErr
	}
	d.started = true
	if d.cfg.Services == nil {
		d.startErr = errors.New("wasm: Config.Services is nil")
		return d.startErr
	}
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(65536)
	if d.cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(d.cfg.CacheDir)
		if err != nil {
			d.startErr = fmt.Errorf("wasm: compilation cache in %s: %w", d.cfg.CacheDir, err)
			return d.startErr
		}
		d.cache = c
		rc = rc.WithCompilationCache(c)
	}
	d.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, d.rt); err != nil {
		d.startErr = fmt.Errorf("wasm: instantiating WASI: %w", err)
		return d.startErr
	}
	if _, err := hostModule(d.rt).Instantiate(ctx); err != nil {
		d.startErr = fmt.Errorf("wasm: instantiating the %s host module: %w", "resmon_v1", err)
		return d.startErr
	}
	return nil
}

// Open implements plugins.Driver: it loads t (once) and opens r in an
// instance of its own. Errors: plugins.ErrChecksum, plugins.ErrBadModule,
// plugins.ErrDeadlock when Open exceeds r.DeadlockTimeout, or the error the
// guest's Open returned.
func (d *Driver) Open(ctx context.Context, t plugins.TypeSpec, r plugins.ResourceSpec) (plugins.Instance, error) {
	if t.Kind != Kind {
		return nil, fmt.Errorf("%w: wasm: type %q has kind %q, not %q", plugins.ErrBadModule, t.Name, t.Kind, Kind)
	}
	mt, err := d.load(ctx, t)
	if err != nil {
		return nil, err
	}
	in, err := newInstance(d, mt, r)
	if err != nil {
		return nil, err
	}
	if !d.track(in) {
		return nil, errDriverClosed
	}
	if err := in.open(ctx); err != nil {
		d.untrack(in)
		in.release(context.WithoutCancel(ctx))
		return nil, err
	}
	return in, nil
}

func (d *Driver) track(in *instance) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.instances[in] = struct{}{}
	return true
}

func (d *Driver) untrack(in *instance) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.instances, in)
}

// Close implements plugins.Driver: it interrupts every running call, kills
// every child process, and closes the runtime and the compilation cache.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	ins := make([]*instance, 0, len(d.instances))
	for in := range d.instances {
		ins = append(ins, in)
	}
	d.instances = nil
	d.mu.Unlock()
	// Calls in progress are interrupted through their contexts and allowed
	// to unwind before the runtime closes: wazero must not close a module
	// under a running call.
	var errs []error
	for _, in := range ins {
		in.abandon(ctx, errDriverClosing)
	}
	for _, in := range ins {
		if err := in.acquire(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		if in.cur != nil {
			in.discard(in.cur)
		}
		in.files.close()
		in.unlock()
	}
	if d.rt != nil {
		errs = append(errs, d.rt.Close(ctx))
	}
	d.mu.Lock()
	for _, mt := range d.types {
		select {
		case <-mt.ready:
			mt.image.close()
		default: // still compiling: it closes its image on failure
		}
	}
	d.mu.Unlock()
	if d.cache != nil {
		errs = append(errs, d.cache.Close(ctx))
	}
	return errors.Join(errs...)
}

// moduleType is a loaded resource type: its compiled module and grants.
type moduleType struct {
	spec     plugins.TypeSpec
	sum      string // sha256 of the module file, hex
	compiled wazero.CompiledModule
	image    *memoryImage // the initial memory its instances share, or nil (memimage.go)
	hasInit  bool         // exports _initialize
	hasCtl   bool         // exports resmon_control

	versionOnce sync.Once // the guest's ABI version, checked on first instantiation
	versionErr  error

	ready chan struct{}
	err   error
}

func typeKey(t plugins.TypeSpec) string {
	return strings.Join([]string{t.Name, t.Path, strings.ToLower(t.SHA256), fmt.Sprint(t.MemoryLimitPages),
		strings.Join(t.Commands, "\x00"), strings.Join(t.Dirs, "\x00")}, "\x01")
}

// load returns the loaded type for t, loading it once.
func (d *Driver) load(ctx context.Context, t plugins.TypeSpec) (*moduleType, error) {
	d.mu.Lock()
	if err := d.start(ctx); err != nil {
		d.mu.Unlock()
		return nil, err
	}
	key := typeKey(t)
	mt, ok := d.types[key]
	if !ok {
		mt = &moduleType{spec: t, ready: make(chan struct{})}
		d.types[key] = mt
	}
	d.mu.Unlock()
	if !ok {
		mt.err = d.compile(ctx, mt)
		close(mt.ready)
		if mt.err != nil {
			d.mu.Lock()
			if d.types[key] == mt {
				delete(d.types, key) // a fixed file loads on the next Open
			}
			d.mu.Unlock()
		}
	}
	select {
	case <-mt.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if mt.err != nil {
		return nil, mt.err
	}
	return mt, nil
}

// compile reads, checks and compiles the module of mt.
func (d *Driver) compile(ctx context.Context, mt *moduleType) error {
	t := mt.spec
	bin, err := os.ReadFile(t.Path)
	if err != nil {
		return fmt.Errorf("%w: wasm: type %q: %w", plugins.ErrBadModule, t.Name, err)
	}
	sum := sha256.Sum256(bin)
	mt.sum = hex.EncodeToString(sum[:])
	if t.SHA256 != "" && !strings.EqualFold(t.SHA256, mt.sum) {
		return fmt.Errorf("%w: wasm: type %q: %s has sha256 %s, the type pins %s", plugins.ErrChecksum, t.Name, t.Path, mt.sum, strings.ToLower(t.SHA256))
	}
	for _, cmd := range t.Commands {
		if !filepath.IsAbs(cmd) {
			return fmt.Errorf("wasm: type %q: allowed command %q is not an absolute path", t.Name, cmd)
		}
	}
	for _, dir := range t.Dirs {
		if !filepath.IsAbs(dir) {
			return fmt.Errorf("wasm: type %q: granted directory %q is not an absolute path", t.Name, dir)
		}
		if filepath.Clean(dir) == "/" {
			return fmt.Errorf("wasm: type %q: granted directory %q would grant the whole file system", t.Name, dir)
		}
		if fi, err := os.Stat(dir); err != nil {
			return fmt.Errorf("wasm: type %q: granted directory: %w", t.Name, err)
		} else if !fi.IsDir() {
			return fmt.Errorf("wasm: type %q: granted directory %s is not a directory", t.Name, dir)
		}
	}
	pages := t.MemoryLimitPages
	if pages == 0 {
		pages = d.cfg.MemoryLimitPages
	}
	pages = min(pages, 65536) // 4 GiB: all a 32-bit memory can address
	if bin, err = limitMemory(bin, pages); err != nil {
		return fmt.Errorf("%w: wasm: type %q: %s: %w", plugins.ErrBadModule, t.Name, t.Path, err)
	}
	if stripped, image := splitData(bin); image != nil {
		// Without a memory file the module keeps its segments.
		if im, err := newMemoryImage(t.Name, image); err == nil {
			bin, mt.image = stripped, im
		}
	}
	cm, err := d.rt.CompileModule(ctx, bin)
	if err != nil {
		mt.image.close()
		if ctx.Err() != nil {
			return fmt.Errorf("wasm: type %q: compiling %s: %w", t.Name, t.Path, ctx.Err())
		}
		return fmt.Errorf("%w: wasm: type %q: %s is not a valid WebAssembly module: %w", plugins.ErrBadModule, t.Name, t.Path, err)
	}
	if err := checkModule(cm, mt); err != nil {
		cm.Close(ctx)
		mt.image.close()
		return fmt.Errorf("%w: wasm: type %q: %s: %w", plugins.ErrBadModule, t.Name, t.Path, err)
	}
	mt.compiled = cm
	return nil
}
