package plugin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/sdk"
)

// server is the ResourceType server adapter: it turns the host's calls into
// calls of the author's sdk.ResourceType and sdk.Resource.
type server struct {
	pluginproto.UnimplementedResourceTypeServer
	impl sdk.ResourceType
	log  hclog.Logger

	fence fence // the node's self-fencing deadline

	mu    sync.Mutex
	res   map[string]*resource // by resource id; nil while Open runs
	conns map[string]*grpc.ClientConn
}

var _ pluginproto.ResourceTypeServer = (*server)(nil)

func newServer(impl sdk.ResourceType, log hclog.Logger) *server {
	s := &server{impl: impl, log: log, res: map[string]*resource{}, conns: map[string]*grpc.ClientConn{}}
	s.fence.onExpire = s.fenceExpired
	return s
}

func (s *server) withLog(log hclog.Logger) *server {
	s.log = log
	return s
}

// terminateAll terminates every open resource, concurrently, when the host
// is gone.
func (s *server) terminateAll(ctx context.Context) {
	s.mu.Lock()
	var rs []*resource
	for _, r := range s.res {
		if r != nil {
			rs = append(rs, r)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { _ = r.r.Terminate(ctx) })
	}
	wg.Wait()
}

// resource is one opened resource and the calls in flight into it.
type resource struct {
	id, name string
	r        sdk.Resource
	ctl      sdk.Controller // nil: the resource answers no control codes

	mu       sync.Mutex
	next     uint64
	inflight map[uint64]context.CancelFunc
}

// begin registers a call into the resource; Terminate cancels the context
// of every other call in flight once the author's Terminate returned.
func (r *resource) begin(ctx context.Context) (context.Context, uint64, func()) {
	ctx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.next++
	n := r.next
	r.inflight[n] = cancel
	r.mu.Unlock()
	return ctx, n, func() {
		r.mu.Lock()
		delete(r.inflight, n)
		r.mu.Unlock()
		cancel()
	}
}

func (r *resource) cancelOthers(self uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, cancel := range r.inflight {
		if n != self {
			cancel()
		}
	}
}

func (s *server) lookup(id string) (*resource, *pluginproto.Error) {
	s.mu.Lock()
	r := s.res[id]
	s.mu.Unlock()
	if r == nil {
		return nil, pluginproto.EncodeError(fmt.Errorf("%w: resource %q is not open in this plugin process", sdk.ErrNotFound, id))
	}
	return r, nil
}

// hostConn returns the connection to the host's callback socket; gRPC dials
// lazily and redials whenever the host's socket comes back.
func (s *server) hostConn(path string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[path]; ok {
		return c, nil
	}
	c, err := dialHost(path)
	if err != nil {
		return nil, err
	}
	s.conns[path] = c
	return c, nil
}

func (s *server) Open(ctx context.Context, req *pluginproto.OpenRequest) (*pluginproto.OpenReply, error) {
	fail := func(err error) (*pluginproto.OpenReply, error) {
		return &pluginproto.OpenReply{Error: pluginproto.EncodeError(err)}, nil
	}
	id := req.GetId()
	if id == "" {
		return fail(fmt.Errorf("%w: Open without a resource id", sdk.ErrInvalidParameter))
	}
	props, err := pluginproto.DecodeMap(req.GetProperties())
	if err != nil {
		return fail(fmt.Errorf("%w: resource %q: %w", sdk.ErrInvalidParameter, req.GetName(), err))
	}
	conn, err := s.hostConn(req.GetHostSocket())
	if err != nil {
		return fail(fmt.Errorf("resource %q: host socket %q: %w", req.GetName(), req.GetHostSocket(), err))
	}
	s.mu.Lock()
	if _, dup := s.res[id]; dup {
		s.mu.Unlock()
		return fail(fmt.Errorf("%w: resource %q (%s) is already open in this plugin process", sdk.ErrAlreadyExists, req.GetName(), id))
	}
	s.res[id] = nil // reserved while the author's Open runs
	s.mu.Unlock()

	h := newHost(conn, id, req.GetToken())
	r, err := s.impl.Open(ctx, h, sdk.OpenRequest{ID: id, Name: req.GetName(), Properties: props})
	if err == nil && r == nil {
		err = fmt.Errorf("resource %q: Open returned neither a resource nor an error", req.GetName())
	}
	s.mu.Lock()
	if err != nil {
		delete(s.res, id)
		s.mu.Unlock()
		return fail(err)
	}
	res := &resource{id: id, name: req.GetName(), r: r, inflight: map[uint64]context.CancelFunc{}}
	res.ctl, _ = r.(sdk.Controller)
	s.res[id] = res
	s.mu.Unlock()
	s.log.Debug("resource opened", "resource", res.name, "resource_id", id)
	return &pluginproto.OpenReply{Controller: res.ctl != nil}, nil
}

// entry runs one error-returning entry point.
func (s *server) entry(ctx context.Context, call *pluginproto.Call, fn func(*resource, context.Context) error) (*pluginproto.Reply, error) {
	r, perr := s.lookup(call.GetId())
	if perr != nil {
		return &pluginproto.Reply{Error: perr}, nil
	}
	ctx, _, done := r.begin(ctx)
	defer done()
	return &pluginproto.Reply{Error: pluginproto.EncodeError(fn(r, ctx))}, nil
}

