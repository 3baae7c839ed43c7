package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/resmon/resmon/admin"
	"github.com/resmon/resmon/checkpoint"
	"github.com/resmon/resmon/checkpoint/registry"
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
		OnChange: n.adminChanged, Checkpointed: n.checkpointedElsewhere})
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

// checkpointedElsewhere warns about registry changes under a checkpoint of a
// resource that is not online on this node: when it next comes online (here
// or on any node) its checkpoint replaces the subtree, and the change is
// gone (rule 2 of RULES.md). The change itself is made; the operator must
// know.
func (n *node) checkpointedElsewhere(ctx context.Context, keys []string) []string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	all, err := n.store.Resources(ctx)
	if err != nil {
		return []string{fmt.Sprintf("whether a checkpoint covers this change could not be checked: %v", err)}
	}
	folded := make([]string, 0, len(keys))
	for _, k := range keys {
		if p, err := registry.ParsePath(k); err == nil {
			folded = append(folded, registry.Fold(p))
		}
	}
	var out []string
	for _, rv := range all {
		r := rv.Value
		if n.hosted.Online(r.ID) {
			continue
		}
		for _, cp := range r.RegistryCheckpoints {
			p, err := registry.ParsePath(cp)
			if err != nil {
				continue
			}
			fp := registry.Fold(p)
			for _, k := range folded {
				if k == fp || strings.HasPrefix(k, fp+`\`) || strings.HasPrefix(fp, k+`\`) {
					out = append(out, fmt.Sprintf("%s is checkpointed by resource %q, which is not online on this node: its checkpoint replaces the subtree when it next comes online, here or on another node, and this change is lost then; make the change on the node where it runs (or recover its checkpoint from this node's registry with %s)",
						p, r.Name, checkpoint.RecoverCommand(r.Name)))
					break
				}
			}
		}
	}
	return out
}
