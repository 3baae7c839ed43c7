package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// Groups and resource types from the command line: create, delete, set.
// Keys are those of cluster.toml; every value is checked before anything
// is written, and every write names the revision it read (a concurrent
// change is retried from a fresh read, never overwritten).

type groupFlags struct {
	preferred string
	props     []string
}

// setGroupProperty sets one group property from its cluster.toml key.
func setGroupProperty(g *model.Group, key, value string) error {
	atoi := func(lo, hi int) (int, error) {
		n, err := strconv.Atoi(value)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", value)
		}
		if n < lo || n > hi {
			return 0, fmt.Errorf("must be between %d and %d, got %d", lo, hi, n)
		}
		return n, nil
	}
	var err error
	switch key {
	case "preferred_owners":
		owners := splitList(value, ",")
		for _, o := range owners {
			if err := model.ValidName(o); err != nil {
				return fmt.Errorf("node name %w", err)
			}
		}
		g.PreferredOwners = owners
	case "failover_threshold":
		g.FailoverThreshold, err = atoi(model.FailoverThresholdAuto, 1<<20)
	case "failover_period":
		var d model.Duration
		if err := d.UnmarshalText([]byte(value)); err != nil {
			return err
		}
		if d <= 0 {
			return errors.New("must be greater than 0")
		}
		g.FailoverPeriod = d
	case "auto_failback", "auto_failback_type":
		if value != model.FailbackPrevent && value != model.FailbackAllow {
			return fmt.Errorf("%q is neither %s nor %s", value, model.FailbackPrevent, model.FailbackAllow)
		}
		g.AutoFailbackType = value
	case "failback_window_start":
		g.FailbackWindowStart, err = atoi(-1, 23)
	case "failback_window_end":
		g.FailbackWindowEnd, err = atoi(-1, 23)
	case "persistent_state":
		b, perr := strconv.ParseBool(value)
		if perr != nil {
			return fmt.Errorf("%q is not true or false", value)
		}
		g.PersistentState = b
	case "priority":
		g.Priority, err = atoi(-1<<20, 1<<20)
	default:
		return usagef("%s: not a group property (preferred_owners, failover_threshold, failover_period, auto_failback, "+
			"failback_window_start, failback_window_end, persistent_state, priority)", key)
	}
	return err
}

func applyGroupSettings(g *model.Group, kvs []string) error {
	for _, kv := range kvs {
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			return usagef("%q is not KEY=VALUE", kv)
		}
		key = strings.ToLower(strings.TrimSpace(key))
		if err := setGroupProperty(g, key, value); err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				return err
			}
			return fmt.Errorf("group %q: %s: %w; nothing changed", g.Name, key, err)
		}
	}
	if (g.FailbackWindowStart < 0) != (g.FailbackWindowEnd < 0) {
		return fmt.Errorf("group %q: give both failback_window_start and failback_window_end, or neither; nothing changed", g.Name)
	}
	return quorum.ValidateGroup(*g)
}

func cmdGroupCreate(ctx context.Context, e *env, name string, gf groupFlags) error {
	if err := model.ValidName(name); err != nil {
		return usagef("group create: name %v", err)
	}
	g := model.DefaultGroup(name)
	settings := gf.props
	if gf.preferred != "" {
		settings = append([]string{"preferred_owners=" + gf.preferred}, settings...)
	}
	if err := applyGroupSettings(&g, settings); err != nil {
		return err
	}
	if err := e.store.CreateGroup(ctx, g); err != nil {
		return err
	}
	e.record(ctx, "group.create", g.Name, "created", nil)
	if e.json {
		return e.emit(g, nil)
	}
	printf(e.out, "Created group '%s'.\n", g.Name)
	return nil
}

