package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/sdk"
)

// logTimeout bounds one Host.Log call, which has no context of its own.
const logTimeout = 10 * time.Second

// dialHost prepares the connection to the host's callback socket. Nothing
// is dialled until the first call; calls wait for the socket to be ready
// (bounded by their context), so a host that re-creates its socket is
// reached again without the plugin noticing.
func dialHost(path string) (*grpc.ClientConn, error) {
	if path == "" {
		return nil, errors.New("the host sent no callback socket")
	}
	return grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true), grpc.MaxCallRecvMsgSize(pluginproto.MaxMessageSize)),
		grpc.WithUnaryInterceptor(retryUnavailable),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: 2 * time.Second,
		}),
	)
}

// retryUnavailable sends a call again when the connection it went out on
// broke (the host re-created its socket): with WaitForReady the retry waits
// for the redial, bounded by the call's context. A call whose reply was lost
// may so reach the host twice; the callbacks repeat harmlessly or report the
// repetition (sdk.ErrAlreadyExists, sdk.ErrNotFound).
func retryUnavailable(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	for try := 0; try < 3 && status.Code(err) == codes.Unavailable && ctx.Err() == nil; try++ {
		err = invoker(ctx, method, req, reply, cc, opts...)
	}
	return err
}

// host is the Host client adapter: the sdk.Host of one resource, calling
// back into clusterd. Every call names the resource and presents its token.
type host struct {
	c  pluginproto.HostClient
	md metadata.MD
}

var (
	_ sdk.Host     = (*host)(nil)
	_ sdk.Registry = registry{}
)

func newHost(conn *grpc.ClientConn, id, token string) *host {
	return &host{
		c:  pluginproto.NewHostClient(conn),
		md: metadata.Pairs(pluginproto.MetaResourceID, id, pluginproto.MetaResourceToken, token),
	}
}

func (h *host) out(ctx context.Context) context.Context {
	return metadata.NewOutgoingContext(ctx, h.md)
}

// callErr turns a transport failure of a Host call into an error for the
// author; errors the host services returned travel in replies instead.
func callErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("resmon host: %s: %w", op, ctx.Err())
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.PermissionDenied:
		return fmt.Errorf("resmon host: %s: %w: %s", op, sdk.ErrAccessDenied, st.Message())
	case codes.Canceled:
		return fmt.Errorf("resmon host: %s: %w", op, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("resmon host: %s: %w", op, context.DeadlineExceeded)
	}
	return fmt.Errorf("resmon host: %s: %w", op, err)
}

// Log implements sdk.Host. A failure to deliver a line is dropped.
func (h *host) Log(level sdk.LogLevel, msg string, kv ...any) {
	ctx, cancel := context.WithTimeout(context.Background(), logTimeout)
	defer cancel()
	_, _ = h.c.Log(h.out(ctx), &pluginproto.LogRequest{
		Level: int32(level), Msg: pluginproto.Text(msg), Fields: pluginproto.EncodeLogFields(kv),
	})
}

// Progress implements sdk.Host.
func (h *host) Progress(ctx context.Context, msg string) error {
	rep, err := h.c.Progress(h.out(ctx), &pluginproto.ProgressRequest{Msg: pluginproto.Text(msg)})
	if err != nil {
		return callErr(ctx, "Progress", err)
	}
	return pluginproto.DecodeError(rep.GetError())
}

// Registry implements sdk.Host.
func (h *host) Registry() sdk.Registry { return registry{h} }

// Control implements sdk.Host with the out-buffer semantics of sdk.Host.
func (h *host) Control(ctx context.Context, code sdk.ControlCode, in, out []byte) (int, error) {
	rep, err := h.c.Control(h.out(ctx), &pluginproto.HostControlRequest{Code: uint32(code), In: in, OutSize: int64(len(out))})
	if err != nil {
		return 0, callErr(ctx, "Control", err)
	}
	if err := pluginproto.DecodeError(rep.GetError()); err != nil {
		return 0, err
	}
	if len(rep.GetOut()) > len(out) { // a host must not do this; keep the contract anyway
		return 0, &sdk.MoreDataError{Needed: len(rep.GetOut())}
	}
	return copy(out, rep.GetOut()), nil
}

// FencingToken implements sdk.Host.
func (h *host) FencingToken(ctx context.Context) (int64, error) {
	rep, err := h.c.FencingToken(h.out(ctx), &pluginproto.Empty{})
	if err != nil {
		return 0, callErr(ctx, "FencingToken", err)
	}
	if err := pluginproto.DecodeError(rep.GetError()); err != nil {
		return 0, err
	}
	return rep.GetToken(), nil
}

// registry is the node-local registry as seen from the plugin.
type registry struct{ h *host }

func (r registry) reply(ctx context.Context, op string, rep interface{ GetError() *pluginproto.Error }, err error) error {
	if err != nil {
		return callErr(ctx, op, err)
	}
	return pluginproto.DecodeError(rep.GetError())
}

func (r registry) GetValue(ctx context.Context, key, name string) (sdk.Value, error) {
	rep, err := r.h.c.GetValue(r.h.out(ctx), &pluginproto.RegRequest{Key: []byte(key), Name: []byte(name)})
	if err := r.reply(ctx, "GetValue", rep, err); err != nil {
		return sdk.Value{}, err
	}
	if rep.GetValue() == nil {
		return sdk.Value{}, fmt.Errorf("resmon host: GetValue %q %q: reply without a value", key, name)
	}
	return pluginproto.DecodeRegValue(rep.GetValue()), nil
}

func (r registry) SetValue(ctx context.Context, key, name string, v sdk.Value) error {
	rep, err := r.h.c.SetValue(r.h.out(ctx), &pluginproto.RegRequest{Key: []byte(key), Name: []byte(name), Value: pluginproto.EncodeRegValue(v)})
	return r.reply(ctx, "SetValue", rep, err)
}

func (r registry) DeleteValue(ctx context.Context, key, name string) error {
	rep, err := r.h.c.DeleteValue(r.h.out(ctx), &pluginproto.RegRequest{Key: []byte(key), Name: []byte(name)})
	return r.reply(ctx, "DeleteValue", rep, err)
}

func (r registry) CreateKey(ctx context.Context, key string) error {
	rep, err := r.h.c.CreateKey(r.h.out(ctx), &pluginproto.RegRequest{Key: []byte(key)})
	return r.reply(ctx, "CreateKey", rep, err)
}

func (r registry) DeleteKey(ctx context.Context, key string) error {
	rep, err := r.h.c.DeleteKey(r.h.out(ctx), &pluginproto.RegRequest{Key: []byte(key)})
	return r.reply(ctx, "DeleteKey", rep, err)
}

func (r registry) SubKeys(ctx context.Context, key string) ([]string, error) {
	rep, err := r.h.c.SubKeys(r.h.out(ctx), &pluginproto.RegRequest{Key: []byte(key)})
	if err := r.reply(ctx, "SubKeys", rep, err); err != nil {
		return nil, err
	}
	return pluginproto.Strings(rep.GetKeys()), nil
}

func (r registry) Values(ctx context.Context, key string) ([]sdk.Value, error) {
	rep, err := r.h.c.Values(r.h.out(ctx), &pluginproto.RegRequest{Key: []byte(key)})
	if err := r.reply(ctx, "Values", rep, err); err != nil {
		return nil, err
	}
	return pluginproto.DecodeRegValues(rep.GetValues()), nil
}
