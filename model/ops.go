package model

import (
	"fmt"
	"strings"
	"time"
)

// Operations state: what operators switch on and off while the cluster
// runs (maintenance, paused nodes). It is not configuration: it lives
// beside the database, is never exported to cluster.toml, and is read with
// the database at one revision (Database.Ops).

// Mark says who switched something on, when, and why.
type Mark struct {
	By     string    `json:"by,omitempty"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// Maintenance is where maintenance is on: for the whole cluster, for
// nodes, for groups. While a group is in maintenance its monitor takes no
// action: no health-driven restarts, no moves, resources left as they are.
type Maintenance struct {
	Cluster *Mark           `json:"cluster,omitempty"`
	Nodes   map[string]Mark `json:"nodes,omitempty"`
	Groups  map[string]Mark `json:"groups,omitempty"`
}

// NodePause is a paused node: it owns no group and takes none until it is
// resumed. Groups are the groups it owned when it was paused, for a resume
// with failback.
type NodePause struct {
	Node   string    `json:"node"`
	By     string    `json:"by,omitempty"`
	Time   time.Time `json:"time"`
	Groups []string  `json:"groups,omitempty"`
}

// Ops is the operations state read with the database.
type Ops struct {
	Maintenance Maintenance          `json:"maintenance"`
	Paused      map[string]NodePause `json:"paused,omitempty"` // by node name
}

// lookupFold finds a key case-insensitively (node and group names compare
// that way everywhere).
func lookupFold[V any](m map[string]V, name string) (V, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// NodeInMaintenance reports whether node-level maintenance is on for node.
func (m Maintenance) NodeInMaintenance(node string) bool {
	_, ok := lookupFold(m.Nodes, node)
	return ok
}

// IsPaused reports whether node is paused.
func (o Ops) IsPaused(node string) bool {
	_, ok := lookupFold(o.Paused, node)
	return ok
}

// Why says why group, owned (or to be taken) by node, is in maintenance,
// or "" when it is not. Cluster maintenance wins over group maintenance,
// which wins over the node's.
func (m Maintenance) Why(group, node string) string {
	if m.Cluster != nil {
		return "cluster maintenance" + m.Cluster.by()
	}
	if g, ok := lookupFold(m.Groups, group); ok {
		return "group maintenance" + g.by()
	}
	if n, ok := lookupFold(m.Nodes, node); ok && node != "" {
		return fmt.Sprintf("maintenance of node %s%s", node, n.by())
	}
	return ""
}

func (k Mark) by() string {
	s := ""
	if k.By != "" {
		s = " by " + k.By
	}
	if k.Reason != "" {
		s += ": " + k.Reason
	}
	return s
}
