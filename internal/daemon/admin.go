package daemon

import (
	"context"
	"crypto/tls"

	"github.com/resmon/resmon/admin"
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
	srv, err := admin.New(admin.Config{Node: n.cfg.Node.Name, Version: Version, Registry: n.registry, Log: n.log.Named("admin")})
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
