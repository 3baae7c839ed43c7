//go:build wasip1

package wasm

import (
	"context"
	"fmt"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm/abi"
)

// hostError turns the status of a host import into an error carrying the
// host's message (last_error) and the sdk sentinel of the status.
func hostError(st int32, what string) error {
	if st >= 0 {
		return nil
	}
	buf := make([]byte, 256)
	n := hostLastError(bp(buf))
	if int(n) > len(buf) && n <= abi.MaxMessage {
		buf = make([]byte, n)
		n = hostLastError(bp(buf))
	}
	msg := ""
	if n > 0 {
		msg = string(buf[:min(int(n), len(buf))])
	}
	if msg == "" {
		msg = fmt.Sprintf("%s: %s", what, abi.Status(st))
	}
	return abi.ErrorOf(abi.Status(st), msg, 0)
}

// host is the sdk.Host of every resource of the module: the host side knows
// which resource a call is for.
type host struct{}

var _ sdk.Host = (*host)(nil)

// Log implements sdk.Host.
func (*host) Log(level sdk.LogLevel, msg string, kv ...any) {
	b := abi.EncodeKV(kv...)
	mp, ml := sp(msg)
	kp, kl := bp(b)
	hostLog(int32(level), mp, ml, kp, kl)
}

// Progress implements sdk.Host.
func (*host) Progress(ctx context.Context, msg string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return hostError(hostProgress(sp(msg)), "progress")
}

// Registry implements sdk.Host.
func (*host) Registry() sdk.Registry { return registry{} }

// Control implements sdk.Host.
func (*host) Control(ctx context.Context, code sdk.ControlCode, in, out []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n uint32
	ip, il := bp(in)
	op, ol := bp(out)
	st := hostControl(uint32(code), ip, il, op, ol, &n)
	if abi.Status(st) == abi.StatusMoreData {
		return 0, &sdk.MoreDataError{Needed: int(n)}
	}
	if err := hostError(st, code.String()); err != nil {
		return 0, err
	}
	return int(n), nil
}

// FencingToken implements sdk.Host.
func (*host) FencingToken(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	t := hostFencingToken()
	if t < 0 {
		return 0, hostError(int32(t), "fencing token")
	}
	return t, nil
}

// registry is the node-local registry, through the host.
type registry struct{}

var _ sdk.Registry = registry{}

// fetch calls an import that fills a caller buffer, growing the buffer on
// ERROR_MORE_DATA until the result fits.
func fetch(what string, call func(out []byte, n *uint32) int32) ([]byte, error) {
	buf := make([]byte, 512)
	for range 16 {
		var n uint32
		st := call(buf, &n)
		if abi.Status(st) == abi.StatusMoreData && n > uint32(len(buf)) && n <= abi.MaxPayload {
			buf = make([]byte, n)
			continue
		}
		if err := hostError(st, what); err != nil {
			return nil, err
		}
		return buf[:min(int(n), len(buf))], nil
	}
	return nil, fmt.Errorf("%s: the result kept growing", what)
}

func (registry) GetValue(ctx context.Context, key, name string) (sdk.Value, error) {
	if err := ctx.Err(); err != nil {
		return sdk.Value{}, err
	}
	kp, kl := sp(key)
	np, nl := sp(name)
	var typ uint32
	data, err := fetch("reading registry value "+name, func(out []byte, n *uint32) int32 {
		op, ol := bp(out)
		return hostRegGetValue(kp, kl, np, nl, &typ, op, ol, n)
	})
	if err != nil {
		return sdk.Value{}, err
	}
	return abi.DecodeValueData(name, sdk.ValueType(typ), data)
}

func (registry) SetValue(ctx context.Context, key, name string, v sdk.Value) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.Name = name
	data, err := abi.EncodeValueData(v)
	if err != nil {
		return err
	}
	kp, kl := sp(key)
	np, nl := sp(name)
	dp, dl := bp(data)
	return hostError(hostRegSetValue(kp, kl, np, nl, uint32(v.Type), dp, dl), "writing registry value "+name)
}

func (registry) DeleteValue(ctx context.Context, key, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	kp, kl := sp(key)
	np, nl := sp(name)
	return hostError(hostRegDeleteValue(kp, kl, np, nl), "deleting registry value "+name)
}

func (registry) CreateKey(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return hostError(hostRegCreateKey(sp(key)), "creating registry key "+key)
}

func (registry) DeleteKey(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return hostError(hostRegDeleteKey(sp(key)), "deleting registry key "+key)
}

func (registry) SubKeys(ctx context.Context, key string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kp, kl := sp(key)
	b, err := fetch("listing registry key "+key, func(out []byte, n *uint32) int32 {
		op, ol := bp(out)
		return hostRegSubKeys(kp, kl, op, ol, n)
	})
	if err != nil {
		return nil, err
	}
	return append([]string{}, abi.DecodeStrList(b)...), nil
}

func (registry) Values(ctx context.Context, key string) ([]sdk.Value, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kp, kl := sp(key)
	b, err := fetch("listing registry values of "+key, func(out []byte, n *uint32) int32 {
		op, ol := bp(out)
		return hostRegValues(kp, kl, op, ol, n)
	})
	if err != nil {
		return nil, err
	}
	vs, err := abi.DecodeValues(b)
	if vs == nil && err == nil {
		vs = []sdk.Value{}
	}
	return vs, err
}
