package cli

import (
	"context"
	"os/signal"
	"syscall"
)

// signalContext ends on SIGINT or SIGTERM, for commands that follow a stream.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}
