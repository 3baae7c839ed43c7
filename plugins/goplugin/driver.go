// Package goplugin is the host side of go-plugin resource types (kind
// "plugin"): it starts plugin executables built with sdk/plugin, drives the
// resources opened in them through plugins.Instance, and serves their
// callbacks from plugins.Services.
//
// One plugin process serves all the resources of a type on the node, or
// just one resource when its SeparateMonitor property is set. Processes
// start at the first Open that needs them, stop when their last resource
// closes, and are never restarted behind the monitor's back: when a process
// dies, every resource opened in it fails (its calls return an error
// wrapping plugins.ErrPluginExited, naming the type, the pid and how the
// process ended) and the next Open starts a fresh process.
//
// Plugins run in process groups of their own (what a plugin started dies
// with it; with Config.Tracker, in a unit that holds all it starts), and
// they cannot outlive the host: the host holds their stdin open, and
// sdk/plugin exits at its end of file. They learn the node's self-fencing
// deadline (SetDeadline) and terminate their resources by themselves when
// it passes unrenewed. There is no reattach:
// AutoMTLS keys live in the host's memory only, and a resource whose host
// is gone must not keep running (the node's lease lapses and the group
// fails over). Built for Linux.
package goplugin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/proctrack"
	"github.com/resmon/resmon/sdk"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind is the TypeSpec.Kind this driver loads.
const Kind = "plugin"

// DefaultStartTimeout bounds a plugin's start and handshake when
// Config.StartTimeout is zero.
const DefaultStartTimeout = 30 * time.Second

// exitGrace is how long a call whose connection broke waits to learn that
// the process died (it usually takes well under a millisecond) before the
// driver declares the process broken and kills it.
const exitGrace = 2 * time.Second

// Config configures a Driver.
type Config struct {
	// Services answers the resources' callbacks: log, progress, registry,
	// checkpoint control codes, fencing token. Required.
	Services plugins.Services
	// DataDir belongs to the driver (mode 0700, one driver per directory):
	// host.sock is the callback socket, bin/ holds the verified copies of
	// pinned plugin binaries, run/ go-plugin's sockets. Required. Keep the
	// path short: host.sock's absolute path must fit in 107 bytes.
	DataDir string
	// Logger is the node log. Plugin stderr, hclog JSON lines included, is
	// logged here with the type (and, for a SeparateMonitor process, the
	// resource) as fields. Default: discard.
	Logger hclog.Logger
	// Node is this node's name, given to plugin processes as RESMON_NODE
	// (empty: not set).
	Node string
	// StartTimeout bounds a plugin's start and handshake (default 30 s).
	StartTimeout time.Duration
	// Tracker, if set, holds every plugin process and all it starts in a
	// unit of its own (a cgroup, or a session): when the plugin ends,
	// whatever it left running is killed, and a clusterd that starts after
	// a crash kills what the previous one's plugins left. Set up by the
	// caller. Nil: plugins run in process groups of their own, untracked.
	Tracker *proctrack.Tracker
	// OnExit, if set, is called on a goroutine of its own whenever a plugin
	// process ends without the driver asking it to (crash, exit, killed for
	// DeadlockTimeout, lost connection), with the resources it failed.
	OnExit func(Exit)
}

// Exit reports a plugin process that ended unasked.
type Exit struct {
	Type      string
	PID       int
	Err       error // wraps plugins.ErrPluginExited
	Resources []model.Ref
}

// Driver loads go-plugin resource types. It implements plugins.Driver.
type Driver struct {
	cfg Config
	log hclog.Logger

	mu     sync.Mutex
	closed bool
	cb     *callbackServer // nil until the first Open sets the data directory up
	pins   *pins
	runDir string
	procs  map[procKey]*process

	deadline atomic.Int64 // the node's self-fencing deadline, CLOCK_MONOTONIC ns; 0: none

	authMu sync.RWMutex
	open   map[string]*Instance // by resource id: who may call back

	wg sync.WaitGroup // background starts and stops
}

