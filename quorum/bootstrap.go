package quorum

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/resmon/resmon/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Spec is the desired cluster database, as written in cluster.toml.
type Spec struct {
	Types     []model.ResourceType
	Groups    []model.Group
	Resources []model.Resource
}

// BootstrapResult says what Bootstrap did: created the database, or found
// one and compared it with the spec.
type BootstrapResult struct {
	Created bool
	// Differences between the spec and an existing database, one line each,
	// e.g. `resource "Disk P": restart_threshold: cluster.toml 5, database 3`.
	// The database is left as it is: it may hold changes made by operators.
	Differences []string
}

// maxTxnOps is etcd's default limit of operations in one Txn.
const maxTxnOps = 128

// Bootstrap writes spec into an empty cluster database, or reports how an
// existing database differs from it. The first node to start wins the
// bootstrap; concurrent starters see a complete database or none, as long as
// the spec fits one Txn (up to ~60 resources); larger specs are written in
// batches after a marker and a loser may report transient differences.
func (s *Store) Bootstrap(ctx context.Context, node string, spec Spec) (BootstrapResult, error) {
	var ops []clientv3.Op
	marker := s.keys.Meta("bootstrap")
	ops = append(ops, clientv3.OpPut(marker, mustJSON(map[string]any{"node": node, "time": time.Now().UTC()})))
	for _, t := range spec.Types {
		if err := ValidateType(t); err != nil {
			return BootstrapResult{}, err
		}
		ops = append(ops, clientv3.OpPut(s.keys.Type(t.Name), mustJSON(t)))
	}
	for _, g := range spec.Groups {
		if err := ValidateGroup(g); err != nil {
			return BootstrapResult{}, err
		}
		ops = append(ops, clientv3.OpPut(s.keys.Group(g.Name), mustJSON(g)))
	}
	for _, r := range spec.Resources {
		if r.ID == "" {
			r.ID = uuid.NewString()
		}
		if err := ValidateResource(r); err != nil {
			return BootstrapResult{}, err
		}
		ops = append(ops, clientv3.OpPut(s.keys.Resource(r.ID), mustJSON(r)), clientv3.OpPut(s.keys.ResourceName(r.Name), r.ID))
	}
	empty := clientv3.Compare(clientv3.CreateRevision(s.keys.DB()).WithPrefix(), "=", 0)
	first := ops
	if len(first) > maxTxnOps {
		first = ops[:maxTxnOps]
	}
	resp, err := s.cli.Txn(ctx).If(empty, absent(marker)).Then(first...).Commit()
	if err != nil {
		return BootstrapResult{}, fmt.Errorf("quorum: bootstrapping the cluster database: %w", err)
	}
	if resp.Succeeded {
		for rest := ops[len(first):]; len(rest) > 0; {
			n := min(len(rest), maxTxnOps)
			if _, err := s.cli.Txn(ctx).Then(rest[:n]...).Commit(); err != nil {
				return BootstrapResult{Created: true}, fmt.Errorf("quorum: bootstrapping the cluster database (batch): %w", err)
			}
			rest = rest[n:]
		}
		return BootstrapResult{Created: true}, nil
	}
	diffs, err := s.Diff(ctx, spec)
	return BootstrapResult{Differences: diffs}, err
}

// Diff compares spec with the database and describes every difference.
func (s *Store) Diff(ctx context.Context, spec Spec) ([]string, error) {
	var out []string
	types, err := s.Types(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := s.Groups(ctx)
	if err != nil {
		return nil, err
	}
	resources, err := s.Resources(ctx)
	if err != nil {
		return nil, err
	}
	dbTypes := map[string]any{}
	for _, t := range types {
		dbTypes[t.Value.Name] = t.Value
	}
	dbGroups := map[string]any{}
	for _, g := range groups {
		dbGroups[g.Value.Name] = g.Value
	}
	dbRes := map[string]any{}
	for _, r := range resources {
		dbRes[strings.ToLower(r.Value.Name)] = r.Value
	}
	specTypes := map[string]any{}
	for _, t := range spec.Types {
		specTypes[t.Name] = t
	}
	specGroups := map[string]any{}
	for _, g := range spec.Groups {
		specGroups[g.Name] = g
	}
	specRes := map[string]any{}
	for _, r := range spec.Resources {
		specRes[strings.ToLower(r.Name)] = r
	}
	out = append(out, diffSet("resource type", specTypes, dbTypes)...)
	out = append(out, diffSet("group", specGroups, dbGroups)...)
	out = append(out, diffSet("resource", specRes, dbRes)...)
	return out, nil
}

func diffSet(what string, spec, db map[string]any) []string {
	var out []string
	names := map[string]bool{}
	for n := range spec {
		names[n] = true
	}
	for n := range db {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		sv, inSpec := spec[n]
		dv, inDB := db[n]
		switch {
		case !inDB:
			out = append(out, fmt.Sprintf("%s %q: in cluster.toml, not in the cluster database", what, displayName(sv)))
		case !inSpec:
			out = append(out, fmt.Sprintf("%s %q: in the cluster database, not in cluster.toml", what, displayName(dv)))
		default:
			for _, d := range diffFields(toMap(sv), toMap(dv), "") {
				out = append(out, fmt.Sprintf("%s %q: %s", what, displayName(dv), d))
			}
		}
	}
	return out
}

func displayName(v any) string {
	switch x := v.(type) {
	case model.ResourceType:
		return x.Name
	case model.Group:
		return x.Name
	case model.Resource:
		return x.Name
	}
	return fmt.Sprint(v)
}

func toMap(v any) map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(mustJSON(v)), &m)
	return m
}

// diffFields lists differing fields; an id left empty in the spec is not a difference.
func diffFields(spec, db map[string]any, path string) []string {
	var out []string
	keys := map[string]bool{}
	for k := range spec {
		keys[k] = true
	}
	for k := range db {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		sv, dv := spec[k], db[k]
		if path == "" && k == "id" && (sv == nil || sv == "") {
			continue
		}
		sm, sok := sv.(map[string]any)
		dm, dok := dv.(map[string]any)
		if sok && dok && k != "private" {
			out = append(out, diffFields(sm, dm, path+k+".")...)
			continue
		}
		if !reflect.DeepEqual(sv, dv) {
			out = append(out, fmt.Sprintf("%s%s: cluster.toml %s, database %s", path, k, mustJSON(sv), mustJSON(dv)))
		}
	}
	return out
}
