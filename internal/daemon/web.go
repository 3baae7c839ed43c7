package daemon

import (
	"context"

	"github.com/resmon/resmon/internal/web"
)

// startWeb serves the web console on [web] listen until stop is called.
func (n *node) startWeb(ctx context.Context) (stop func(), err error) {
	c := n.cfg.Web
	tlsCfg, err := web.ServerTLS(c.CertFile, c.KeyFile, c.ClientCA)
	if err != nil {
		return nil, err
	}
	srv, err := web.New(web.Config{Node: n.cfg.Node.Name, Store: n.store, Etcd: n.cli, SessionTTL: c.SessionTTL.D(), Log: n.log.Named("web")})
	if err != nil {
		return nil, err
	}
	ln, err := web.Listen(c.Listen, tlsCfg)
	if err != nil {
		return nil, err
	}
	n.log.Info("web console listening", "address", "https://"+ln.Addr().String())
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(sctx, ln); err != nil {
			n.log.Error("web console stopped", "error", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
