package cli

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/resmon/resmon/internal/config"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"github.com/spf13/cobra"
)

// `cluster web login`: a one-time code that opens a web console session
// (internal/web), for a browser without an operator certificate. The code
// is stored in etcd by its hash, with a lease; any node's console takes it
// once. Only an operator who may change the cluster (an admin) can issue
// one.

// maxLoginValidity bounds how long a login code waits to be used.
const maxLoginValidity = time.Hour

type webLoginFlags struct {
	role  string
	as    string
	valid time.Duration
}

func webCommand(e *env) *cobra.Command {
	c := &cobra.Command{Use: "web", Short: "the web console: log in to it"}
	var f webLoginFlags
	login := leaf(e, "login", "print a one-time code (and address) that opens a console session", noArgs,
		func(ctx context.Context, e *env, _ []string) error { return cmdWebLogin(ctx, e, f) })
	login.Flags().StringVar(&f.role, "role", pki.RoleAdmin, "the session's role: admin (may act) or viewer (may only look)")
	login.Flags().StringVar(&f.as, "as", "", "the operator name the session acts as (default: yours)")
	login.Flags().DurationVar(&f.valid, "valid", 10*time.Minute, "how long the code may wait to be used (at most 1h)")
	c.AddCommand(login)
	return c
}

func cmdWebLogin(ctx context.Context, e *env, f webLoginFlags) error {
	if f.role != pki.RoleAdmin && f.role != pki.RoleViewer {
		return usagef("web login: --role must be admin or viewer, not %q", f.role)
	}
	if f.valid <= 0 || f.valid > maxLoginValidity {
		return usagef("web login: --valid must be between 1s and %s", maxLoginValidity)
	}
	name := f.as
	if name == "" {
		name = e.operator()
	}
	if err := model.ValidName(name); err != nil && f.as != "" {
		return usagef("web login: --as %v", err)
	}
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	code := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	l := quorum.WebLogin{Operator: name, Role: f.role, IssuedBy: e.operator()}
	if err := e.store.PutWebLogin(ctx, code, l, f.valid); err != nil {
		return fmt.Errorf("issuing a web login code (only an admin may): %w", err)
	}
	e.record(ctx, "web.code", name, fmt.Sprintf("web console login code issued for %s as %s, valid %s", name, f.role, f.valid), nil)
	addr := webAddress(e.cfg)
	if e.json {
		out := map[string]any{"code": code, "operator": name, "role": f.role, "valid": f.valid.String()}
		if addr != "" {
			out["url"] = addr + "/login?code=" + url.QueryEscape(code)
		}
		return e.emit(out, nil)
	}
	printf(e.out, "Login code for %s (%s), valid once within %s:\n\n  %s\n\n", name, f.role, f.valid, code)
	if addr != "" {
		printf(e.out, "Open %s/login?code=%s\n", addr, code)
	} else {
		printf(e.out, "Enter it on the console's login page (the node's [web] listen address).\n")
	}
	return nil
}

// webAddress is the console of the configured node, "" when it has none.
func webAddress(cfg *config.Config) string {
	if cfg == nil || cfg.Web.Listen == "" {
		return ""
	}
	return "https://" + cfg.Web.Listen
}