var _ plugins.Driver = (*Driver)(nil)

// New returns a driver; it does no I/O until the first Open.
func New(cfg Config) (*Driver, error) {
	if cfg.Services == nil {
		return nil, errors.New("goplugin: Config.Services is required")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("goplugin: Config.DataDir is required")
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Driver{cfg: cfg, log: log, procs: map[procKey]*process{}, open: map[string]*Instance{}}, nil
}

// setup creates the data directory and starts serving callbacks. Called
// with d.mu held; a failure is returned and tried again at the next Open.
func (d *Driver) setup() error {
	if d.cb != nil {
		return nil
	}
	dir, err := filepath.Abs(d.cfg.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	bin, run := filepath.Join(dir, "bin"), filepath.Join(dir, "run")
	if err := os.RemoveAll(run); err != nil { // sockets of plugins of a previous host
		return err
	}
	for _, sub := range []string{bin, run} {
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return err
		}
	}
	if stale, _ := filepath.Glob(filepath.Join(bin, "copy-*.tmp")); len(stale) > 0 {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	cb := newCallbackServer(filepath.Join(dir, "host.sock"), d.cfg.Services, d.authenticate)
	if err := cb.serve(); err != nil {
		return err
	}
	d.cb, d.pins, d.runDir = cb, newPins(bin), run
	return nil
}

// SocketPath is the callback socket's path ("" before the first Open).
func (d *Driver) SocketPath() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cb == nil {
		return ""
	}
	return d.cb.path
}

// authenticate is the callback server's view of the open resources.
func (d *Driver) authenticate(id, token string) (model.Ref, bool) {
	d.authMu.RLock()
	in := d.open[id]
	d.authMu.RUnlock()
	if in == nil || subtle.ConstantTimeCompare([]byte(in.token), []byte(token)) != 1 {
		return model.Ref{}, false
	}
	return model.Ref{ID: in.id, Name: in.name}, true
}

func (d *Driver) register(in *Instance) bool {
	d.authMu.Lock()
	defer d.authMu.Unlock()
	if _, dup := d.open[in.id]; dup {
		return false
	}
	d.open[in.id] = in
	return true
}

// revoke forgets in's token: its callbacks are refused from now on.
func (d *Driver) revoke(in *Instance) {
	d.authMu.Lock()
	defer d.authMu.Unlock()
	if d.open[in.id] == in {
		delete(d.open, in.id)
	}
}

// Open implements plugins.Driver: it starts t's plugin process if needed
// (or a process of r's own with SeparateMonitor) and opens r in it.
func (d *Driver) Open(ctx context.Context, t plugins.TypeSpec, r plugins.ResourceSpec) (plugins.Instance, error) {
	if t.Kind != Kind {
		return nil, fmt.Errorf("loading resource type %q: %w: kind %q, this driver loads %q", t.Name, plugins.ErrBadModule, t.Kind, Kind)
	}
	if r.ID == "" || !utf8.ValidString(r.ID) || !utf8.ValidString(r.Name) {
		return nil, fmt.Errorf("opening resource %q: %w: the id must be set and id and name valid UTF-8", r.Name, sdk.ErrInvalidParameter)
	}
	props, err := pluginproto.EncodeMap(r.Properties)
	if err != nil {
		return nil, fmt.Errorf("opening resource %q: %w: %w", r.Name, sdk.ErrInvalidParameter, err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, fmt.Errorf("opening resource %q: the goplugin driver is closed", r.Name)
	}
	err = d.setup()
	d.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("goplugin data directory %s: %w", d.cfg.DataDir, err)
	}

	in := &Instance{d: d, id: r.ID, name: r.Name, typ: t.Name, token: newToken(), deadlock: r.DeadlockTimeout}
	if !d.register(in) {
		return nil, fmt.Errorf("opening resource %q: %w: resource %s is already open on this node", r.Name, sdk.ErrAlreadyExists, r.ID)
	}
	p, err := d.acquire(ctx, t, r)
	if err != nil {
		d.revoke(in)
		return nil, fmt.Errorf("loading resource type %q: %w", t.Name, err)
	}
	if err := in.open(ctx, p, props); err != nil {
		d.revoke(in)
		p.removeMember(in)
		d.release(p)
		return nil, err
	}
	return in, nil
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// acquire returns the running process for (t, r), starting it if needed,
// and takes a reference on it; release gives the reference back.
func (d *Driver) acquire(ctx context.Context, t plugins.TypeSpec, r plugins.ResourceSpec) (*process, error) {
	key := procKey{typ: t.Name, path: t.Path, sum: t.SHA256}
	if r.SeparateMonitor {
		key.resource = r.ID
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("the goplugin driver is closed")
	}
	p := d.procs[key]
	if p == nil {
		p = newProcess(d, key, t, r)
		d.procs[key] = p
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			p.start()
		}()
	}
	p.refs++
	d.mu.Unlock()

	select {
	case <-p.ready:
	case <-ctx.Done():
		d.release(p)
		return nil, ctx.Err()
	}
	if p.startErr != nil {
		d.release(p)
		return nil, p.startErr
	}
	return p, nil
}

// release drops a reference on p; the last one stops the process.
func (d *Driver) release(p *process) {
	d.mu.Lock()
	p.refs--
	stop := p.refs == 0 && p.started() && d.procs[p.key] == p
	if stop {
		delete(d.procs, p.key)
		p.stopping.Store(true)
		d.wg.Add(1)
	}
	d.mu.Unlock()
	if stop {
		go func() {
			defer d.wg.Done()
			p.stop()
		}()
	}
}

// forget removes a dead or failed process from the table, so the next Open
// starts a new one.
func (d *Driver) forget(p *process) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.procs[p.key] == p {
		delete(d.procs, p.key)
	}
}

