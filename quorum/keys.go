package quorum

import (
	"strings"

	"github.com/resmon/resmon/model"
)

// Root is the prefix every key of every cluster lives under.
const Root = "/resmon/"

// Keys builds the etcd keys of one cluster. The layout is documented in doc.go;
// nothing else in the project spells a key by hand.
type Keys struct {
	prefix string // "/resmon/<cluster>/"
}

// NewKeys returns the key layout of the named cluster.
func NewKeys(cluster string) Keys { return Keys{prefix: Root + cluster + "/"} }

// Prefix is the cluster's root, "/resmon/<cluster>/".
func (k Keys) Prefix() string { return k.prefix }

// Nodes is the prefix of node presence keys.
func (k Keys) Nodes() string { return k.prefix + "nodes/" }

// Node is the lease-bound presence key of a node.
func (k Keys) Node(name string) string { return k.Nodes() + name }

// DB is the prefix of the cluster database.
func (k Keys) DB() string { return k.prefix + "db/" }

// Types is the prefix of resource type records.
func (k Keys) Types() string { return k.DB() + "types/" }

// Type is a resource type record.
func (k Keys) Type(name string) string { return k.Types() + name }

// Groups is the prefix of group records.
func (k Keys) Groups() string { return k.DB() + "groups/" }

// Group is a group record.
func (k Keys) Group(name string) string { return k.Groups() + name }

// Resources is the prefix of resource records, keyed by id.
func (k Keys) Resources() string { return k.DB() + "resources/" }

// Resource is a resource record.
func (k Keys) Resource(id string) string { return k.Resources() + id }

// ResourceNames is the prefix of the name → id index that keeps names unique.
func (k Keys) ResourceNames() string { return k.DB() + "names/" }

// ResourceName maps a resource name to its id. Names are unique case-insensitively.
func (k Keys) ResourceName(name string) string { return k.ResourceNames() + strings.ToLower(name) }

// Owners is the prefix of group ownership keys.
func (k Keys) Owners() string { return k.prefix + "owners/" }

// Owner is the lease-bound ownership key of a group; its CreateRevision is the fencing token.
func (k Keys) Owner(group string) string { return k.Owners() + group }

// GroupStates is the prefix of published group states.
func (k Keys) GroupStates() string { return k.prefix + "state/groups/" }

// GroupState is the published state of a group.
func (k Keys) GroupState(group string) string { return k.GroupStates() + group }

// ResourceStates is the prefix of published resource states.
func (k Keys) ResourceStates() string { return k.prefix + "state/resources/" }

// ResourceState is the published state of a resource.
func (k Keys) ResourceState(id string) string { return k.ResourceStates() + id }

// AllRequests is the prefix of every pending request.
func (k Keys) AllRequests() string { return k.prefix + "control/" }

// Requests is the prefix of a group's pending requests, "control/<group>/".
func (k Keys) Requests(group string) string { return k.AllRequests() + group + "/" }

// Request is one pending request to a group's owner, "control/<group>/<id>".
func (k Keys) Request(group, id string) string { return k.Requests(group) + id }

// AllReplies is the prefix of every reply.
func (k Keys) AllReplies() string { return k.prefix + "replies/" }

// Reply is an owner's answer to a request, "replies/<group>/<id>".
func (k Keys) Reply(group, id string) string { return k.AllReplies() + group + "/" + id }

// Checkpoints is the prefix of all checkpoint data.
func (k Keys) Checkpoints() string { return k.prefix + "checkpoints/" }

// ResourceCheckpoints is the prefix of one resource's checkpoint data.
func (k Keys) ResourceCheckpoints(id string) string { return k.Checkpoints() + id + "/" }

// Checkpoint is the manifest key of one checkpoint, "<id>/00000001.CPT".
func (k Keys) Checkpoint(id string, kind model.CheckpointKind, number uint32) string {
	return k.ResourceCheckpoints(id) + model.CheckpointFileName(kind, number)
}

// CheckpointData is the prefix of one checkpoint's chunk generations.
func (k Keys) CheckpointData(id string, kind model.CheckpointKind, number uint32) string {
	return k.Checkpoint(id, kind, number) + ".data/"
}

// Events is the prefix of the event log.
func (k Keys) Events() string { return k.prefix + "events/" }

// Meta holds cluster-wide facts such as the backup restore marker.
func (k Keys) Meta(name string) string { return k.prefix + "meta/" + name }

// Ops is the prefix of the operations state: maintenance and paused
// nodes, "ops/". It is not part of the database: config export and
// backups leave it out.
func (k Keys) Ops() string { return k.prefix + "ops/" }

// ClusterMaintenance is set while the whole cluster is in maintenance.
func (k Keys) ClusterMaintenance() string { return k.Ops() + "maintenance/cluster" }

// NodeMaintenance is set while a node is in maintenance.
func (k Keys) NodeMaintenance(node string) string {
	return k.Ops() + "maintenance/nodes/" + strings.ToLower(node)
}

// GroupMaintenance is set while a group is in maintenance.
func (k Keys) GroupMaintenance(group string) string { return k.Ops() + "maintenance/groups/" + group }

// Paused is set while a node is paused; it outlives the node's lease, so
// a paused node stays paused across restarts.
func (k Keys) Paused(node string) string { return k.Ops() + "paused/" + strings.ToLower(node) }

// Schemas is the prefix of what nodes published about resource types'
// private properties; not part of the database (config export leaves it out).
func (k Keys) Schemas() string { return k.prefix + "schemas/" }

// Schema is the published description of one type's private properties.
func (k Keys) Schema(typ string) string { return k.Schemas() + typ }

// WebLogin is a one-time login code of the web console, named by the
// SHA-256 of the code (the code itself is never stored).
func (k Keys) WebLogin(hash string) string { return k.prefix + "web/logins/" + hash }
