package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/resmon/resmon/internal/config"
	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// cluster.toml and the live database, reconciled explicitly: export
// writes the database as entries, diff shows what apply would change, and
// apply changes the database record by record, each write naming the
// revision the plan read (a record changed meanwhile stops the apply with
// quorum.ErrConflict: run diff again). Operations state (maintenance,
// pauses) and published schemas are not configuration and are left out.

func cmdConfigExport(ctx context.Context, e *env, file string) error {
	db, err := e.store.Database(ctx)
	if err != nil {
		return err
	}
	b, err := config.Export(db.Types, db.Groups, db.Resources)
	if err != nil {
		return err
	}
	if file == "" {
		_, err = e.out.Write(b)
		return err
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	printf(e.err, "Exported %d types, %d groups and %d resources into %s.\n", len(db.Types), len(db.Groups), len(db.Resources), file)
	return nil
}

// loadSpec reads the entries of a configuration file.
func loadSpec(file string) (quorum.Spec, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return quorum.Spec{}, err
	}
	types, groups, resources := cfg.Records()
	return quorum.Spec{Types: types, Groups: groups, Resources: resources}, nil
}

func cmdConfigDiff(ctx context.Context, e *env, file string) error {
	spec, err := loadSpec(file)
	if err != nil {
		return err
	}
	diffs, err := e.store.Diff(ctx, spec)
	if err != nil {
		return err
	}
	if e.json {
		if diffs == nil {
			diffs = []string{}
		}
		return e.emit(diffs, nil)
	}
	if len(diffs) == 0 {
		printf(e.out, "%s and the cluster database agree.\n", file)
		return nil
	}
	for _, d := range diffs {
		printf(e.out, "%s\n", strings.Replace(d, "cluster.toml", file, 1))
	}
	printf(e.out, "\n%d differences; `cluster config apply %s` makes the database match (--delete also removes what the file does not list).\n", len(diffs), file)
	return nil
}

// change is one step of an apply.
type change struct {
	Op     string `json:"op"`   // create, update or delete
	What   string `json:"what"` // type, group or resource
	Name   string `json:"name"`
	rev    int64
	record any
}

