package goplugin

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
)

// procKey names a plugin process: one per type (and binary), or one per
// resource when the resource has SeparateMonitor set.
type procKey struct {
	typ, path, sum string
	resource       string // the resource id for a SeparateMonitor process
}

// process is one plugin process and the resources opened in it.
type process struct {
	d    *Driver
	key  procKey
	spec plugins.TypeSpec
	log  hclog.Logger
	tail *tailBuffer // the last bytes of stderr, for error messages

	ready    chan struct{} // closed when start finished; then startErr, or the fields below, are set
	startErr error
	client   *goplugin.Client
	run      *procRunner
	rpc      pluginproto.ResourceTypeClient
	pid      int

	refs     int // under d.mu: members and Opens in progress
	stopping atomic.Bool

	renew      chan struct{} // a newer deadline to send (deadline.go)
	sent       int64         // the deadline last acknowledged; only the sender touches it
	noDeadline atomic.Bool   // the plugin answered SetDeadline with Unimplemented

	mu      sync.Mutex
	members map[string]*Instance
	dead    error         // why the process is gone (wraps plugins.ErrPluginExited)
	deadCh  chan struct{} // closed when dead is set
}

func newProcess(d *Driver, key procKey, t plugins.TypeSpec, r plugins.ResourceSpec) *process {
	log := d.log.With("type", t.Name)
	if r.SeparateMonitor {
		log = log.With("resource", r.Name)
	}
	return &process{
		d: d, key: key, spec: t, log: log, tail: &tailBuffer{max: 8 << 10},
		ready: make(chan struct{}), members: map[string]*Instance{}, deadCh: make(chan struct{}),
		renew: make(chan struct{}, 1),
	}
}

func (p *process) started() bool {
	select {
	case <-p.ready:
		return p.startErr == nil
	default:
		return false
	}
}

// start runs the plugin and completes the handshake (AutoMTLS, protocol
// version), then watches for the process to end.
func (p *process) start() {
	err := p.launch()
	if err != nil {
		p.startErr = err
		p.d.forget(p)
		close(p.ready)
		return
	}
	// The deadline comes before the first Open: no resource of the process
	// may run a moment unfenced.
	p.pushDeadline()
	close(p.ready)
	// Tracked, so fail's wg.Add always finds the counter above zero (fail
	// runs before watch returns, whoever calls it).
	p.d.wg.Add(1)
	go func() {
		defer p.d.wg.Done()
		p.watch()
	}()
	p.d.wg.Add(1)
	go func() {
		defer p.d.wg.Done()
		p.renewLoop()
	}()
	p.log.Debug("plugin process started", "pid", p.pid)

	// Everyone who wanted it may have given up meanwhile, or the driver
	// closed: then nobody will release it.
	p.d.mu.Lock()
	stop := (p.refs == 0 || p.d.closed) && !p.stopping.Load()
	if stop {
		if p.d.procs[p.key] == p {
			delete(p.d.procs, p.key)
		}
		p.stopping.Store(true)
	}
	p.d.mu.Unlock()
	if stop {
		p.stop()
	}
}

func (p *process) launch() error {
	path, err := p.d.pins.resolve(p.spec)
	if err != nil {
		return err
	}
	cfg := &goplugin.ClientConfig{
		HandshakeConfig:  pluginproto.Handshake,
		Plugins:          goplugin.PluginSet{pluginproto.PluginName: &grpcPlugin{}},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     p.d.cfg.StartTimeout,
		Logger:           p.log,
		Stderr:           p.tail,
		SyncStdout:       &lineLogger{log: p.log, stream: "stdout"},
		SyncStderr:       &lineLogger{log: p.log, stream: "stderr"},
		UnixSocketConfig: &goplugin.UnixSocketConfig{TempDir: p.d.runDir},
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, _ string) (runner.Runner, error) {
			// cmd carries go-plugin's environment: the handshake cookie, the
			// protocol versions, the AutoMTLS client certificate, the socket
			// directory. Run the resolved (verified) binary with it.
			env := cmd.Env
			if p.d.cfg.Node != "" {
				env = append(env[:len(env):len(env)], pluginproto.EnvNode+"="+p.d.cfg.Node)
			}
			p.run = newRunner(p.spec.Name, path, env, p.d.cfg.Tracker)
			return p.run, nil
		},
	}
	client := goplugin.NewClient(cfg)
	cp, err := client.Client()
	if err == nil {
		var raw any
		if raw, err = cp.Dispense(pluginproto.PluginName); err == nil {
			p.rpc = raw.(pluginproto.ResourceTypeClient)
		}
	}
	if err != nil {
		client.Kill()
		var output string
		if last := p.tail.lastLines(3); last != "" {
			output = "; its last output: " + last
		}
		return fmt.Errorf("%w: starting %s: %w%s", plugins.ErrBadModule, path, err, output)
	}
	p.client, p.pid = client, p.run.pid
	return nil
}

