package ops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/quorum"
)

// QuorumView is etcd's health as an operator sees it.
type QuorumView struct {
	Healthy bool           `json:"healthy"`
	Leader  string         `json:"leader,omitempty"`
	Members []MemberHealth `json:"members"`
	Alarms  []string       `json:"alarms,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// MemberHealth is one etcd member.
type MemberHealth struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint,omitempty"`
	Healthy  bool   `json:"healthy"`
	Leader   bool   `json:"leader,omitempty"`
	Version  string `json:"version,omitempty"`
	DBSize   int64  `json:"db_size,omitempty"`
	Error    string `json:"error,omitempty"`
}

// GroupView is a group: the record, its live owner, and what its owner
// last published.
type GroupView struct {
	model.Group
	Owner     string `json:"owner"`
	Token     int64  `json:"fencing_token"`
	State     string `json:"state,omitempty"`
	Desired   string `json:"desired,omitempty"`
	Failovers int    `json:"failovers"` // within the group's FailoverPeriod
	// Threshold is FailoverThreshold resolved: "auto" (-1) means the nodes
	// of the cluster minus one, counted as the monitor counts them (the
	// nodes up and the preferred owners).
	Threshold int `json:"effective_failover_threshold"`
	// Status is the published status as the owner wrote it (absent until
	// a node first owned the group).
	Status *model.GroupStatus `json:"status,omitempty"`
}

