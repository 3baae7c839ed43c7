//go:build wasip1

package wasm

import (
	"context"
	"errors"
	"fmt"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm/abi"
)

var (
	registered sdk.ResourceType
	resources  = map[int32]sdk.Resource{}
	nextHandle int32
)

// Register makes t the resource type of this module. Call it once, from an
// init function of package main: the host runs init functions (through
// _initialize) before any entry point.
func Register(t sdk.ResourceType) {
	if t == nil {
		panic("sdk/wasm: Register(nil)")
	}
	if registered != nil {
		panic("sdk/wasm: Register called twice")
	}
	registered = t
}

// fail reports err to the host and returns its status.
func fail(err error) int32 {
	st, needed := abi.StatusOf(err)
	msg := err.Error()
	if len(msg) > abi.MaxMessage {
		msg = msg[:abi.MaxMessage]
	}
	hostSetErrorMessage(sp(msg))
	if st == abi.StatusMoreData {
		hostSetNeeded(uint32(needed))
	}
	return int32(st)
}

func status(err error) int32 {
	if err == nil {
		return int32(abi.StatusOK)
	}
	return fail(err)
}

// readInput reads the n bytes of the current call's input.
func readInput(n int32) ([]byte, error) {
	if n < 0 || n > abi.MaxPayload {
		return nil, fmt.Errorf("%w: input of %d bytes", sdk.ErrInvalidParameter, n)
	}
	buf := make([]byte, n)
	got := 0
	for got < len(buf) {
		c := hostInputRead(bp(buf[got:]))
		if c < 0 {
			return nil, hostError(c, "reading the input")
		}
		if c == 0 {
			break
		}
		got += int(c)
	}
	return buf[:got], nil
}

var errNoType = errors.New("sdk/wasm: no resource type: call wasm.Register from an init function of package main")

func lookup(h int32) (sdk.Resource, error) {
	r, ok := resources[h]
	if !ok {
		return nil, &abi.Error{Status: abi.StatusInvalidHandle, Msg: fmt.Sprintf("sdk/wasm: no resource with handle %d", h)}
	}
	return r, nil
}

//go:wasmexport resmon_abi_version
func exportABIVersion() int32 { return abi.Version }

//go:wasmexport resmon_open
func exportOpen(inLen int32) int32 {
	if registered == nil {
		return fail(errNoType)
	}
	in, err := readInput(inLen)
	if err != nil {
		return fail(err)
	}
	req, err := abi.DecodeOpen(in)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := callContext()
	defer cancel()
	r, err := registered.Open(ctx, &host{}, req)
	if err != nil {
		return fail(err)
	}
	if r == nil {
		return fail(errors.New("sdk/wasm: Open returned neither a resource nor an error"))
	}
	for {
		nextHandle++
		if nextHandle <= 0 {
			nextHandle = 1
		}
		if _, used := resources[nextHandle]; !used {
			break
		}
	}
	resources[nextHandle] = r
	return nextHandle
}

func entry(h int32, f func(context.Context, sdk.Resource) error) int32 {
	r, err := lookup(h)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := callContext()
	defer cancel()
	return status(f(ctx, r))
}

//go:wasmexport resmon_online
func exportOnline(h int32) int32 {
	return entry(h, func(ctx context.Context, r sdk.Resource) error { return r.Online(ctx) })
}

//go:wasmexport resmon_offline
func exportOffline(h int32) int32 {
	return entry(h, func(ctx context.Context, r sdk.Resource) error { return r.Offline(ctx) })
}

//go:wasmexport resmon_terminate
func exportTerminate(h int32) int32 {
	return entry(h, func(ctx context.Context, r sdk.Resource) error { return r.Terminate(ctx) })
}

func health(h int32, f func(context.Context, sdk.Resource) bool) int32 {
	r, err := lookup(h)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := callContext()
	defer cancel()
	if f(ctx, r) {
		return 1
	}
	return 0
}

//go:wasmexport resmon_looks_alive
func exportLooksAlive(h int32) int32 {
	return health(h, func(ctx context.Context, r sdk.Resource) bool { return r.LooksAlive(ctx) })
}

//go:wasmexport resmon_is_alive
func exportIsAlive(h int32) int32 {
	return health(h, func(ctx context.Context, r sdk.Resource) bool { return r.IsAlive(ctx) })
}

//go:wasmexport resmon_control
func exportControl(h int32, code uint32, inLen int32) int32 {
	r, err := lookup(h)
	if err != nil {
		return fail(err)
	}
	c, ok := r.(sdk.Controller)
	if !ok {
		return fail(fmt.Errorf("%w: %s (the resource handles no control codes)", sdk.ErrInvalidFunction, sdk.ControlCode(code)))
	}
	in, err := readInput(inLen)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := callContext()
	defer cancel()
	out, err := c.Control(ctx, sdk.ControlCode(code), in)
	if err != nil {
		return fail(err)
	}
	if len(out) > 0 {
		if st := hostOutputWrite(bp(out)); st < 0 {
			return fail(hostError(st, "writing the control output"))
		}
	}
	return int32(abi.StatusOK)
}

//go:wasmexport resmon_close
func exportClose(h int32) int32 {
	r, err := lookup(h)
	if err != nil {
		return fail(err)
	}
	delete(resources, h)
	ctx, cancel := callContext()
	defer cancel()
	return status(r.Close(ctx))
}