// Close implements plugins.Driver: it stops every plugin process (those
// with resources still open are killed when ctx ends first) and the
// callback socket.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	procs := make([]*process, 0, len(d.procs))
	for k, p := range d.procs {
		p.stopping.Store(true)
		procs = append(procs, p)
		delete(d.procs, k)
	}
	cb := d.cb
	d.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-p.ready:
			case <-ctx.Done():
				return // start() sees the driver closed and stops it
			}
			if p.started() { // a failed start left no process to stop
				p.stopCtx(ctx)
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	if cb != nil {
		cb.stop()
	}
	return ctx.Err()
}

// Describe implements plugins.Describer: it asks t's plugin process
// (started for the question if none runs) for its property description.
func (d *Driver) Describe(ctx context.Context, t plugins.TypeSpec) ([]sdk.PropertySpec, bool, error) {
	if t.Kind != Kind {
		return nil, false, fmt.Errorf("describing resource type %q: %w: kind %q, this driver loads %q", t.Name, plugins.ErrBadModule, t.Kind, Kind)
	}
	d.mu.Lock()
	err := d.setup()
	d.mu.Unlock()
	if err != nil {
		return nil, false, fmt.Errorf("goplugin data directory %s: %w", d.cfg.DataDir, err)
	}
	p, err := d.acquire(ctx, t, plugins.ResourceSpec{})
	if err != nil {
		return nil, false, fmt.Errorf("loading resource type %q: %w", t.Name, err)
	}
	defer d.release(p)
	rep, err := p.rpc.Describe(ctx, &pluginproto.Empty{})
	if status.Code(err) == codes.Unimplemented {
		return nil, false, nil // a type built before descriptions existed
	}
	if err != nil {
		return nil, false, fmt.Errorf("describing resource type %q: %w", t.Name, err)
	}
	if !rep.GetDescribed() {
		return nil, false, nil
	}
	specs, err := pluginproto.DecodePropertySpecs(rep.GetProperties())
	if err != nil {
		return nil, false, fmt.Errorf("describing resource type %q: %w", t.Name, err)
	}
	return specs, true, nil
}
