package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// Changing the cluster database: `cluster resource create|delete` and
// `cluster resource NAME set`. Every change is one write that names the
// revision the record was read at, so a concurrent change is never lost.

// createFlags are the flags of `cluster resource create`.
type createFlags struct {
	typ, group, depends string
	props, private      []string
}

// cmdResourceCreate is `cluster resource create NAME -type T -group G
// [-dependencies 'A,B;C'] [-prop KEY=VALUE ...] [-private KEY=VALUE ...]`.
// The common properties start from the type's defaults.
func cmdResourceCreate(ctx context.Context, e *env, name string, cf createFlags) error {
	typ, group, depends, props, private := &cf.typ, &cf.group, &cf.depends, cf.props, cf.private
	if err := model.ValidName(name); err != nil {
		return usagef("resource create: name %v", err)
	}
	if *typ == "" || *group == "" {
		return usagef("resource create %q: -type and -group are required", name)
	}
	t, err := e.store.Type(ctx, *typ)
	if err != nil {
		return err
	}
	g, err := e.session().GroupByName(ctx, *group)
	if err != nil {
		return err
	}
	r := model.Resource{Name: name, Type: t.Value.Name, Group: g.Name, Properties: t.Value.Defaults}
	if *depends != "" {
		props = append(props, "dependencies="+*depends)
	}
	if err := applySettings(&r, props, private); err != nil {
		return err
	}
	if err := e.checkPrivate(ctx, &r, private); err != nil {
		return err
	}
	if err := e.checkDependencies(ctx, r); err != nil {
		return err
	}
	created, err := e.store.CreateResource(ctx, r)
	if err != nil {
		return err
	}
	e.record(ctx, "resource.create", created.Name, fmt.Sprintf("created in group %s, type %s", created.Group, created.Type), map[string]string{"resource": created.ID})
	if e.json {
		return e.emit(created, nil)
	}
	printf(e.out, "Created resource '%s' (%s) of type '%s' in group '%s'.\n", created.Name, created.ID, created.Type, created.Group)
	return nil
}

// cmdResourceDelete is `cluster resource delete NAME [-force]`. A resource
// that is online, or that others depend on, is refused: deleting it would
// pull it from under a running application. -force lifts the first check
// only (the owner closes a deleted resource); a dependent must be changed
// or deleted first whatever the flags.
func cmdResourceDelete(ctx context.Context, e *env, name string, forceFlag bool) error {
	force := &forceFlag
	r, err := e.store.ResourceByName(ctx, name)
	if err != nil {
		return err
	}
	res := r.Value
	if err := e.checkNoDependents(ctx, res); err != nil {
		return err
	}
	st, _, err := e.store.ReadResourceStatus(ctx, res.ID)
	if err != nil {
		return err
	}
	if !*force && st.State != "" && st.State != "Offline" && st.State != "Failed" {
		return fmt.Errorf("resource '%s' is %s on %s: take it offline first (cluster resource %q offline), or delete it with -force", res.Name, st.State, orDash(st.Node), res.Name)
	}
	cps, err := e.store.ListCheckpoints(ctx, res.ID)
	if err != nil {
		return err
	}
	if err := e.store.DeleteResource(ctx, res.ID); err != nil {
		return err
	}
	e.record(ctx, "resource.delete", res.Name, fmt.Sprintf("deleted with its %d checkpoints", len(cps)), map[string]string{"resource": res.ID})
	if e.json {
		return e.emit(map[string]any{"deleted": res, "checkpoints": len(cps)}, nil)
	}
	printf(e.out, "Deleted resource '%s' (%s) and its %d checkpoints; the nodes' local registries keep their keys.\n", res.Name, res.ID, len(cps))
	return nil
}

// checkNoDependents refuses to delete a resource another one depends on.
func (e *env) checkNoDependents(ctx context.Context, res model.Resource) error {
	rs, err := e.store.Resources(ctx)
	if err != nil {
		return err
	}
	for _, other := range rs {
		for _, or := range other.Value.Dependencies {
			for _, d := range or {
				if strings.EqualFold(d, res.Name) && other.Value.Group == res.Group {
					return fmt.Errorf("resource '%s' depends on '%s': change its dependencies or delete it first", other.Value.Name, res.Name)
				}
			}
		}
	}
	return nil
}

