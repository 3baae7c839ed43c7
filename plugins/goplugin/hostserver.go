package goplugin

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk"
)

// hostServer is the Host server adapter: it answers the plugins' callbacks
// from plugins.Services. It never calls into a plugin, so a resource may
// call back from inside any entry point (checkpoint control codes included)
// without deadlocking.
type hostServer struct {
	pluginproto.UnimplementedHostServer
	svc plugins.Services
}

var _ pluginproto.HostServer = (*hostServer)(nil)

type refKey struct{}

func caller(ctx context.Context) model.Ref {
	r, _ := ctx.Value(refKey{}).(model.Ref)
	return r
}

// authenticator tells which open resource presents (id, token).
type authenticator func(id, token string) (model.Ref, bool)

// authInterceptor admits only calls that name an open resource and present
// the token the host gave it at Open, and hands the handlers the resource's
// Ref. A closed or failed resource's token is revoked: its callbacks are
// refused with PermissionDenied (sdk.ErrAccessDenied in the plugin).
func authInterceptor(auth authenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		id, token := first(md, pluginproto.MetaResourceID), first(md, pluginproto.MetaResourceToken)
		ref, ok := auth(id, token)
		if !ok {
			return nil, status.Errorf(codes.PermissionDenied, "resource %q is not open on this node or presented a wrong token", id)
		}
		return handler(context.WithValue(ctx, refKey{}, ref), req)
	}
}

func first(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *hostServer) Log(ctx context.Context, req *pluginproto.LogRequest) (*pluginproto.Empty, error) {
	level := sdk.LogLevel(min(max(req.GetLevel(), int32(sdk.LevelTrace)), int32(sdk.LevelError)))
	s.svc.Log(caller(ctx), level, req.GetMsg(), pluginproto.DecodeLogFields(req.GetFields())...)
	return &pluginproto.Empty{}, nil
}

func (s *hostServer) Progress(ctx context.Context, req *pluginproto.ProgressRequest) (*pluginproto.Reply, error) {
	err := s.svc.Progress(ctx, caller(ctx), req.GetMsg())
	return &pluginproto.Reply{Error: pluginproto.EncodeError(err)}, nil
}

// Control answers a control code (the checkpoint codes) for the caller with
// a buffer as large as the caller's.
func (s *hostServer) Control(ctx context.Context, req *pluginproto.HostControlRequest) (*pluginproto.ControlReply, error) {
	size := req.GetOutSize()
	if size < 0 || size > pluginproto.MaxMessageSize {
		err := fmt.Errorf("%w: output buffer of %d bytes (at most %d)", sdk.ErrInvalidParameter, size, pluginproto.MaxMessageSize)
		return &pluginproto.ControlReply{Error: pluginproto.EncodeError(err)}, nil
	}
	out := make([]byte, size)
	n, err := s.svc.Control(ctx, caller(ctx), sdk.ControlCode(req.GetCode()), req.GetIn(), out)
	if err != nil {
		return &pluginproto.ControlReply{Error: pluginproto.EncodeError(err)}, nil
	}
	if n < 0 || n > len(out) {
		err := fmt.Errorf("host services returned %d bytes into a %d-byte buffer", n, len(out))
		return &pluginproto.ControlReply{Error: pluginproto.EncodeError(err)}, nil
	}
	return &pluginproto.ControlReply{Out: out[:n]}, nil
}

func (s *hostServer) FencingToken(ctx context.Context, _ *pluginproto.Empty) (*pluginproto.TokenReply, error) {
	t, err := s.svc.FencingToken(ctx, caller(ctx))
	return &pluginproto.TokenReply{Token: t, Error: pluginproto.EncodeError(err)}, nil
}

func (s *hostServer) GetValue(ctx context.Context, req *pluginproto.RegRequest) (*pluginproto.RegReply, error) {
	v, err := s.svc.Registry().GetValue(ctx, string(req.GetKey()), string(req.GetName()))
	if err != nil {
		return &pluginproto.RegReply{Error: pluginproto.EncodeError(err)}, nil
	}
	return &pluginproto.RegReply{Value: pluginproto.EncodeRegValue(v)}, nil
}

