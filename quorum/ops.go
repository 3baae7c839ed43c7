package quorum

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/resmon/resmon/model"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The operations state under ops/: maintenance (cluster, node, group) and
// paused nodes. Operators write it; every node reads it with the database
// (Database) and is told of changes by Watch as database changes.

// MaintenanceScope says what a maintenance switch applies to.
type MaintenanceScope string

// Maintenance scopes.
const (
	ScopeCluster MaintenanceScope = "cluster"
	ScopeNode    MaintenanceScope = "node"
	ScopeGroup   MaintenanceScope = "group"
)

func (s *Store) maintenanceKey(scope MaintenanceScope, name string) (string, error) {
	switch scope {
	case ScopeCluster:
		return s.keys.ClusterMaintenance(), nil
	case ScopeNode, ScopeGroup:
		if err := model.ValidName(name); err != nil {
			return "", fmt.Errorf("quorum: maintenance of %s: %w", scope, err)
		}
		if scope == ScopeNode {
			return s.keys.NodeMaintenance(name), nil
		}
		return s.keys.GroupMaintenance(name), nil
	}
	return "", fmt.Errorf("quorum: maintenance scope %q is not cluster, node or group", scope)
}

// SetMaintenance switches maintenance on (with mark) or off for the
// cluster, a node or a group. It reports whether anything changed. A
// group must exist; a node need not be up.
func (s *Store) SetMaintenance(ctx context.Context, scope MaintenanceScope, name string, on bool, mark model.Mark) (bool, error) {
	key, err := s.maintenanceKey(scope, name)
	if err != nil {
		return false, err
	}
	if !on {
		resp, err := s.cli.Delete(ctx, key)
		if err != nil {
			return false, fmt.Errorf("quorum: ending maintenance: %w", err)
		}
		return resp.Deleted > 0, nil
	}
	if mark.Time.IsZero() {
		mark.Time = time.Now().UTC()
	}
	cmps := []clientv3.Cmp{absent(key)}
	if scope == ScopeGroup {
		cmps = append(cmps, present(s.keys.Group(name)))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, mustJSON(mark))).Else(clientv3.OpGet(s.keys.Group(name))).Commit()
	if err != nil {
		return false, fmt.Errorf("quorum: starting maintenance: %w", err)
	}
	if resp.Succeeded {
		return true, nil
	}
	if scope == ScopeGroup && len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
		return false, fmt.Errorf("%w: group %q", ErrNotFound, name)
	}
	return false, nil // already on
}

// Pause marks a node paused; it reports false when it already was.
func (s *Store) Pause(ctx context.Context, p model.NodePause) (bool, error) {
	if err := model.ValidName(p.Node); err != nil {
		return false, fmt.Errorf("quorum: pausing a node: %w", err)
	}
	if p.Time.IsZero() {
		p.Time = time.Now().UTC()
	}
	key := s.keys.Paused(p.Node)
	resp, err := s.cli.Txn(ctx).If(absent(key)).Then(clientv3.OpPut(key, mustJSON(p))).Commit()
	if err != nil {
		return false, fmt.Errorf("quorum: pausing node %s: %w", p.Node, err)
	}
	return resp.Succeeded, nil
}

// Resume ends a node's pause and returns the pause record; ErrNotFound
// when the node was not paused.
func (s *Store) Resume(ctx context.Context, node string) (model.NodePause, error) {
	var p model.NodePause
	resp, err := s.cli.Delete(ctx, s.keys.Paused(node), clientv3.WithPrevKV())
	if err != nil {
		return p, fmt.Errorf("quorum: resuming node %s: %w", node, err)
	}
	if len(resp.PrevKvs) == 0 {
		return p, fmt.Errorf("%w: node %q is not paused", ErrNotFound, node)
	}
	if err := json.Unmarshal(resp.PrevKvs[0].Value, &p); err != nil {
		return p, fmt.Errorf("quorum: decoding the pause of node %s: %w", node, err)
	}
	return p, nil
}

// Ops reads the operations state.
func (s *Store) Ops(ctx context.Context) (model.Ops, error) {
	resp, err := s.cli.Get(ctx, s.keys.Ops(), clientv3.WithPrefix())
	if err != nil {
		return model.Ops{}, fmt.Errorf("quorum: reading the operations state: %w", err)
	}
	return s.decodeOps(resp.Kvs)
}

// decodeOps builds the operations state from the keys under ops/. A value
// that cannot be read still counts (maintenance on, node paused): failing
// safe means the monitor takes no action rather than too much.
func (s *Store) decodeOps(kvs []*mvccpb.KeyValue) (model.Ops, error) {
	var o model.Ops
	for _, kv := range kvs {
		rel := strings.TrimPrefix(string(kv.Key), s.keys.Ops())
		var mark model.Mark
		switch {
		case rel == "maintenance/cluster":
			if err := json.Unmarshal(kv.Value, &mark); err != nil {
				s.log.Warn("unreadable maintenance record; taken as on", "key", string(kv.Key), "error", err)
			}
			o.Maintenance.Cluster = &mark
		case strings.HasPrefix(rel, "maintenance/nodes/"), strings.HasPrefix(rel, "maintenance/groups/"):
			if err := json.Unmarshal(kv.Value, &mark); err != nil {
				s.log.Warn("unreadable maintenance record; taken as on", "key", string(kv.Key), "error", err)
			}
			scope, name, _ := strings.Cut(strings.TrimPrefix(rel, "maintenance/"), "/")
			m := &o.Maintenance.Nodes
			if scope == "groups" {
				m = &o.Maintenance.Groups
			}
			if *m == nil {
				*m = map[string]model.Mark{}
			}
			(*m)[name] = mark
		case strings.HasPrefix(rel, "paused/"):
			name := strings.TrimPrefix(rel, "paused/")
			p := model.NodePause{Node: name}
			if err := json.Unmarshal(kv.Value, &p); err != nil {
				s.log.Warn("unreadable pause record; the node is taken as paused", "key", string(kv.Key), "error", err)
				p.Node = name
			}
			if o.Paused == nil {
				o.Paused = map[string]model.NodePause{}
			}
			o.Paused[name] = p
		}
	}
	return o, nil
}
