package daemon

import (
	"context"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// systemd's notify protocol (Type=notify): READY=1 once the node has
// joined the cluster, STOPPING=1 when it starts to drain, STATUS= lines on
// the way, and WATCHDOG=1 while its lease is confirmed, so that a node
// whose membership is stuck is restarted by systemd. Outside systemd
// ($NOTIFY_SOCKET unset) every call does nothing.

func (n *node) notify(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		n.log.Debug("sd_notify", "state", state, "error", err)
	}
}

// systemdWatchdog pets systemd's watchdog at half its interval while the lease
// is confirmed, until ctx ends.
func (n *node) systemdWatchdog(ctx context.Context) {
	every, err := sd.SdWatchdogEnabled(false)
	if err != nil || every <= 0 {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n.health.confirmed() {
				n.notify(sd.SdNotifyWatchdog)
			}
		}
	}
}
