package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/proctrack"
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
}