// checkDependencies checks that every dependency names another resource of
// the same group (the monitor orders online and offline by them).
func (e *env) checkDependencies(ctx context.Context, r model.Resource) error {
	if len(r.Dependencies) == 0 {
		return nil
	}
	rs, err := e.store.Resources(ctx)
	if err != nil {
		return err
	}
	inGroup := map[string]bool{}
	for _, other := range rs {
		if other.Value.Group == r.Group && other.Value.ID != r.ID {
			inGroup[strings.ToLower(other.Value.Name)] = true
		}
	}
	for _, or := range r.Dependencies {
		for _, d := range or {
			if !inGroup[strings.ToLower(d)] {
				return fmt.Errorf("dependencies: %q is not another resource of group %q; nothing changed", d, r.Group)
			}
		}
	}
	return nil
}

// cmdResourceSet is `cluster resource NAME set KEY=VALUE ... [-private KEY=VALUE ...]`.
// Every value is checked before anything is written; a concurrent change
// of the record makes it read and apply again (the settings do not depend
// on the old values).
func cmdResourceSet(ctx context.Context, e *env, name string, props, private []string) error {
	if len(props) == 0 && len(private) == 0 {
		return usagef("resource %q set: give at least one KEY=VALUE", name)
	}
	for _, kv := range append(append([]string{}, props...), private...) {
		if !strings.Contains(kv, "=") {
			return usagef("resource %q set: %q is not KEY=VALUE", name, kv)
		}
	}
	const attempts = 3
	for i := 1; ; i++ {
		r, err := e.store.ResourceByName(ctx, name)
		if err != nil {
			return err
		}
		res := r.Value
		if err := applySettings(&res, props, private); err != nil {
			return err
		}
		if err := e.checkPrivate(ctx, &res, private); err != nil {
			return err
		}
		if err := e.checkDependencies(ctx, res); err != nil {
			return err
		}
		err = e.store.UpdateResource(ctx, res, r.ModRevision)
		if errors.Is(err, quorum.ErrConflict) && i < attempts {
			continue
		}
		if err != nil {
			return err
		}
		e.record(ctx, "resource.set", res.Name, "set "+strings.Join(settingKeys(props, private), ", "), map[string]string{"resource": res.ID})
		if e.json {
			return e.emit(res, nil)
		}
		printf(e.out, "Set %d properties of resource '%s'.\n", len(props)+len(private), res.Name)
		if len(private) > 0 {
			st, _, err := e.store.ReadResourceStatus(ctx, res.ID)
			switch {
			case err == nil && st.State == "Online":
				printf(e.out, "Private properties apply at its next Online (its type opens it again then); it is Online on %s now: take it offline and online, or move its group, to apply them.\n", st.Node)
			default:
				printf(e.out, "Private properties apply at its next Online (its type opens it again then).\n")
			}
		}
		return nil
	}
}

// applySettings applies KEY=VALUE settings of common properties (and
// dependencies, possible owners) and of private ones to r, then validates
// the whole record. An error names the key; r is then half-changed and must
// not be written.
func applySettings(r *model.Resource, props, private []string) error {
	for _, kv := range props {
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			return usagef("%q is not KEY=VALUE", kv)
		}
		err := setProperty(r, strings.ToLower(strings.TrimSpace(key)), value)
		if errors.Is(err, errUnknownProperty) {
			return usagef("%s: %v", key, err)
		}
		if err != nil {
			return fmt.Errorf("%s: %w; nothing changed", key, err)
		}
	}
	for _, kv := range private {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(key) == "" {
			return usagef("-private %q is not KEY=VALUE", kv)
		}
		if err := setPrivate(r, key, value); err != nil {
			return fmt.Errorf("-private %s: %w; nothing changed", key, err)
		}
	}
	if err := quorum.ValidateResource(*r); err != nil {
		return fmt.Errorf("%w; nothing changed", err)
	}
	return nil
}

