// Command applife-app is a stand-in application for tests of application
// fencing: it appends one line to the file named by its first argument,
// "start <pid> <unix nanos> <label...>", then runs until killed. Its end is
// seen from outside (testutil/applife watches it through a pidfd), so a
// SIGKILL is measured as exactly as a clean exit. It may start a child
// of its own, which records itself the same way: -child FILE LABEL...
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	child := len(args) > 0 && args[0] == "-child"
	if child {
		args = args[1:]
	}
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: applife-app [-child] FILE [LABEL...]")
		os.Exit(2)
	}
	label := strings.Join(args[1:], " ")
	if child {
		// A grandchild in a session of its own: only a cgroup (or the
		// tracker's session sweep, for what stays in the session) finds it.
		cmd := exec.Command(os.Args[0], append([]string{args[0]}, append(args[1:], "(grandchild)")...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	f, err := os.OpenFile(args[0], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// One write per line: writers on several nodes share the file.
	fmt.Fprintf(f, "start %d %d %s\n", os.Getpid(), time.Now().UnixNano(), label)
	f.Close()
	// Polite stops end at once too: the stop is what is measured.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
