// Package cli is `cluster`, the admin command line: it reads and changes the
// cluster through etcd (and, for node-local things, through a node's admin
// API). Output is a table for people or JSON (-o json) for scripts, and the
// exit codes are stable: see the Exit* constants.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resmon/resmon/admin"
	"github.com/resmon/resmon/internal/config"
	"github.com/resmon/resmon/internal/ops"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/pki"
	"github.com/resmon/resmon/quorum"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Exit codes.
const (
	ExitOK          = 0 // success
	ExitFailed      = 1 // the operation failed
	ExitUsage       = 2 // bad command line
	ExitNotFound    = 3 // a named node, group, resource or type does not exist
	ExitUnreachable = 4 // etcd (or the node) could not be reached
)

// usageError marks a command-line mistake.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// env is what every command gets.
type env struct {
	out, err io.Writer
	json     bool
	timeout  time.Duration
	store    *quorum.Store
	cli      *clientv3.Client
	cfg      *config.Config

	// How to reach etcd, for commands that connect only when they need to.
	cfgPath, endpoints, cluster string
	output                      string
	// exe is a line of cluster.exe syntax to run (see Main).
	exe *exeLine
	// Whose credentials: an operator of the config's PKI, or files.
	operatorName, cacert, cert, key string
	// identity is who etcd knows this CLI as (see operator), recorded with
	// its changes.
	identity string
}

func (e *env) close() {
	if e.cli != nil {
		e.cli.Close()
	}
}

// report prints err (if any) and maps it to an exit code.
func report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(w, "cluster: %s\n", escapeMessage(err.Error()))
	if errors.Is(err, rpctypes.ErrPermissionDenied) {
		fmt.Fprintln(w, "cluster: etcd refused this operator the change: a viewer's certificate may only read (act as an admin with -operator NAME)")
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, quorum.ErrNotFound), errors.Is(err, admin.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, quorum.ErrUnreachable), errors.Is(err, admin.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return ExitUnreachable
	}
	return ExitFailed
}

// ErrNoConfig reports that no configuration file was given or found.
var ErrNoConfig = errors.New("cli: no configuration file")

// loadConfig reads the configuration the CLI was pointed at (see
// findConfig).
func (e *env) loadConfig() (*config.Config, error) {
	if e.cfgPath == "" {
		return nil, fmt.Errorf("%w: give --config FILE, set $%s, or put one at %s", ErrNoConfig, envConfig, strings.Join(defaultConfigs, " or "))
	}
	return config.Load(e.cfgPath)
}

// DefaultOperator is the operator the CLI acts as unless told otherwise:
// the one a single node makes for its administrator.
const DefaultOperator = "admin"

// connect reaches etcd (once) as -config, -endpoints, -cluster and the
// credential flags say: by default as the operator -operator of the
// config's PKI.
func (e *env) connect(ctx context.Context) error {
	if e.store != nil {
		return nil
	}
	cc, name, err := e.clientConfig()
	if err != nil {
		return err
	}
	cli, err := quorum.Connect(ctx, cc)
	if err != nil {
		return err
	}
	s, err := quorum.NewStore(cli, name, nil)
	if err != nil {
		cli.Close()
		return err
	}
	e.cli, e.store = cli, s
	e.identity = operatorIdentity(cc)
	return nil
}

// clientConfig works out how to reach etcd and the cluster's name.
func (e *env) clientConfig() (quorum.ClientConfig, string, error) {
	var cc quorum.ClientConfig
	name := "resmon"
	if cfg, err := e.loadConfig(); err == nil {
		e.cfg = cfg
		name = cfg.Cluster.Name
		if cc, err = cfg.OperatorClientConfig(e.operatorName); err != nil {
			return cc, "", err
		}
	} else if e.endpoints == "" {
		return cc, "", fmt.Errorf("no etcd to talk to: %w (or give --endpoints)", err)
	}
	if e.endpoints != "" {
		cc.Endpoints = strings.Split(e.endpoints, ",")
	}
	if e.cluster != "" {
		name = e.cluster
	}
	if e.cacert != "" {
		cc.CAFile = e.cacert
	}
	if e.cert != "" || e.key != "" {
		cc.CertFile, cc.KeyFile = e.cert, e.key
	}
	if cc.CertFile != "" && e.cert == "" {
		if _, err := os.Stat(cc.CertFile); err != nil {
			return cc, "", fmt.Errorf("no certificate for operator %q: %w (act as another with -operator NAME, or give -cert and -key; `cluster pki issue operator NAME` makes one)", e.operatorName, err)
		}
	}
	cc.Prefix = quorum.NewKeys(name).Prefix()
	cc.DialTimeout = min(e.timeout, 5*time.Second)
	return cc, name, nil
}