func (s *hostServer) SetValue(ctx context.Context, req *pluginproto.RegRequest) (*pluginproto.Reply, error) {
	if req.GetValue() == nil {
		err := fmt.Errorf("%w: SetValue without a value", sdk.ErrInvalidParameter)
		return &pluginproto.Reply{Error: pluginproto.EncodeError(err)}, nil
	}
	err := s.svc.Registry().SetValue(ctx, string(req.GetKey()), string(req.GetName()), pluginproto.DecodeRegValue(req.GetValue()))
	return &pluginproto.Reply{Error: pluginproto.EncodeError(err)}, nil
}

func (s *hostServer) DeleteValue(ctx context.Context, req *pluginproto.RegRequest) (*pluginproto.Reply, error) {
	err := s.svc.Registry().DeleteValue(ctx, string(req.GetKey()), string(req.GetName()))
	return &pluginproto.Reply{Error: pluginproto.EncodeError(err)}, nil
}

func (s *hostServer) CreateKey(ctx context.Context, req *pluginproto.RegRequest) (*pluginproto.Reply, error) {
	err := s.svc.Registry().CreateKey(ctx, string(req.GetKey()))
	return &pluginproto.Reply{Error: pluginproto.EncodeError(err)}, nil
}

func (s *hostServer) DeleteKey(ctx context.Context, req *pluginproto.RegRequest) (*pluginproto.Reply, error) {
	err := s.svc.Registry().DeleteKey(ctx, string(req.GetKey()))
	return &pluginproto.Reply{Error: pluginproto.EncodeError(err)}, nil
}

func (s *hostServer) SubKeys(ctx context.Context, req *pluginproto.RegRequest) (*pluginproto.RegReply, error) {
	keys, err := s.svc.Registry().SubKeys(ctx, string(req.GetKey()))
	if err != nil {
		return &pluginproto.RegReply{Error: pluginproto.EncodeError(err)}, nil
	}
	return &pluginproto.RegReply{Keys: pluginproto.Bytes(keys)}, nil
}

func (s *hostServer) Values(ctx context.Context, req *pluginproto.RegRequest) (*pluginproto.RegReply, error) {
	vs, err := s.svc.Registry().Values(ctx, string(req.GetKey()))
	if err != nil {
		return &pluginproto.RegReply{Error: pluginproto.EncodeError(err)}, nil
	}
	return &pluginproto.RegReply{Values: pluginproto.EncodeRegValues(vs)}, nil
}

// maxSocketPath is the longest unix socket path Linux accepts.
const maxSocketPath = 107

// callbackServer serves hostServer on the host-owned unix socket. The
// socket belongs to clusterd, not to any plugin connection: a plugin dials
// it by path, so it survives a plugin's go-plugin connection and can be
// re-created (serve again) without the plugins noticing beyond a redial.
type callbackServer struct {
	path string
	host *hostServer
	auth authenticator

	mu  sync.Mutex
	srv *grpc.Server
}

func newCallbackServer(path string, svc plugins.Services, auth authenticator) *callbackServer {
	return &callbackServer{path: path, host: &hostServer{svc: svc}, auth: auth}
}

// serve listens on the socket (mode 0600) and serves until stop.
func (c *callbackServer) serve() error {
	if len(c.path) > maxSocketPath {
		return fmt.Errorf("callback socket path %q is %d bytes long, unix sockets allow %d: use a shorter data directory", c.path, len(c.path), maxSocketPath)
	}
	if _, err := os.Lstat(c.path); err == nil {
		// A socket left by a host that died, or one that is still serving?
		if conn, err := net.DialTimeout("unix", c.path, time.Second); err == nil {
			_ = conn.Close()
			return fmt.Errorf("callback socket %s is in use by another host: one driver per data directory", c.path)
		}
		if err := os.Remove(c.path); err != nil {
			return fmt.Errorf("removing stale callback socket: %w", err)
		}
	}
	lis, err := net.Listen("unix", c.path)
	if err != nil {
		return fmt.Errorf("callback socket: %w", err)
	}
	if err := os.Chmod(c.path, 0o600); err != nil {
		_ = lis.Close()
		return fmt.Errorf("callback socket: %w", err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(authInterceptor(c.auth)), grpc.MaxRecvMsgSize(pluginproto.MaxMessageSize))
	pluginproto.RegisterHostServer(srv, c.host)
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
	return nil
}

// stop closes the socket and every connection on it.
func (c *callbackServer) stop() {
	c.mu.Lock()
	srv := c.srv
	c.srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Stop() // closes the listener, which removes the socket file
	}
	_ = os.Remove(c.path) // gone already unless the listener never closed
}
