package goplugin

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk"
)

// Instance is one resource opened in a plugin process: the ResourceType
// client adapter. It implements plugins.Instance.
//
// Every entry point is bounded by the resource's DeadlockTimeout (zero: no
// bound): past it the plugin process is killed, the call returns an error
// wrapping plugins.ErrDeadlock (and ErrPluginExited), and every other
// resource of the process fails with ErrPluginExited. Calls are not
// serialized here: Terminate reaches the plugin while another call into
// the resource is in flight, and the plugin cancels that call's context
// once the resource's Terminate returned.
type Instance struct {
	d        *Driver
	p        *process
	id, name string
	typ      string
	token    string
	deadlock time.Duration
	closed   atomic.Bool
}

var _ plugins.Instance = (*Instance)(nil)

// PID is the process id of the plugin process the resource runs in.
func (in *Instance) PID() int { return in.p.pid }

func (in *Instance) open(ctx context.Context, p *process, props *pluginproto.Map) error {
	in.p = p
	if err := p.addMember(in); err != nil {
		return fmt.Errorf("opening resource %q: %w", in.name, err)
	}
	req := &pluginproto.OpenRequest{Id: in.id, Name: in.name, Properties: props, HostSocket: in.d.cb.path, Token: in.token}
	return in.do(ctx, "Open", func(ctx context.Context) (*pluginproto.Error, error) {
		rep, err := p.rpc.Open(ctx, req)
		return rep.GetError(), err
	})
}

// do runs one entry point: call returns the resource's error (wire form)
// and the transport's error.
func (in *Instance) do(ctx context.Context, entry string, call func(context.Context) (*pluginproto.Error, error)) error {
	p := in.p
	if err := p.deadErr(); err != nil {
		return fmt.Errorf("resource %q: %s: %w", in.name, entry, err)
	}
	var fired atomic.Bool
	var timer *time.Timer
	if in.deadlock > 0 {
		timer = time.AfterFunc(in.deadlock, func() {
			fired.Store(true)
			p.kill(fmt.Errorf("%w: plugin process %d of resource type %q was killed: resource %q: %s exceeded DeadlockTimeout %s",
				plugins.ErrPluginExited, p.pid, p.spec.Name, in.name, entry, in.deadlock))
		})
	}
	werr, err := call(ctx)
	if timer != nil {
		timer.Stop()
	}
	if err == nil {
		if rerr := pluginproto.DecodeError(werr); rerr != nil {
			return fmt.Errorf("resource %q: %s: %w", in.name, entry, rerr)
		}
		return nil
	}
	return in.transportErr(ctx, entry, err, &fired)
}

// transportErr explains a failed RPC: the caller's context ended, the
// process deadlocked, died or broke, or the plugin refused the message.
func (in *Instance) transportErr(ctx context.Context, entry string, err error, fired *atomic.Bool) error {
	p := in.p
	deadlocked := func() error {
		return fmt.Errorf("resource %q: %s: %w (%s): plugin process %d of type %q killed, all its resources failed: %w",
			in.name, entry, plugins.ErrDeadlock, in.deadlock, p.pid, p.spec.Name, plugins.ErrPluginExited)
	}
	if fired.Load() {
		return deadlocked()
	}
	if dead := p.deadErr(); dead != nil {
		return fmt.Errorf("resource %q: %s: %w", in.name, entry, dead)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("resource %q: %s: %w", in.name, entry, ctx.Err())
	}
	switch status.Code(err) {
	case codes.ResourceExhausted:
		return fmt.Errorf("resource %q: %s: %w: %s", in.name, entry, sdk.ErrInvalidParameter, status.Convert(err).Message())
	case codes.Unimplemented:
		return fmt.Errorf("resource %q: %s: %w: %s", in.name, entry, plugins.ErrBadModule, status.Convert(err).Message())
	}
	// The connection broke: the process is dying (learnt within a
	// millisecond or so), or it lives on unreachable and gets killed.
	select {
	case <-p.deadCh:
	case <-time.After(exitGrace):
		p.kill(fmt.Errorf("%w: plugin process %d of resource type %q lost its connection (%v) and was killed",
			plugins.ErrPluginExited, p.pid, p.spec.Name, err))
	}
	if fired.Load() {
		return deadlocked()
	}
	return fmt.Errorf("resource %q: %s: %w", in.name, entry, p.deadErr())
}

func (in *Instance) closedErr(entry string) error {
	return fmt.Errorf("resource %q: %s after Close: %w", in.name, entry, errClosed)
}