// watch waits for the process to end and fails its resources.
func (p *process) watch() {
	<-p.run.exited
	// Let the log reader drain what the process wrote last (a panic), unless
	// something it started keeps stderr open.
	select {
	case <-p.run.stderrEOF:
	case <-time.After(500 * time.Millisecond):
	}
	how := "exited (" + p.run.status() + ")"
	if p.stopping.Load() {
		how = "was stopped by the host"
	} else if pl := p.tail.panicLine(); pl != "" {
		how += ": " + pl
	}
	p.fail(fmt.Errorf("%w: plugin process %d of resource type %q %s", plugins.ErrPluginExited, p.pid, p.spec.Name, how))
}

// fail marks the process dead for reason (the first reason wins), fails its
// resources and revokes their callback tokens.
func (p *process) fail(reason error) {
	p.mu.Lock()
	if p.dead != nil {
		p.mu.Unlock()
		return
	}
	p.dead = reason
	close(p.deadCh)
	refs := make([]model.Ref, 0, len(p.members))
	for _, in := range p.members {
		refs = append(refs, model.Ref{ID: in.id, Name: in.name})
		p.d.revoke(in)
	}
	p.mu.Unlock()
	p.d.forget(p)
	if p.stopping.Load() {
		p.log.Debug("plugin process stopped", "pid", p.pid)
	} else {
		p.log.Error("plugin process failed", "pid", p.pid, "error", reason, "resources", len(refs))
		if p.d.cfg.OnExit != nil {
			go p.d.cfg.OnExit(Exit{Type: p.spec.Name, PID: p.pid, Err: reason, Resources: refs})
		}
	}
	if p.stopping.Load() {
		return // stop is running go-plugin's Kill already
	}
	p.d.wg.Add(1)
	go func() { // go-plugin's bookkeeping: connections, log readers
		defer p.d.wg.Done()
		p.client.Kill()
	}()
}

// kill fails the process for reason and kills it (and its process group).
func (p *process) kill(reason error) {
	p.fail(reason)
	_ = p.run.Kill(context.Background())
}

func (p *process) deadErr() error {
	select {
	case <-p.deadCh:
		return p.dead // written before deadCh closed
	default:
		return nil
	}
}

// addMember records in as open in p; it fails if p is dead already.
func (p *process) addMember(in *Instance) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead != nil {
		return p.dead
	}
	p.members[in.id] = in
	return nil
}

func (p *process) removeMember(in *Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.members[in.id] == in {
		delete(p.members, in.id)
	}
}

// stop ends the process gracefully (go-plugin's shutdown, then a kill
// after two seconds).
func (p *process) stop() { p.stopCtx(context.Background()) }

// stopCtx is stop with a kill as soon as ctx ends.
func (p *process) stopCtx(ctx context.Context) {
	p.stopping.Store(true)
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		_ = p.run.Kill(context.Background())
		<-done
	}
}

// grpcPlugin is the go-plugin glue on the host side: it hands out the
// ResourceType client and has no server half.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

var _ goplugin.GRPCPlugin = (*grpcPlugin)(nil)

func (grpcPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("goplugin: the server half lives in the plugin (sdk/plugin)")
}

func (grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return pluginproto.NewResourceTypeClient(conn), nil
}

// tailBuffer keeps the last bytes a plugin wrote to stderr.
type tailBuffer struct {
	max int
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Split(strings.TrimSpace(string(t.buf)), "\n")
}

// lastLines returns the last n non-empty lines, joined with " | ".
func (t *tailBuffer) lastLines(n int) string {
	var out []string
	ls := t.lines()
	for i := len(ls) - 1; i >= 0 && len(out) < n; i-- {
		l := strings.TrimSpace(ls[i])
		if strings.HasPrefix(l, `{"@level":"debug"`) || strings.HasPrefix(l, `{"@level":"trace"`) {
			continue // go-plugin's own chatter
		}
		if l != "" {
			out = append([]string{l}, out...)
		}
	}
	return strings.Join(out, " | ")
}

// panicLine returns the Go runtime's "panic: ..." or "fatal error: ..." line.
func (t *tailBuffer) panicLine() string {
	for _, l := range t.lines() {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return l
		}
	}
	return ""
}

// lineLogger logs what the plugin writes to its (go-plugin synced) stdout
// and stderr, line by line.
type lineLogger struct {
	log    hclog.Logger
	stream string
	mu     sync.Mutex
	buf    []byte
}

func (w *lineLogger) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log.Info(string(w.buf[:i]), "stream", w.stream)
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4<<10 {
		w.log.Info(string(w.buf), "stream", w.stream)
		w.buf = nil
	}
	w.buf = append([]byte(nil), w.buf...)
	return len(b), nil
}
