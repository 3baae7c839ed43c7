//go:build wasip1

package wasm

import (
	"fmt"

	"github.com/resmon/resmon/sdk/wasm/abi"
)

// Signal is a signal a guest may send to its child processes (Linux numbers).
type Signal int32

// Signals a guest may send; the host refuses others.
const (
	SIGHUP  Signal = abi.SIGHUP
	SIGINT  Signal = abi.SIGINT
	SIGQUIT Signal = abi.SIGQUIT
	SIGKILL Signal = abi.SIGKILL
	SIGUSR1 Signal = abi.SIGUSR1
	SIGUSR2 Signal = abi.SIGUSR2
	SIGTERM Signal = abi.SIGTERM
	SIGCONT Signal = abi.SIGCONT
	SIGSTOP Signal = abi.SIGSTOP
)

// Process is a child process the host runs for this resource. The host
// tracks it, and kills it (with its process group) when the resource is
// terminated or closed.
type Process struct {
	h    int32
	name string
}

// StartProcess asks the host to start command with args. command must be
// one of the type's allowed commands, exactly as configured (cluster.toml
// "commands"); anything else fails with an error matching
// sdk.ErrAccessDenied, and the host records the attempt. The child runs in
// a process group of its own, with an empty environment and / as its
// working directory; its stdout and stderr reach the node log line by line.
func StartProcess(command string, args ...string) (*Process, error) {
	a, err := abi.EncodeStrList(args)
	if err != nil {
		return nil, err
	}
	cp, cl := sp(command)
	ap, al := bp(a)
	h := hostProcStart(cp, cl, ap, al)
	if h < 0 {
		return nil, hostError(h, "starting "+command)
	}
	return &Process{h: h, name: command}, nil
}

// Signal sends sig to the process's group.
func (p *Process) Signal(sig Signal) error {
	return hostError(hostProcSignal(p.h, int32(sig)), fmt.Sprintf("signalling %s", p.name))
}

// Status reports whether the process still runs, and its exit code once it
// has exited (-1 when a signal ended it).
func (p *Process) Status() (running bool, exitCode int, err error) {
	var code int32
	st := hostProcStatus(p.h, &code)
	if st < 0 {
		return false, 0, hostError(st, "checking "+p.name)
	}
	return st == 1, int(code), nil
}

// Stop kills the process's group, waits for the process to exit and
// releases it; p cannot be used afterwards.
func (p *Process) Stop() error {
	return hostError(hostProcStop(p.h), "stopping "+p.name)
}
