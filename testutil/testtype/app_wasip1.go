//go:build wasip1

package testtype

import "github.com/resmon/resmon/sdk/wasm"

// wasmApp is the application a WASM build runs: started by the host from
// the type's granted commands.
type wasmApp struct{ p *wasm.Process }

func startApp(command string, args ...string) (app, error) {
	p, err := wasm.StartProcess(command, args...)
	if err != nil {
		return nil, err
	}
	return &wasmApp{p: p}, nil
}

func (a *wasmApp) stop() { _ = a.p.Stop() }