// operatorIdentity names who etcd admits with cc: its user name, or the
// common name of its certificate; "" for a plaintext client without a
// user (see operator).
func operatorIdentity(cc quorum.ClientConfig) string {
	if cc.Username != "" {
		return cc.Username
	}
	if cc.CertFile != "" {
		if certs, err := pki.LoadCertificates(cc.CertFile); err == nil {
			return certs[0].Subject.CommonName
		}
	}
	return ""
}

// session is the operator this CLI acts as, on the cluster it reached: the
// views and actions it shares with the web console (package ops). A change
// made but not recorded in the event log is a warning, not an error.
func (e *env) session() ops.Session {
	return ops.Session{Store: e.store, Etcd: e.cli, Operator: e.operator(), Warn: func(err error) {
		fmt.Fprintf(e.err, "cluster: warning: %v\n", err)
	}}
}

// record writes a change this CLI made to the event log, with the operator
// who made it (ops.Session.Record).
func (e *env) record(ctx context.Context, kind, subject, msg string, fields map[string]string) {
	e.session().Record(ctx, kind, subject, msg, fields)
}

// opsError turns a request ops refused as malformed (ops.ErrUsage) into the
// CLI's usage error, worded without the package's prefix; other errors pass.
func opsError(err error) error {
	if err != nil && errors.Is(err, ops.ErrUsage) {
		return usageError{strings.TrimPrefix(err.Error(), ops.ErrUsage.Error()+": ")}
	}
	return err
}

// emit writes v as JSON, or calls table to print it for people.
func (e *env) emit(v any, table func(w *tabwriter.Writer)) error {
	if e.json {
		enc := json.NewEncoder(jsonWriter{e.out})
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", usagef("expected one %s, got %d arguments", what, len(args))
	}
	return args[0], nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdResource(ctx context.Context, e *env, args []string) error {
	name := args[0]
	r, err := e.store.ResourceByName(ctx, name)
	if err != nil {
		return err
	}
	v := r.Value
	// The record, and where the resource runs now, as its owner published it.
	out := struct {
		model.Resource
		Status *model.ResourceStatus `json:"status,omitempty"`
	}{Resource: v}
	if sts, err := e.store.ResourceStatuses(ctx); err == nil {
		if st, ok := sts[v.ID]; ok {
			out.Status = &st
		}
	}
	return e.emit(out, func(w *tabwriter.Writer) {
		p := v.Properties
		printf(w, "Resource\t%s\nID\t%s\nType\t%s\nGroup\t%s\n", v.Name, v.ID, v.Type, v.Group)
		if st := out.Status; st != nil {
			printf(w, "State\t%s (%d)\nNode\t%s\nFencing token\t%d\nRestarts\t%d\n", st.State, st.Code, st.Node, st.Token, st.Restarts)
			if st.Error != "" {
				printf(w, "Last error\t%s\n", st.Error)
			}
		} else {
			printf(w, "State\t-\n")
		}
		printf(w, "Dependencies\t%s\nPossible owners\t%s\n", deps(v.Dependencies), orDash(strings.Join(v.PossibleOwners, ", ")))
		printf(w, "Registry checkpoints\t%s\nCrypto checkpoints\t%s\n", orDash(strings.Join(v.RegistryCheckpoints, ", ")), orDash(strings.Join(v.CryptoCheckpoints, ", ")))
		printf(w, "PendingTimeout\t%s\nRestartAction\t%d\nRestartThreshold\t%d\nRestartPeriod\t%s\nRestartDelay\t%s\n",
			p.PendingTimeout, p.RestartAction, p.RestartThreshold, p.RestartPeriod, p.RestartDelay)
		printf(w, "LooksAlivePollInterval\t%s\nIsAlivePollInterval\t%s\nRetryPeriodOnFailure\t%s\nSeparateMonitor\t%v\nDeadlockTimeout\t%s\n",
			p.LooksAlivePollInterval, p.IsAlivePollInterval, p.RetryPeriodOnFailure, p.SeparateMonitor, p.DeadlockTimeout)
	})
}

func deps(d [][]string) string {
	if len(d) == 0 {
		return "-"
	}
	parts := make([]string, len(d))
	for i, or := range d {
		parts[i] = strings.Join(or, " or ")
		if len(or) > 1 {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, " and ")
}

func cmdTypes(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return usagef("types takes no arguments")
	}
	ts, err := e.store.Types(ctx)
	if err != nil {
		return err
	}
	list := make([]model.ResourceType, len(ts))
	for i, t := range ts {
		list[i] = t.Value
	}
	return e.emit(list, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "Type\tKind\tPath\tSHA256")
		for _, t := range list {
			printf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Kind, t.Path, orDash(t.SHA256))
		}
	})
}