// ResourceView is a resource with what its group's owner last published
// about it.
type ResourceView struct {
	model.Resource
	State    string `json:"state,omitempty"`
	Node     string `json:"node,omitempty"`
	Restarts int    `json:"restarts"`
	Error    string `json:"error,omitempty"`
	// RetryAt is when a Failed resource is tried again.
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// NodeView is a node. A node is known when it is up, or named as a
// preferred owner, a possible owner or a group's last owner, or paused or
// in maintenance.
type NodeView struct {
	Node        string           `json:"node"`
	State       string           `json:"state"` // Up or Down
	Paused      *model.NodePause `json:"paused,omitempty"`
	Maintenance *model.Mark      `json:"maintenance,omitempty"`
	Draining    bool             `json:"draining,omitempty"`
	Info        *model.NodeInfo  `json:"info,omitempty"` // its presence record, while up
	Groups      []string         `json:"groups"`         // the groups it owns
}

// StateLine is the node's state as one word or a few.
func (n NodeView) StateLine() string {
	s := n.State
	var extra []string
	if n.Draining {
		extra = append(extra, "stopping")
	}
	if n.Paused != nil {
		extra = append(extra, "paused")
	}
	if n.Maintenance != nil {
		extra = append(extra, "maintenance")
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// StatusGroup is a group with its resources, for the status.
type StatusGroup struct {
	GroupView
	// Maintenance says which maintenance holds the group ("" when none).
	Maintenance string         `json:"maintenance,omitempty"`
	Resources   []ResourceView `json:"resources"`
}

// ClusterStatus is the whole cluster on one screen.
type ClusterStatus struct {
	Cluster     string         `json:"cluster"`
	Time        time.Time      `json:"time"`
	Quorum      QuorumView     `json:"quorum"`
	Maintenance *model.Mark    `json:"maintenance,omitempty"`
	Nodes       []NodeView     `json:"nodes"`
	Groups      []StatusGroup  `json:"groups"`
	Events      []quorum.Event `json:"events"`
}

// memberTimeout bounds the status call to each etcd member.
const memberTimeout = 2 * time.Second

// QuorumHealth asks every etcd member for its status.
func (s Session) QuorumHealth(ctx context.Context) QuorumView {
	var q QuorumView
	if s.Etcd == nil {
		q.Error = "etcd's health is not known here"
		return q
	}
	ml, err := s.Etcd.MemberList(ctx)
	if err != nil {
		q.Error = err.Error()
		return q
	}
	var leader uint64
	for _, m := range ml.Members {
		mh := MemberHealth{Name: m.Name}
		if len(m.ClientURLs) > 0 {
			mh.Endpoint = m.ClientURLs[0]
		}
		if mh.Endpoint != "" {
			sctx, cancel := context.WithTimeout(ctx, memberTimeout)
			st, err := s.Etcd.Status(sctx, mh.Endpoint)
			cancel()
			if err != nil {
				mh.Error = err.Error()
			} else {
				mh.Healthy, mh.Version, mh.DBSize = true, st.Version, st.DbSize
				if len(st.Errors) > 0 {
					mh.Error = strings.Join(st.Errors, "; ")
				}
				leader = st.Leader
			}
		}
		q.Members = append(q.Members, mh)
	}
	healthy := 0
	for i, m := range ml.Members {
		if m.ID == leader {
			q.Members[i].Leader, q.Leader = true, m.Name
		}
		if q.Members[i].Healthy {
			healthy++
		}
	}
	if al, err := s.Etcd.AlarmList(ctx); err == nil {
		for _, a := range al.Alarms {
			q.Alarms = append(q.Alarms, fmt.Sprintf("%s on member %x", a.Alarm, a.MemberID))
		}
	}
	q.Healthy = leader != 0 && healthy*2 > len(ml.Members) && len(q.Alarms) == 0
	return q
}

// Status gathers the whole cluster with the newest events (up to events).
func (s Session) Status(ctx context.Context, events int) (ClusterStatus, error) {
	st := ClusterStatus{Cluster: s.Cluster(), Time: time.Now(), Quorum: s.QuorumHealth(ctx)}
	nodes, ops, err := s.Nodes(ctx)
	if err != nil {
		return st, err
	}
	st.Nodes, st.Maintenance = nodes, ops.Maintenance.Cluster
	views, err := s.Groups(ctx)
	if err != nil {
		return st, err
	}
	resources, err := s.Resources(ctx)
	if err != nil {
		return st, err
	}
	for _, v := range views {
		sg := StatusGroup{GroupView: v, Resources: []ResourceView{}}
		sg.Maintenance = ops.Maintenance.Why(v.Name, v.Owner)
		for _, r := range resources {
			if r.Group == v.Name {
				sg.Resources = append(sg.Resources, r)
			}
		}
		st.Groups = append(st.Groups, sg)
	}
	if st.Events, err = s.Store.RecentEvents(ctx, events); err != nil {
		return st, err
	}
	if st.Events == nil {
		st.Events = []quorum.Event{}
	}
	return st, nil
}

// Groups lists every group with its owner and published status.
func (s Session) Groups(ctx context.Context) ([]GroupView, error) {
	groups, err := s.Store.Groups(ctx)
	if err != nil {
		return nil, err
	}
	owners, err := s.Store.Owners(ctx)
	if err != nil {
		return nil, err
	}
	statuses, err := s.Store.GroupStatuses(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := s.Store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]GroupView, 0, len(groups))
	for _, g := range groups {
		known := map[string]bool{}
		for _, n := range nodes {
			known[strings.ToLower(n.Node)] = true
		}
		for _, n := range g.Value.PreferredOwners {
			known[strings.ToLower(n)] = true
		}
		v := GroupView{Group: g.Value, Threshold: g.Value.EffectiveFailoverThreshold(len(known))}
		if o, ok := owners[g.Value.Name]; ok {
			v.Owner, v.Token = o.Node, o.Token
		}
		if st, ok := statuses[g.Value.Name]; ok {
			v.Status, v.State, v.Desired, v.Failovers = &st, st.State, st.Desired, len(st.Failovers)
		}
		out = append(out, v)
	}
	return out, nil
}

// Group is one group with its resources and maintenance, by
// case-insensitive name.
func (s Session) Group(ctx context.Context, name string) (StatusGroup, error) {
	g, err := s.GroupByName(ctx, name)
	if err != nil {
		return StatusGroup{}, err
	}
	views, err := s.Groups(ctx)
	if err != nil {
		return StatusGroup{}, err
	}
	db, err := s.Store.Database(ctx)
	if err != nil {
		return StatusGroup{}, err
	}
	resources, err := s.Resources(ctx)
	if err != nil {
		return StatusGroup{}, err
	}
	for _, v := range views {
		if v.Name != g.Name {
			continue
		}
		out := StatusGroup{GroupView: v, Resources: []ResourceView{}, Maintenance: db.Ops.Maintenance.Why(v.Name, v.Owner)}
		for _, r := range resources {
			if r.Group == v.Name {
				out.Resources = append(out.Resources, r)
			}
		}
		return out, nil
	}
	return StatusGroup{}, fmt.Errorf("%w: group %q", quorum.ErrNotFound, name)
}

// Resources lists every resource with its published status, by name.
func (s Session) Resources(ctx context.Context) ([]ResourceView, error) {
	rs, err := s.Store.Resources(ctx)
	if err != nil {
		return nil, err
	}
	statuses, err := s.Store.ResourceStatuses(ctx)
	if err != nil {
		return nil, err
	}
	list := make([]ResourceView, len(rs))
	for i, r := range rs {
		st := statuses[r.Value.ID]
		list[i] = ResourceView{Resource: r.Value, State: st.State, Node: st.Node, Restarts: st.Restarts, Error: st.Error, RetryAt: st.RetryAt}
	}
	sort.Slice(list, func(i, j int) bool { return strings.ToLower(list[i].Name) < strings.ToLower(list[j].Name) })
	return list, nil
}

// Resource is one resource with its published status, by case-insensitive
// name.
func (s Session) Resource(ctx context.Context, name string) (ResourceView, error) {
	r, err := s.Store.ResourceByName(ctx, name)
	if err != nil {
		return ResourceView{}, err
	}
	st, _, err := s.Store.ReadResourceStatus(ctx, r.Value.ID)
	if err != nil {
		return ResourceView{}, err
	}
	return ResourceView{Resource: r.Value, State: st.State, Node: st.Node, Restarts: st.Restarts, Error: st.Error, RetryAt: st.RetryAt}, nil
}

// Nodes lists every known node, sorted by name, with the operations state
// (pauses, maintenance).
func (s Session) Nodes(ctx context.Context) ([]NodeView, model.Ops, error) {
	db, err := s.Store.Database(ctx)
	if err != nil {
		return nil, model.Ops{}, err
	}
	up, err := s.Store.Nodes(ctx)
	if err != nil {
		return nil, db.Ops, err
	}
	owners, err := s.Store.Owners(ctx)
	if err != nil {
		return nil, db.Ops, err
	}
	statuses, err := s.Store.GroupStatuses(ctx)
	if err != nil {
		return nil, db.Ops, err
	}
	byName := map[string]*NodeView{}
	add := func(name string) *NodeView {
		if name == "" {
			return nil
		}
		k := strings.ToLower(name)
		if v := byName[k]; v != nil {
			return v
		}
		v := &NodeView{Node: name, State: "Down", Groups: []string{}}
		byName[k] = v
		return v
	}
	for i := range up {
		v := add(up[i].Node)
		v.State, v.Info, v.Draining = "Up", &up[i], up[i].Draining
	}
	for _, g := range db.Groups {
		for _, n := range g.PreferredOwners {
			add(n)
		}
	}
	for _, r := range db.Resources {
		for _, n := range r.PossibleOwners {
			add(n)
		}
	}
	for _, st := range statuses {
		add(st.Owner)
	}
	for n, p := range db.Ops.Paused {
		add(n).Paused = &p
	}
	for n, m := range db.Ops.Maintenance.Nodes {
		add(n).Maintenance = &m
	}
	for g, o := range owners {
		if v := add(o.Node); v != nil {
			v.Groups = append(v.Groups, g)
		}
	}
	out := make([]NodeView, 0, len(byName))
	for _, v := range byName {
		sort.Strings(v.Groups)
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Node) < strings.ToLower(out[j].Node) })
	return out, db.Ops, nil
}