func cmdGroupDelete(ctx context.Context, e *env, args []string) error {
	g, err := e.session().GroupByName(ctx, args[0])
	if err != nil {
		return err
	}
	if owners, err := e.store.Owners(ctx); err == nil {
		if o, ok := owners[g.Name]; ok {
			st, _, _ := e.store.ReadGroupStatus(ctx, g.Name)
			if st.State != "" && st.State != "Offline" {
				return fmt.Errorf("group '%s' is %s on %s: take it offline first (cluster group %q offline)", g.Name, st.State, o.Node, g.Name)
			}
		}
	}
	if err := e.store.DeleteGroup(ctx, g.Name); err != nil {
		return err
	}
	e.record(ctx, "group.delete", g.Name, "deleted", nil)
	if e.json {
		return e.emit(map[string]any{"deleted": g}, nil)
	}
	printf(e.out, "Deleted group '%s'.\n", g.Name)
	return nil
}

func cmdGroupSet(ctx context.Context, e *env, args []string) error {
	return retryConflict(func() error {
		g, err := e.session().GroupByName(ctx, args[0])
		if err != nil {
			return err
		}
		v, err := e.store.Group(ctx, g.Name)
		if err != nil {
			return err
		}
		rec := v.Value
		if err := applyGroupSettings(&rec, args[1:]); err != nil {
			return err
		}
		if err := e.store.UpdateGroup(ctx, rec, v.ModRevision); err != nil {
			return err
		}
		e.record(ctx, "group.set", rec.Name, "set "+strings.Join(settingKeys(args[1:], nil), ", "), nil)
		if e.json {
			return e.emit(rec, nil)
		}
		printf(e.out, "Set %d properties of group '%s'.\n", len(args)-1, rec.Name)
		return nil
	})
}

// retryConflict runs f again (up to three times in all) while it fails
// because a record changed between its read and its write.
func retryConflict(f func() error) error {
	var err error
	for range 3 {
		if err = f(); !errors.Is(err, quorum.ErrConflict) {
			return err
		}
	}
	return err
}

type typeFlags struct {
	kind, path, sha256 string
	pin                bool
	props              []string
}

// fileSHA256 is the sha256 of a file, as a pin.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// setTypeProperty sets one property of a type from its cluster.toml key;
// default common properties are the resource keys.
func setTypeProperty(t *model.ResourceType, key, value string) error {
	switch key {
	case "path":
		if value == "" {
			return errors.New("must not be empty")
		}
		t.Path = value
	case "sha256":
		if value != "" {
			if b, err := hex.DecodeString(value); err != nil || len(b) != sha256.Size {
				return fmt.Errorf("%q is not 64 hex digits", value)
			}
		}
		t.SHA256 = strings.ToLower(value)
	case "memory_limit_pages":
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil || n > 65536 {
			return fmt.Errorf("%q is not a number of 64 KiB pages up to 65536", value)
		}
		t.MemoryLimitPages = uint32(n)
	case "commands":
		t.Capabilities.Commands = splitList(value, ",")
	case "dirs":
		t.Capabilities.Dirs = splitList(value, ",")
	default:
		r := model.Resource{Properties: t.Defaults}
		if err := setProperty(&r, key, value); err != nil {
			if errors.Is(err, errUnknownProperty) || key == "possible_owners" || key == "dependencies" {
				return usagef("%s: not a property of a type (path, sha256, memory_limit_pages, commands, dirs, or a default common property)", key)
			}
			return err
		}
		t.Defaults = r.Properties
	}
	return nil
}

func applyTypeSettings(t *model.ResourceType, kvs []string) error {
	for _, kv := range kvs {
		key, value, ok := strings.Cut(kv, "=")
		if !ok {
			return usagef("%q is not KEY=VALUE", kv)
		}
		key = strings.ToLower(strings.TrimSpace(key))
		if err := setTypeProperty(t, key, value); err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				return err
			}
			return fmt.Errorf("resource type %q: %s: %w; nothing changed", t.Name, key, err)
		}
	}
	return quorum.ValidateType(*t)
}