var errClosed = errors.New("the resource is closed")

func (in *Instance) simple(ctx context.Context, entry string, rpc func(context.Context, *pluginproto.Call, ...grpc.CallOption) (*pluginproto.Reply, error)) error {
	if in.closed.Load() {
		return in.closedErr(entry)
	}
	call := &pluginproto.Call{Id: in.id}
	return in.do(ctx, entry, func(ctx context.Context) (*pluginproto.Error, error) {
		rep, err := rpc(ctx, call)
		return rep.GetError(), err
	})
}

// Online implements plugins.Instance.
func (in *Instance) Online(ctx context.Context) error {
	return in.simple(ctx, "Online", in.p.rpc.Online)
}

// Offline implements plugins.Instance.
func (in *Instance) Offline(ctx context.Context) error {
	return in.simple(ctx, "Offline", in.p.rpc.Offline)
}

// Terminate implements plugins.Instance. It may run while another call
// into the resource is in flight.
func (in *Instance) Terminate(ctx context.Context) error {
	return in.simple(ctx, "Terminate", in.p.rpc.Terminate)
}

func (in *Instance) health(ctx context.Context, entry string, rpc func(context.Context, *pluginproto.Call, ...grpc.CallOption) (*pluginproto.HealthReply, error)) (bool, error) {
	if in.closed.Load() {
		return false, in.closedErr(entry)
	}
	call := &pluginproto.Call{Id: in.id}
	var alive bool
	var failure *pluginproto.Error
	err := in.do(ctx, entry, func(ctx context.Context) (*pluginproto.Error, error) {
		rep, err := rpc(ctx, call)
		alive, failure = rep.GetAlive(), rep.GetFailure()
		return rep.GetError(), err
	})
	if err == nil && !alive && failure != nil {
		// The resource said why (sdk.HealthChecker): the reason, with its
		// failure class, is the monitor's to decide on.
		return false, fmt.Errorf("resource %q: %s: %w", in.name, entry, pluginproto.DecodeError(failure))
	}
	return alive && err == nil, err
}

// LooksAlive implements plugins.Instance.
func (in *Instance) LooksAlive(ctx context.Context) (bool, error) {
	return in.health(ctx, "LooksAlive", in.p.rpc.LooksAlive)
}

// IsAlive implements plugins.Instance.
func (in *Instance) IsAlive(ctx context.Context) (bool, error) {
	return in.health(ctx, "IsAlive", in.p.rpc.IsAlive)
}

// Control implements plugins.Instance. Checkpoint control codes are
// refused with sdk.ErrInvalidFunction: the host answers them
// (plugins.Services.Control), they never reach a resource.
func (in *Instance) Control(ctx context.Context, code sdk.ControlCode, data []byte) ([]byte, error) {
	entry := "Control " + code.String()
	if in.closed.Load() {
		return nil, in.closedErr(entry)
	}
	if code.IsCheckpointCode() {
		return nil, fmt.Errorf("resource %q: %s: %w: checkpoint control codes are answered by the host (Services.Control), never by the resource",
			in.name, entry, sdk.ErrInvalidFunction)
	}
	call := &pluginproto.ControlCall{Id: in.id, Code: uint32(code), In: data}
	var out []byte
	err := in.do(ctx, entry, func(ctx context.Context) (*pluginproto.Error, error) {
		rep, err := in.p.rpc.Control(ctx, call)
		out = rep.GetOut()
		return rep.GetError(), err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Close implements plugins.Instance: the resource's Close runs in the
// plugin, then the resource is forgotten (its callbacks refused) and the
// process stops if it was its last resource. Closing a resource whose
// process died succeeds: nothing of it is left.
func (in *Instance) Close(ctx context.Context) error {
	if !in.closed.CompareAndSwap(false, true) {
		return nil
	}
	p := in.p
	defer func() {
		in.d.revoke(in)
		p.removeMember(in)
		in.d.release(p)
	}()
	if p.deadErr() != nil {
		return nil
	}
	call := &pluginproto.Call{Id: in.id}
	err := in.do(ctx, "Close", func(ctx context.Context) (*pluginproto.Error, error) {
		rep, err := p.rpc.Close(ctx, call)
		return rep.GetError(), err
	})
	if errors.Is(err, plugins.ErrPluginExited) && !errors.Is(err, plugins.ErrDeadlock) {
		return nil
	}
	return err
}