// errUnknownProperty reports a key that is not a common property.
var errUnknownProperty = errors.New("not a common property (pending_timeout, restart_action, restart_threshold, restart_period, restart_delay, " +
	"looks_alive_poll_interval, is_alive_poll_interval, retry_period_on_failure, separate_monitor, deadlock_timeout, possible_owners, dependencies; " +
	"private properties go with -private)")

// setProperty sets one common property from its text. Durations follow the
// rules of cluster.toml: Go duration strings, greater than 0 except
// restart_delay, which may be 0.
func setProperty(r *model.Resource, key, value string) error {
	p := &r.Properties
	durations := map[string]*model.Duration{
		"pending_timeout": &p.PendingTimeout, "restart_period": &p.RestartPeriod, "restart_delay": &p.RestartDelay,
		"looks_alive_poll_interval": &p.LooksAlivePollInterval, "is_alive_poll_interval": &p.IsAlivePollInterval,
		"retry_period_on_failure": &p.RetryPeriodOnFailure, "deadlock_timeout": &p.DeadlockTimeout,
	}
	if d, ok := durations[key]; ok {
		var v model.Duration
		if err := v.UnmarshalText([]byte(value)); err != nil {
			return err
		}
		if v == 0 && key != "restart_delay" {
			return fmt.Errorf("must be greater than 0")
		}
		*d = v
		return nil
	}
	switch key {
	case "restart_action", "restart_threshold":
		n, err := strconv.Atoi(value)
		switch {
		case err != nil:
			return fmt.Errorf("%q is not a whole number", value)
		case key == "restart_threshold" && n < 0:
			return fmt.Errorf("must not be negative, got %d", n)
		case key == "restart_action" && (n < model.RestartNone || n > model.RestartThenFailover):
			return fmt.Errorf("must be 0 (no restart), 1 (restart only) or 2 (restart, then fail the group over), got %d", n)
		case key == "restart_action":
			p.RestartAction = n
		default:
			p.RestartThreshold = n
		}
	case "separate_monitor":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%q is not true or false", value)
		}
		p.SeparateMonitor = b
	case "possible_owners":
		owners := splitList(value, ",")
		if slices.Contains(owners, "") {
			return fmt.Errorf("%q has an empty node name", value)
		}
		for _, o := range owners {
			if err := model.ValidName(o); err != nil {
				return fmt.Errorf("node name %w", err)
			}
		}
		r.PossibleOwners = owners
	case "dependencies":
		deps, err := parseDependencies(value)
		if err != nil {
			return err
		}
		r.Dependencies = deps
	default:
		return errUnknownProperty
	}
	return nil
}

// parseDependencies reads 'A,B;C': the resources separated by ';' are all
// needed, those separated by ',' are alternatives — (A or B) and C. An
// empty value removes every dependency.
func parseDependencies(s string) ([][]string, error) {
	var deps [][]string
	for _, part := range splitList(s, ";") {
		or := splitList(part, ",")
		if len(or) == 0 || slices.Contains(or, "") {
			return nil, fmt.Errorf("%q has an empty resource name", s)
		}
		for _, name := range or {
			if err := model.ValidName(name); err != nil {
				return nil, fmt.Errorf("resource name %w", err)
			}
		}
		deps = append(deps, or)
	}
	return deps, nil
}

// splitList splits s at sep and trims spaces; an empty s is an empty list,
// and an empty item is kept as "" for the caller to refuse.
func splitList(s, sep string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, sep)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// setPrivate sets a private property (see parsePrivate); an empty value
// removes it.
func setPrivate(r *model.Resource, key, value string) error {
	if value == "" {
		delete(r.Private, key)
		return nil
	}
	v, err := parsePrivate(value)
	if err != nil {
		return err
	}
	if r.Private == nil {
		r.Private = map[string]any{}
	}
	r.Private[key] = v
	return nil
}

// settingKeys names the keys of KEY=VALUE settings, private ones as
// private.KEY: the event log records which properties changed, not their
// values, which may be secrets.
func settingKeys(props, private []string) []string {
	var keys []string
	for _, kv := range props {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	for _, kv := range private {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, "private."+k)
	}
	return keys
}
