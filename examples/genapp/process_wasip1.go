//go:build wasip1

package genapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm"
)

// The WASM build starts processes through the host, which runs only the
// type's allowed commands, in / with an empty environment, and sends their
// output to the node log. A guest has no network either.
func checkBuild(c *Config) *buildError {
	switch {
	case c.Dir != "":
		return &buildError{PropCurrentDirectory, "not available in the WASM build (the host starts commands in /); use the go-plugin build"}
	case len(c.Env) > 0:
		return &buildError{PropEnvironment, "not available in the WASM build (the host starts commands with an empty environment); use the go-plugin build"}
	case c.HealthTCP != "":
		return &buildError{PropHealthTCP, "not available in the WASM build (a guest has no network); use HealthCommand or the go-plugin build"}
	case c.HealthHTTP != "":
		return &buildError{PropHealthHTTP, "not available in the WASM build (a guest has no network); use HealthCommand or the go-plugin build"}
	}
	if _, ok := signals[c.StopSignal]; !ok {
		return &buildError{PropStopSignal, fmt.Sprintf("SIG%s is not one a WASM guest may send", c.StopSignal)}
	}
	return nil
}

var signals = map[string]wasm.Signal{
	"HUP": wasm.SIGHUP, "INT": wasm.SIGINT, "QUIT": wasm.SIGQUIT, "TERM": wasm.SIGTERM,
	"USR1": wasm.SIGUSR1, "USR2": wasm.SIGUSR2, "KILL": wasm.SIGKILL,
}

func probeNet(context.Context, *Config) error {
	return errors.New("network probes are not available in the WASM build")
}

// pollInterval is how often a wait asks the host about the process: the
// guest cannot block on the host, only sleep between questions.
const pollInterval = 10 * time.Millisecond

// hostProcess is a child the host runs for this resource.
type hostProcess struct {
	p       *wasm.Process
	running bool
	code    int
	stopped bool // Stop released the handle
}

func start(_ sdk.Host, args []string, _ *Config) (process, error) {
	p, err := wasm.StartProcess(args[0], args[1:]...)
	if err != nil {
		return nil, err
	}
	return &hostProcess{p: p, running: true}, nil
}

// refresh asks the host once; a process that cannot be asked about is
// taken for gone.
func (p *hostProcess) refresh() {
	if !p.running || p.stopped {
		return
	}
	running, code, err := p.p.Status()
	if err != nil {
		running, code = false, -1
	}
	p.running, p.code = running, code
}

func (p *hostProcess) Running() bool {
	p.refresh()
	return p.running
}

func (p *hostProcess) ExitCode() int {
	p.refresh()
	if p.running {
		return 0
	}
	return p.code
}

func (p *hostProcess) Signal(name string) error {
	sig, ok := signals[name]
	if !ok {
		return fmt.Errorf("SIG%s is not one a WASM guest may send", name)
	}
	if !p.Running() {
		return nil
	}
	if err := p.p.Signal(sig); err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return err // ErrNotFound: it exited just now
	}
	return nil
}

func (p *hostProcess) Wait(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for p.Running() {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false
		}
		time.Sleep(min(left, pollInterval))
	}
	return true
}

func (p *hostProcess) Kill(context.Context) error {
	if p.stopped {
		return nil
	}
	p.refresh()
	if p.running {
		p.code = -1 // the host reaps it without telling the status
	}
	p.stopped, p.running = true, false
	return p.p.Stop()
}
