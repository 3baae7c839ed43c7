//go:build !wasip1

package testtype

import (
	"os/exec"
	"syscall"
)

// osApp is the application a go-plugin build runs: a child process in a
// process group of its own.
type osApp struct{ cmd *exec.Cmd }

func startApp(command string, args ...string) (app, error) {
	cmd := exec.Command(command, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go cmd.Wait()
	return &osApp{cmd: cmd}, nil
}

func (a *osApp) stop() {
	_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
}
