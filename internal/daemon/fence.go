package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/internal/config"
	"github.com/resmon/resmon/internal/watchdog"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/proctrack"
	"github.com/resmon/resmon/quorum"
)

// Application-level fencing (DESIGN §9): the node's self-fencing deadline
// leaves clusterd at every renewal for everything that runs resource code
// outside it, and each enforces it on its own clock.

// KeeperCommand is the subcommand that runs the process keeper: `clusterd
// keeper`, started by clusterd itself (plugins/proctrack).
const KeeperCommand = "keeper"

// ProcsDir under data_dir holds the records of the processes resources
// started (plugins/proctrack).
const ProcsDir = "procs"

// keeperMain runs the keeper on standard input until clusterd is gone.
func keeperMain(args []string, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "clusterd keeper: unexpected argument %q (clusterd starts the keeper itself)\n", args[0])
		return 2
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "keeper", Output: stderr, Level: hclog.Info}).With("pid", os.Getpid())
	if err := proctrack.ServeKeeper(os.Stdin, log); err != nil {
		log.Error("keeper stopped", "error", err)
		return 1
	}
	return 0
}

// startTracking kills what a previous run left and starts the keeper.
func (n *node) startTracking(ctx context.Context) (stop func(), err error) {
	tr, err := proctrack.New(proctrack.Config{Dir: filepath.Join(n.cfg.Node.DataDir, ProcsDir), Node: n.cfg.Node.Name, Log: n.log.Named("procs")})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = tr.Setup(sctx)
	cancel()
	if err != nil {
		return nil, err
	}
	// /proc/self/exe is this very binary, even if the file was replaced
	// on disk since clusterd started.
	if err := tr.StartKeeper(ctx, []string{"/proc/self/exe", KeeperCommand}, os.Stderr); err != nil {
		return nil, err
	}
	n.tracker = tr
	return func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tr.Close(cctx); err != nil {
			n.log.Warn("stopping the process keeper", "error", err)
		}
	}, nil
}

// deadline hands a new self-fencing deadline to the plugin hosts and the
// keeper (quorum.MemberConfig.OnDeadline). It never blocks.
func (n *node) deadline(d time.Time) {
	for _, drv := range n.drivers {
		if dl, ok := drv.(plugins.Deadliner); ok {
			dl.SetDeadline(d)
		}
	}
	if n.tracker != nil {
		n.tracker.SetDeadline(d)
	}
	if w := n.watchdog; w != nil && w.Armed() {
		if _, err := w.Pet(d); err != nil {
			n.log.Error("petting the machine watchdog", "error", err)
		}
	}
}

// watchdogRetry is how long a node whose required watchdog cannot be armed
// waits before it joins and tries again.
const watchdogRetry = 5 * time.Second

// newWatchdog prepares the configured machine watchdog (no I/O).
func (n *node) newWatchdog() error {
	nc := n.cfg.Node
	if nc.Watchdog == "" {
		return nil
	}
	w, err := watchdog.New(watchdog.Config{Device: nc.Watchdog, Timeout: nc.WatchdogTimeout.D(), Log: n.log.Named("watchdog")})
	if err != nil {
		return fmt.Errorf("%s: node.watchdog: %w", n.cfg.File, err)
	}
	n.watchdog = w
	return nil
}

// armWatchdog arms the watchdog once the node has joined and before its
// monitor may acquire a group, and pets it with the membership's first
// deadline. It fails only in required mode, when the watchdog cannot be
// armed: the node must then own no group.
func (n *node) armWatchdog(m *quorum.Member) error {
	w := n.watchdog
	if w == nil {
		return nil
	}
	required := n.cfg.Node.WatchdogMode == config.WatchdogRequired
	if !w.Armed() {
		err := w.Arm()
		switch {
		case err == nil:
		case errors.Is(err, watchdog.ErrNotWatchdog) && w.Armed() && !required:
			n.log.Warn("node.watchdog is not a kernel watchdog: it is petted, but it cannot reset the machine", "file", n.cfg.File, "error", err)
		case required:
			if w.Armed() {
				_ = w.Disarm()
			}
			n.log.Error("refusing to own groups: node.watchdog_mode is required and the watchdog cannot be armed",
				"file", n.cfg.File, "device", n.cfg.Node.Watchdog, "error", err, "retry_in", watchdogRetry)
			n.event("node.watchdog", n.cfg.Node.Name, fmt.Sprintf("required watchdog %s cannot be armed; the node owns no group: %v", n.cfg.Node.Watchdog, err))
			return fmt.Errorf("%s: node.watchdog %s: %w", n.cfg.File, n.cfg.Node.Watchdog, err)
		default:
			n.log.Warn("running without the machine watchdog: it cannot be armed (node.watchdog_mode is optional)",
				"file", n.cfg.File, "device", n.cfg.Node.Watchdog, "error", err)
			return nil // tried again at the next join
		}
	}
	if _, err := w.Pet(m.Deadline()); err != nil {
		n.log.Error("petting the machine watchdog", "error", err)
	}
	return nil
}

// disarmWatchdog stops the watchdog at a clean exit of clusterd.
func (n *node) disarmWatchdog() {
	if w := n.watchdog; w != nil && w.Armed() {
		if err := w.Disarm(); err != nil {
			n.log.Warn("disarming the machine watchdog", "error", err)
		}
	}
}