func cmdTypeCreate(ctx context.Context, e *env, name string, tf typeFlags) error {
	if err := model.ValidName(name); err != nil {
		return usagef("type create: name %v", err)
	}
	if tf.path == "" {
		return usagef("type create %q: --path is required", name)
	}
	t := model.ResourceType{Name: name, Kind: tf.kind, Path: tf.path, Defaults: model.DefaultProperties()}
	settings := tf.props
	if tf.sha256 != "" {
		settings = append(settings, "sha256="+tf.sha256)
	}
	if err := applyTypeSettings(&t, settings); err != nil {
		return err
	}
	if tf.pin {
		if tf.sha256 != "" {
			return usagef("type create %q: give --pin or --sha256, not both", name)
		}
		sum, err := fileSHA256(tf.path)
		if err != nil {
			return fmt.Errorf("type create %q: --pin: %w", name, err)
		}
		t.SHA256 = sum
	}
	if err := e.store.CreateType(ctx, t); err != nil {
		return err
	}
	e.record(ctx, "type.create", t.Name, fmt.Sprintf("created: %s %s", t.Kind, t.Path), map[string]string{"sha256": t.SHA256})
	if e.json {
		return e.emit(t, nil)
	}
	printf(e.out, "Created resource type '%s' (%s, %s%s).\n", t.Name, t.Kind, t.Path, map[bool]string{true: ", pinned", false: ""}[t.SHA256 != ""])
	return nil
}

func cmdTypeDelete(ctx context.Context, e *env, args []string) error {
	t, err := e.store.Type(ctx, args[0])
	if err != nil {
		return err
	}
	if err := e.store.DeleteType(ctx, t.Value.Name); err != nil {
		return err
	}
	e.record(ctx, "type.delete", t.Value.Name, "deleted", nil)
	if e.json {
		return e.emit(map[string]any{"deleted": t.Value}, nil)
	}
	printf(e.out, "Deleted resource type '%s'.\n", t.Value.Name)
	return nil
}

func cmdTypeSet(ctx context.Context, e *env, args []string) error {
	return retryConflict(func() error {
		v, err := e.store.Type(ctx, args[0])
		if err != nil {
			return err
		}
		t := v.Value
		if err := applyTypeSettings(&t, args[1:]); err != nil {
			return err
		}
		if err := e.store.UpdateType(ctx, t, v.ModRevision); err != nil {
			return err
		}
		e.record(ctx, "type.set", t.Name, "set "+strings.Join(settingKeys(args[1:], nil), ", "), nil)
		if e.json {
			return e.emit(t, nil)
		}
		printf(e.out, "Set %d properties of resource type '%s'.\n", len(args)-1, t.Name)
		return nil
	})
}

// cmdType is `cluster type NAME`.
func cmdType(ctx context.Context, e *env, args []string) error {
	v, err := e.store.Type(ctx, args[0])
	if err != nil {
		return err
	}
	t := v.Value
	out := struct {
		model.ResourceType
		Properties []model.PropertySpec `json:"private_properties,omitempty"`
	}{ResourceType: t}
	if sc, err := e.store.TypeSchema(ctx, t.Name); err == nil {
		out.Properties = sc.Properties
	}
	return e.emit(out, func(w *tabwriter.Writer) {
		printf(w, "Type\t%s\nKind\t%s\nPath\t%s\nSHA256\t%s\n", t.Name, t.Kind, t.Path, orDash(t.SHA256))
		if len(t.Capabilities.Commands)+len(t.Capabilities.Dirs) > 0 {
			printf(w, "Commands\t%s\nDirs\t%s\n", orDash(strings.Join(t.Capabilities.Commands, ", ")), orDash(strings.Join(t.Capabilities.Dirs, ", ")))
		}
		if len(out.Properties) > 0 {
			fmt.Fprintln(w, "Private properties\t")
			for _, p := range out.Properties {
				req := ""
				if p.Required {
					req = ", required"
				}
				def := ""
				if p.Default != nil {
					def = fmt.Sprintf(", default %v", p.Default)
				}
				printf(w, "  %s\t%s%s%s: %s\n", p.Name, p.Type, req, def, p.Description)
			}
		}
	})
}