// eventsFlags are the flags of `cluster events`.
type eventsFlags struct {
	since  time.Duration
	follow bool
}

func cmdEvents(ctx context.Context, e *env, f eventsFlags) error {
	since, follow := &f.since, &f.follow
	var from time.Time
	if *since > 0 {
		from = time.Now().Add(-*since)
	}
	print := func(ev quorum.Event) error {
		if e.json {
			return json.NewEncoder(jsonWriter{e.out}).Encode(ev) // one object a line, for streaming
		}
		msg := ev.Message
		if ev.Operator != "" {
			msg += " [operator " + ev.Operator + "]"
		}
		_, err := fmt.Fprint(e.out, sprintf("%s  %-8s %-20s %-24s %s\n", ev.Time.Local().Format("2006-01-02 15:04:05.000"), orDash(ev.Node), ev.Kind, ev.Subject, msg))
		return err
	}
	var watch <-chan quorum.Event
	if *follow {
		// Watch before reading the history so nothing falls in between;
		// the follow outlives the command timeout.
		fctx, stop := signalContext()
		defer stop()
		watch = e.store.WatchEvents(fctx)
	}
	evs, err := e.store.Events(ctx, from, 0)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[eventID(ev)] = true
		if err := print(ev); err != nil {
			return err
		}
	}
	if watch == nil {
		return nil
	}
	for ev := range watch {
		if seen[eventID(ev)] {
			continue
		}
		if err := print(ev); err != nil {
			return err
		}
	}
	return nil
}

func eventID(e quorum.Event) string {
	return fmt.Sprintf("%d|%s|%s|%s", e.Time.UnixNano(), e.Node, e.Kind, e.Subject)
}

func cmdBackup(ctx context.Context, e *env, args []string) error {
	dir, err := oneArg(args, "backup directory")
	if err != nil {
		return err
	}
	info, err := e.store.Backup(ctx, dir)
	if err != nil {
		return err
	}
	if e.json {
		return e.emit(info, nil)
	}
	printf(e.out, "Backed up cluster %q at revision %d into %s: %d database keys, %d checkpoints.\n",
		info.Cluster, info.Revision, dir, info.DBKeys, len(info.Checkpoints))
	for _, s := range info.Skipped {
		printf(e.out, "WARNING: checkpoint %s was corrupt and is not in the backup: %s\n", s.Key, s.Reason)
	}
	return nil
}

func cmdRestore(ctx context.Context, e *env, dir string, force bool) error {
	info, err := e.store.Restore(ctx, dir, force)
	if err != nil {
		return err
	}
	e.record(ctx, "cluster.restore", e.store.Keys().Prefix(), fmt.Sprintf("restored %s: %d database keys, %d checkpoints", dir, info.DBKeys, len(info.Checkpoints)), nil)
	if e.json {
		return e.emit(info, nil)
	}
	printf(e.out, "Restored %s: %d database keys, %d checkpoints.\n", dir, info.DBKeys, len(info.Checkpoints))
	if len(info.Checkpoints) > 0 {
		printf(e.out, "WARNING: the %d restored checkpoints hold the registry as it was at %s and may be stale.\n"+
			"Re-create them from the owners' registries with: cluster checkpoint recover --all\n",
			len(info.Checkpoints), info.BackupTime.Local().Format(time.RFC3339))
	}
	for _, m := range info.Missing {
		printf(e.out, "WARNING: checkpoint %s was not in the backup (corrupt when backed up): %s\n", m.Key, m.Reason)
	}
	return nil
}
