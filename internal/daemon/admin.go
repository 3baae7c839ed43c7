package daemon

import (
	"context"
	"crypto/tls"
	"strconv"

	"github.com/resmon/resmon/admin"
	"github.com/resmon/resmon/quorum"
)

// startAdmin opens the node admin API on node.admin and serves the
// node-local registry on it until stop is called; stop waits for the server
// to finish (it must run before the registry is closed).
func (n *node) startAdmin(ctx context.Context) (stop func(), err error) {
	var tlsCfg *tls.Config
	if c := n.cfg.Node; c.AdminCert != "" {
		if tlsCfg, err = admin.ServerTLS(c.AdminCert, c.AdminKey, c.AdminCA); err != nil {
			return nil, err
		}
	}
	srv, err := admin.New(admin.Config{Node: n.cfg.Node.Name, Version: Version, Registry: n.registry, Log: n.log.Named("admin"),
		OnChange: n.adminChanged})
	if err != nil {
		return nil, err
	}
	ln, err := admin.Listen(n.cfg.Node.Admin, tlsCfg)
	if err != nil {
		return nil, err
	}
	n.log.Info("admin API listening", "address", n.cfg.Node.Admin, "mutual_tls", tlsCfg != nil)
	// The API outlives a SIGTERM while the node drains; stop ends it.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(sctx, ln); err != nil {
			n.log.Error("admin API stopped", "error", err)
		}
	}()
	return func() {
		cancel()
		<-done
		n.log.Info("admin API stopped")
	}, nil
}

// adminChanged records a change made through the admin API in the cluster
// event log, with the operator who made it (the node log has it already).
func (n *node) adminChanged(c admin.Change) {
	fields := map[string]string{"operator": c.Operator}
	if c.PID != 0 {
		fields["pid"] = strconv.Itoa(c.PID)
	}
	n.record(quorum.Event{Node: n.cfg.Node.Name, Kind: "admin." + c.Action, Subject: c.Key,
		Message: c.Message + " by " + c.Operator, Fields: fields, Operator: c.Operator})
}