// Online is refused past the self-fencing deadline, and a resource whose
// Online was still running when the deadline passed is terminated again
// once it returns: the fence's own Terminate may have come before the
// resource started anything.
func (s *server) Online(ctx context.Context, call *pluginproto.Call) (*pluginproto.Reply, error) {
	return s.entry(ctx, call, func(r *resource, ctx context.Context) error {
		epoch, err := s.fence.check("Online")
		if err != nil {
			return err
		}
		err = r.r.Online(ctx)
		if s.fence.lost(epoch) {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = r.r.Terminate(tctx)
			cancel()
			if err == nil {
				err = fmt.Errorf("%w: the node's self-fencing deadline passed while Online ran; the resource was terminated", sdk.ErrFenced)
			}
		}
		return err
	})
}

func (s *server) Offline(ctx context.Context, call *pluginproto.Call) (*pluginproto.Reply, error) {
	return s.entry(ctx, call, func(r *resource, ctx context.Context) error { return r.r.Offline(ctx) })
}

// Terminate runs the author's Terminate, then cancels the context of every
// other call in flight into the resource, so a call the author's Terminate
// did not release still returns if it honours its context.
func (s *server) Terminate(ctx context.Context, call *pluginproto.Call) (*pluginproto.Reply, error) {
	r, perr := s.lookup(call.GetId())
	if perr != nil {
		return &pluginproto.Reply{Error: perr}, nil
	}
	ctx, self, done := r.begin(ctx)
	defer done()
	err := r.r.Terminate(ctx)
	r.cancelOthers(self)
	return &pluginproto.Reply{Error: pluginproto.EncodeError(err)}, nil
}

// health runs a health check: CheckHealth(deep) when the resource
// implements sdk.HealthChecker (its error is the failure's reason), else
// fn.
func (s *server) health(ctx context.Context, call *pluginproto.Call, deep bool, fn func(*resource, context.Context) bool) (*pluginproto.HealthReply, error) {
	r, perr := s.lookup(call.GetId())
	if perr != nil {
		return &pluginproto.HealthReply{Error: perr}, nil
	}
	ctx, _, done := r.begin(ctx)
	defer done()
	if hc, ok := r.r.(sdk.HealthChecker); ok {
		err := hc.CheckHealth(ctx, deep)
		return &pluginproto.HealthReply{Alive: err == nil, Failure: pluginproto.EncodeError(err)}, nil
	}
	return &pluginproto.HealthReply{Alive: fn(r, ctx)}, nil
}

func (s *server) LooksAlive(ctx context.Context, call *pluginproto.Call) (*pluginproto.HealthReply, error) {
	return s.health(ctx, call, false, func(r *resource, ctx context.Context) bool { return r.r.LooksAlive(ctx) })
}

func (s *server) IsAlive(ctx context.Context, call *pluginproto.Call) (*pluginproto.HealthReply, error) {
	return s.health(ctx, call, true, func(r *resource, ctx context.Context) bool { return r.r.IsAlive(ctx) })
}

func (s *server) Control(ctx context.Context, call *pluginproto.ControlCall) (*pluginproto.ControlReply, error) {
	r, perr := s.lookup(call.GetId())
	if perr != nil {
		return &pluginproto.ControlReply{Error: perr}, nil
	}
	code := sdk.ControlCode(call.GetCode())
	if code.IsCheckpointCode() {
		err := fmt.Errorf("%w: %s is answered by the host, never by the resource", sdk.ErrInvalidFunction, code)
		return &pluginproto.ControlReply{Error: pluginproto.EncodeError(err)}, nil
	}
	if r.ctl == nil {
		err := fmt.Errorf("%w: resource %q answers no control codes (%s)", sdk.ErrInvalidFunction, r.name, code)
		return &pluginproto.ControlReply{Error: pluginproto.EncodeError(err)}, nil
	}
	ctx, _, done := r.begin(ctx)
	defer done()
	out, err := r.ctl.Control(ctx, code, call.GetIn())
	if err != nil {
		return &pluginproto.ControlReply{Error: pluginproto.EncodeError(err)}, nil
	}
	return &pluginproto.ControlReply{Out: out}, nil
}

// Close runs the author's Close and forgets the resource, whatever Close
// returned: the host considers it closed either way.
func (s *server) Close(ctx context.Context, call *pluginproto.Call) (*pluginproto.Reply, error) {
	r, perr := s.lookup(call.GetId())
	if perr != nil {
		return &pluginproto.Reply{Error: perr}, nil
	}
	ctx, _, done := r.begin(ctx)
	err := r.r.Close(ctx)
	done()
	s.mu.Lock()
	delete(s.res, r.id)
	s.mu.Unlock()
	s.log.Debug("resource closed", "resource", r.name, "resource_id", r.id)
	return &pluginproto.Reply{Error: pluginproto.EncodeError(err)}, nil
}

// Describe answers with the type's description of its private properties
// when it implements sdk.Describer.
func (s *server) Describe(context.Context, *pluginproto.Empty) (*pluginproto.DescribeReply, error) {
	d, ok := s.impl.(sdk.Describer)
	if !ok {
		return &pluginproto.DescribeReply{}, nil
	}
	specs, err := pluginproto.EncodePropertySpecs(d.Properties())
	if err != nil {
		return nil, err
	}
	return &pluginproto.DescribeReply{Described: true, Properties: specs}, nil
}