// NodeByName finds a known node by its case-insensitive name.
func (s Session) NodeByName(ctx context.Context, name string) (NodeView, model.Ops, error) {
	nodes, ops, err := s.Nodes(ctx)
	if err != nil {
		return NodeView{}, ops, err
	}
	for _, n := range nodes {
		if strings.EqualFold(n.Node, name) {
			return n, ops, nil
		}
	}
	return NodeView{}, ops, fmt.Errorf("%w: node %q (not up, and no group or resource names it)", quorum.ErrNotFound, name)
}

// Checkpoint statuses.
const (
	CheckpointSaved   = "saved"
	CheckpointMissing = "no data" // listed, never saved (or lost)
	CheckpointStale   = "stale"   // put back by a backup restore, not saved since
	CheckpointCorrupt = "corrupt" // its manifest in etcd cannot be read
)

// CheckpointInfo is one checkpoint of a resource.
type CheckpointInfo struct {
	Kind model.CheckpointKind `json:"kind"`
	Path string               `json:"path"`
	// File is "00000001.CPT", or "" while the checkpoint has no number yet
	// (listed in cluster.toml and not used since).
	File string `json:"file,omitempty"`
	// Status is one of the Checkpoint* statuses.
	Status     string    `json:"status"`
	Node       string    `json:"node,omitempty"` // who saved the data
	Saved      time.Time `json:"saved,omitzero"`
	BackupTime time.Time `json:"backup_time,omitzero"`
}

