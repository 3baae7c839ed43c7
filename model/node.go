package model

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// NodeInfo is a node's presence record, stored as JSON at Keys.Node(name)
// and bound to the node's lease. The lease is written in hex, as etcdctl
// prints and accepts it (`etcdctl lease timetolive <lease>`).
type NodeInfo struct {
	Node    string    `json:"node"`
	Host    string    `json:"host,omitempty"`
	Admin   string    `json:"admin,omitempty"` // admin API address
	PID     int       `json:"pid,omitempty"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started"`
	Lease   int64     `json:"-"`   // the etcd lease id
	TTL     Duration  `json:"ttl"` // granted lease TTL
	// Draining is set while the node's clusterd stops: it moves its groups
	// away and must not be given any.
	Draining bool `json:"draining,omitempty"`
}

type nodeInfoJSON NodeInfo

// MarshalJSON writes the lease id in hex.
func (n NodeInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		nodeInfoJSON
		Lease string `json:"lease"`
	}{nodeInfoJSON(n), FormatLease(n.Lease)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (n *NodeInfo) UnmarshalJSON(b []byte) error {
	var v struct {
		nodeInfoJSON
		Lease string `json:"lease"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	id, err := parseLease(v.Lease)
	if err != nil {
		return err
	}
	*n = NodeInfo(v.nodeInfoJSON)
	n.Lease = id
	return nil
}

// FormatLease writes an etcd lease id as etcdctl prints it: 16 hex digits.
func FormatLease(id int64) string { return fmt.Sprintf("%016x", id) }

func parseLease(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("lease %q is not a hex lease id", s)
	}
	return int64(v), nil
}