// same reports whether two records store the same JSON.
func same(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var ma, mb any
	json.Unmarshal(ja, &ma)
	json.Unmarshal(jb, &mb)
	return string(mustMarshal(ma)) == string(mustMarshal(mb)) // maps marshal with sorted keys
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// plan computes the changes that make the database what spec says.
func (e *env) plan(ctx context.Context, spec quorum.Spec, withDeletes bool) ([]change, error) {
	types, err := e.store.Types(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := e.store.Groups(ctx)
	if err != nil {
		return nil, err
	}
	resources, err := e.store.Resources(ctx)
	if err != nil {
		return nil, err
	}
	var creates, updates, deletes []change
	dbTypes := map[string]quorum.Versioned[model.ResourceType]{}
	for _, t := range types {
		dbTypes[t.Value.Name] = t
	}
	for _, t := range spec.Types {
		old, ok := dbTypes[t.Name]
		switch {
		case !ok:
			creates = append(creates, change{Op: "create", What: "type", Name: t.Name, record: t})
		case !same(old.Value, t):
			updates = append(updates, change{Op: "update", What: "type", Name: t.Name, rev: old.ModRevision, record: t})
		}
		delete(dbTypes, t.Name)
	}
	dbGroups := map[string]quorum.Versioned[model.Group]{}
	for _, g := range groups {
		dbGroups[g.Value.Name] = g
	}
	for _, g := range spec.Groups {
		old, ok := dbGroups[g.Name]
		switch {
		case !ok:
			creates = append(creates, change{Op: "create", What: "group", Name: g.Name, record: g})
		case !same(old.Value, g):
			updates = append(updates, change{Op: "update", What: "group", Name: g.Name, rev: old.ModRevision, record: g})
		}
		delete(dbGroups, g.Name)
	}
	dbRes := map[string]quorum.Versioned[model.Resource]{}
	for _, r := range resources {
		dbRes[strings.ToLower(r.Value.Name)] = r
	}
	for _, r := range spec.Resources {
		old, ok := dbRes[strings.ToLower(r.Name)]
		if r.ID == "" && ok {
			r.ID = old.Value.ID
		}
		switch {
		case !ok:
			creates = append(creates, change{Op: "create", What: "resource", Name: r.Name, record: r})
		case old.Value.ID != r.ID:
			return nil, fmt.Errorf("resource %q: id %s in the file, %s in the database: a different resource of the same name; rename or delete one first", r.Name, r.ID, old.Value.ID)
		case !same(old.Value, r):
			updates = append(updates, change{Op: "update", What: "resource", Name: r.Name, rev: old.ModRevision, record: r})
		}
		delete(dbRes, strings.ToLower(r.Name))
	}
	if withDeletes {
		for _, r := range dbRes {
			deletes = append(deletes, change{Op: "delete", What: "resource", Name: r.Value.Name, record: r.Value})
		}
		for _, g := range dbGroups {
			deletes = append(deletes, change{Op: "delete", What: "group", Name: g.Value.Name})
		}
		for _, t := range dbTypes {
			deletes = append(deletes, change{Op: "delete", What: "type", Name: t.Value.Name})
		}
	}
	return append(append(creates, updates...), deletes...), nil
}

// applyChange makes one change.
func (e *env) applyChange(ctx context.Context, c change) error {
	switch c.What + " " + c.Op {
	case "type create":
		return e.store.CreateType(ctx, c.record.(model.ResourceType))
	case "type update":
		return e.store.UpdateType(ctx, c.record.(model.ResourceType), c.rev)
	case "type delete":
		return e.store.DeleteType(ctx, c.Name)
	case "group create":
		return e.store.CreateGroup(ctx, c.record.(model.Group))
	case "group update":
		return e.store.UpdateGroup(ctx, c.record.(model.Group), c.rev)
	case "group delete":
		return e.store.DeleteGroup(ctx, c.Name)
	case "resource create":
		_, err := e.store.CreateResource(ctx, c.record.(model.Resource))
		return err
	case "resource update":
		return e.updateResourceWithCheckpoints(ctx, c.record.(model.Resource), c.rev)
	case "resource delete":
		return e.store.DeleteResource(ctx, c.record.(model.Resource).ID)
	}
	return fmt.Errorf("cli: unknown change %s %s", c.What, c.Op)
}

// updateResourceWithCheckpoints updates a resource whose checkpoint lists
// may change: those go through the checkpoint index (AddCheckpoint,
// RemoveCheckpoint, which refuse overlaps), the rest through
// UpdateResource. The revision read by the plan is checked first.
func (e *env) updateResourceWithCheckpoints(ctx context.Context, r model.Resource, rev int64) error {
	cur, err := e.store.Resource(ctx, r.ID)
	if err != nil {
		return err
	}
	if cur.ModRevision != rev {
		return fmt.Errorf("%w: resource %q", quorum.ErrConflict, r.Name)
	}
	for _, kind := range []model.CheckpointKind{model.RegistryCheckpoint, model.CryptoCheckpoint} {
		have, want := cur.Value.CheckpointList(kind), r.CheckpointList(kind)
		for _, p := range have {
			if indexFold(want, p) < 0 {
				if _, err := e.store.RemoveCheckpoint(ctx, r.ID, kind, p); err != nil {
					return err
				}
			}
		}
		for _, p := range want {
			if indexFold(have, p) < 0 {
				if _, err := e.store.AddCheckpoint(ctx, r.ID, kind, p); err != nil {
					return err
				}
			}
		}
	}
	cur, err = e.store.Resource(ctx, r.ID)
	if err != nil {
		return err
	}
	r.RegistryCheckpoints, r.CryptoCheckpoints = cur.Value.RegistryCheckpoints, cur.Value.CryptoCheckpoints
	return e.store.UpdateResource(ctx, r, cur.ModRevision)
}

func indexFold(list []string, s string) int {
	for i, x := range list {
		if strings.EqualFold(x, s) {
			return i
		}
	}
	return -1
}

func cmdConfigApply(ctx context.Context, e *env, file string, withDeletes bool) error {
	spec, err := loadSpec(file)
	if err != nil {
		return err
	}
	changes, err := e.plan(ctx, spec, withDeletes)
	if err != nil {
		return err
	}
	done := []change{}
	for _, c := range changes {
		if err := e.applyChange(ctx, c); err != nil {
			msg := fmt.Sprintf("%s %s %q: %v", c.Op, c.What, c.Name, err)
			if errors.Is(err, quorum.ErrConflict) {
				msg += " (changed since it was read: run `cluster config diff` again)"
			}
			return fmt.Errorf("config apply %s: %s; %d of %d changes were made before it", file, msg, len(done), len(changes))
		}
		done = append(done, c)
		e.record(ctx, c.What+"."+c.Op, c.Name, fmt.Sprintf("%sd by config apply %s", c.Op, file), nil)
		if !e.json {
			printf(e.out, "%sd %s '%s'\n", strings.ToUpper(c.Op[:1])+c.Op[1:], c.What, c.Name)
		}
	}
	if e.json {
		return e.emit(done, nil)
	}
	printf(e.out, "%d changes applied from %s.\n", len(done), file)
	return nil
}
