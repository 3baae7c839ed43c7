package model

import (
	"errors"
	"fmt"
)

// Ownership is one tenure of a group by a node. Token is the fencing token:
// it grows with every new tenure, and every owner-only write is checked
// against it.
type Ownership struct {
	Group string
	Node  string
	Token int64
}

// Fence returns the fence that guards owner-only writes of this tenure.
func (o Ownership) Fence() Fence { return Fence{Group: o.Group, Token: o.Token} }

func (o Ownership) String() string {
	return fmt.Sprintf("group %q owned by %q (token %d)", o.Group, o.Node, o.Token)
}

// ErrOwned reports that a group is owned by another node (see OwnedError).
var ErrOwned = errors.New("model: group is owned by another node")

// OwnedError is returned when acquiring a group another node owns.
// errors.Is(err, ErrOwned) holds.
type OwnedError struct {
	Group string
	Node  string // the current owner
	Token int64  // the current owner's fencing token
}

func (e *OwnedError) Error() string {
	return fmt.Sprintf("group %q is owned by node %q (token %d)", e.Group, e.Node, e.Token)
}

// Is makes errors.Is(err, ErrOwned) true.
func (e *OwnedError) Is(target error) bool { return target == ErrOwned }

// GroupView is a group's ownership, published status and pending requests
// read at one revision.
type GroupView struct {
	Revision  int64
	Owned     bool
	Ownership Ownership   // when Owned
	Status    GroupStatus // zero Group when never published
	Requests  []Request   // pending, oldest first
}

// Database is the cluster database read at one revision.
type Database struct {
	Revision  int64
	Types     []ResourceType
	Groups    []Group
	Resources []Resource
	// Ops is the operations state (maintenance, paused nodes), read at the
	// same revision.
	Ops Ops
}

// ChangeKind says what a Change is about.
type ChangeKind int

// Change kinds.
const (
	// ChangeResync: a watch was interrupted; anything may have changed.
	ChangeResync ChangeKind = iota
	// ChangeDatabase: a type, group or resource record changed, or the
	// operations state (maintenance, paused nodes).
	ChangeDatabase
	// ChangeNodes: a node came, left, or changed its presence record.
	ChangeNodes
	// ChangeGroup: the ownership, status or requests of group Name changed.
	ChangeGroup
)

// Change is one notification of a cluster watch. It carries no data: the
// watcher reads what it needs, so a lost or merged notification can never
// leave it with a wrong copy.
type Change struct {
	Kind ChangeKind
	Name string // the group, for ChangeGroup
	// TakenBy is, for a ChangeGroup of an ownership taken, the node that
	// took it; "" for anything else (released, expired, a request filed).
	// Nobody but that node has anything to decide about it.
	TakenBy string
	// Record is, for ChangeDatabase, the record that changed; the zero
	// RecordRef says anything in the database may have changed (the
	// operations state, the end of a restore).
	Record RecordRef
}

// RecordKind says which kind of database record a RecordRef names.
type RecordKind int

// Record kinds.
const (
	RecordNone     RecordKind = iota // no one record
	RecordType                       // a resource type, by name
	RecordGroup                      // a group, by name
	RecordResource                   // a resource, by ID
)

// RecordRef names one record of the cluster database.
type RecordRef struct {
	Kind RecordKind
	Name string // the type's or group's name, the resource's ID
}

// Records are database records read at one revision. A RecordRef that was
// asked for and has no record here names a record that no longer exists.
type Records struct {
	Revision  int64
	Types     map[string]ResourceType // by name
	Groups    map[string]Group        // by name
	Resources map[string]Resource     // by ID
}