// CheckpointRow is one resource with its checkpoints.
type CheckpointRow struct {
	Resource    string           `json:"resource"`
	ID          string           `json:"id"`
	Group       string           `json:"group"`
	Checkpoints []CheckpointInfo `json:"checkpoints"`
}

// Checkpoints lists the checkpoints of the named resource, or of every
// resource (sorted by name) when name is "".
func (s Session) Checkpoints(ctx context.Context, name string) ([]CheckpointRow, error) {
	var rs []model.Resource
	if name != "" {
		r, err := s.Store.ResourceByName(ctx, name)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r.Value)
	} else {
		all, err := s.Store.Resources(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range all {
			rs = append(rs, r.Value)
		}
		sort.Slice(rs, func(i, j int) bool { return strings.ToLower(rs[i].Name) < strings.ToLower(rs[j].Name) })
	}
	rows := make([]CheckpointRow, 0, len(rs))
	for _, r := range rs {
		row := CheckpointRow{Resource: r.Name, ID: r.ID, Group: r.Group, Checkpoints: []CheckpointInfo{}}
		entries, err := s.Store.CheckpointEntries(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		manifests, err := s.Store.ListCheckpoints(ctx, r.ID)
		corrupt := errors.Is(err, quorum.ErrCorruptCheckpoint)
		if err != nil && !corrupt {
			return nil, err
		}
		add := func(kind model.CheckpointKind, paths []string) {
			for _, p := range paths {
				ci := CheckpointInfo{Kind: kind, Path: p, Status: CheckpointMissing}
				for _, en := range entries {
					if en.Kind == kind && strings.EqualFold(en.Path, p) {
						ci.File = en.FileName()
					}
				}
				found := false
				for _, m := range manifests {
					if ci.File != "" && m.FileName() == ci.File {
						found = true
						ci.Status, ci.Node, ci.Saved = CheckpointSaved, m.Node, m.Time
						if m.Restored {
							ci.Status, ci.BackupTime = CheckpointStale, m.BackupTime
						}
					}
				}
				if !found && corrupt && ci.File != "" {
					ci.Status = CheckpointCorrupt
				}
				row.Checkpoints = append(row.Checkpoints, ci)
			}
		}
		add(model.RegistryCheckpoint, r.RegistryCheckpoints)
		add(model.CryptoCheckpoint, r.CryptoCheckpoints)
		rows = append(rows, row)
	}
	return rows, nil
}
