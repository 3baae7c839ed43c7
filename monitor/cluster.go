package monitor

import (
	"context"

	"github.com/resmon/resmon/model"
)

// Cluster is the shared cluster state the monitor decides from
// (quorum.Store implements it).
//
// Concurrency: every method is safe for concurrent use; the monitor calls
// them from its Run goroutine and from one goroutine per group.
//
// Watch contract: the channel delivers notifications without data and
// closes only when ctx ends. After an interruption (etcd unreachable, a
// compaction) it resumes and first sends a model.ChangeResync: the caller
// must then re-read everything it keeps.
type Cluster interface {
	// Database reads the types, groups and resources at one revision.
	Database(ctx context.Context) (model.Database, error)
	// Nodes lists the nodes that are up.
	Nodes(ctx context.Context) ([]model.NodeInfo, error)
	// GroupView reads a group's ownership, status and pending requests at
	// one revision.
	GroupView(ctx context.Context, group string) (model.GroupView, error)
	// Watch reports changes to the database, the node set, and each group's
	// ownership and requests.
	Watch(ctx context.Context) <-chan model.Change
}

// OwnerLister is an optional capability of a Cluster (quorum.Store has
// it): the ownership of every owned group, by group name, in one read. With
// it a resync wakes only the executors that may have something to do
// without a change notification — those of the groups this node owns and
// of the groups nobody owns — instead of every group's (see
// Config.Resync).
type OwnerLister interface {
	Owners(ctx context.Context) (map[string]model.Ownership, error)
}

// RecordReader is an optional capability of a Cluster (quorum.Store has
// it): the named database records, read at one revision, a record that no
// longer exists left out. With it a database change that names its record
// (model.Change.Record) is applied from a read of that record alone instead
// of a read of the whole database, which every node would otherwise make
// at every change. It is asked for at most MaxRecordReads records at once.
type RecordReader interface {
	Records(ctx context.Context, refs []model.RecordRef) (model.Records, error)
}

// ViewReader is an optional capability of a Cluster (quorum.Store has
// it): the views of several groups, read at one revision, in the order
// asked. With it the views of groups this node does not own are read
// together, up to MaxViewReads in one request, instead of one request
// each: a dead node's groups, released at once, wake their executors on
// every node at once.
type ViewReader interface {
	GroupViews(ctx context.Context, groups []string) ([]model.GroupView, error)
}

// MaxViewReads is the most views one ViewReader call is asked for.
const MaxViewReads = 32

// MaxRecordReads is the most records a burst of database changes is read
// as; a larger burst reads the whole database.
const MaxRecordReads = 64

// Session is one membership of this node in the cluster (quorum.Member):
// a lease kept alive with a self-fencing deadline.
//
// Concurrency: safe for concurrent use.
type Session interface {
	// Fenced closes when the lease deadline passed without a confirmed
	// keepalive: the node must take every resource down at once.
	Fenced() <-chan struct{}
	// SetDraining marks the node as leaving: no node hands it a group.
	SetDraining(ctx context.Context) error
	// Acquire makes this node the owner of group if nobody owns it, bound
	// to the session's lease; it fails with model.ErrOwned when another
	// node owns it.
	Acquire(ctx context.Context, group string) (Tenure, error)
}

// Tenure is one ownership of a group won by Acquire (quorum.Tenure).
//
// Concurrency: safe for concurrent use; the monitor calls it from the
// group's executor only.
type Tenure interface {
	// Fence guards every owner-only write of the tenure.
	Fence() model.Fence
	// Publish writes statuses and answers requests in one fenced write; it
	// fails with model.ErrFenced once another tenure owns the group. An
	// answer to a request re-filed since it was read is dropped, never the
	// request.
	Publish(ctx context.Context, p model.Publication) error
	// HandOff writes the last publication and releases the group in one
	// write; the tenure ends.
	HandOff(ctx context.Context, p model.Publication) error
	// Done closes when the tenure has ended.
	Done() <-chan struct{}
}

// Checkpoints is what the monitor needs of the checkpoint engine
// (checkpoint.Manager).
//
// Concurrency: called from the group executors, so concurrently for
// different resources (a group's independent resources come online
// together) but never twice at once for one resource —
// except Abandon, which a fence may call while any other call for the
// resource is in flight.
type Checkpoints interface {
	// Restore puts the checkpointed data of res into the local registry
	// before it comes online (rule 3).
	Restore(ctx context.Context, res model.Resource, fence model.Fence) error
	// StartOnline starts storing every change, fenced (rule 1).
	StartOnline(ctx context.Context, res model.Resource, fence model.Fence) error
	// Offline stores a last copy and stops (rule 9).
	Offline(ctx context.Context, res model.Resource) error
	// Abandon stops storing without a last copy: the node lost the group.
	Abandon(res model.Resource)
	// Recover re-creates res's checkpoints from this node's registry under
	// fence (rule 10).
	Recover(ctx context.Context, res model.Resource, fence model.Fence) model.CheckpointRecovery
	// Accept takes res's held checkpoints as they are (Restore failed with
	// model.ErrCheckpointHold) and returns what it changed.
	Accept(ctx context.Context, res model.Resource, fence model.Fence) ([]string, error)
}
