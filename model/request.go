package model

import (
	"errors"
	"fmt"
	"time"

	"github.com/resmon/resmon/sdk"
)

// Request actions. Group actions leave Request.Resource empty; resource
// actions name the resource. Recover takes either.
const (
	RequestOnline  = "online"  // group or resource: bring it online
	RequestOffline = "offline" // group or resource: take it offline
	RequestMove    = "move"    // group: move it to Request.Node, or the next preferred owner
	RequestFail    = "fail"    // resource: fail it as a health check would (to test policies)
	RequestRecover = "recover" // re-create checkpoint data from the owner's registry (rule 10)
	RequestAccept  = "accept"  // take held checkpoint data as it is (see ErrCheckpointHold)
	// RequestCleanup: group or resource: forget restart and failover
	// counts and the Failed state, and try again now.
	RequestCleanup = "cleanup"
	RequestControl = "control" // resource: send it control code Code with input In
)

// Request asks whichever node owns a group to act on it or on one of its
// resources. Requests queue per group in the order they were filed; the
// owner carries each out, answers it with a Reply and deletes it in the
// same fenced write, comparing the request's revision so that a request
// replaced or re-filed meanwhile is never lost.
type Request struct {
	ID       string `json:"id"`
	Group    string `json:"group"`
	Action   string `json:"action"`
	Resource string `json:"resource,omitempty"` // id, for resource actions
	Node     string `json:"node,omitempty"`     // the target of a move
	Operator string `json:"operator,omitempty"` // who filed it
	// Code and In are a control request's control code and input.
	Code uint32    `json:"code,omitempty"`
	In   []byte    `json:"in,omitempty"`
	Time time.Time `json:"time"`
	// Revision is the request key's ModRevision when it was read; the
	// owner's delete compares it.
	Revision int64 `json:"-"`
}

// MaxControlInput bounds a control request's input (and the output kept in
// its reply): requests and replies are etcd values, which etcd keeps small.
const MaxControlInput = 256 << 10

// ErrBadRequest reports a request with an unknown action, or arguments
// that do not go with its action.
var ErrBadRequest = errors.New("model: bad request")

// Validate checks the request's shape (not whether the group exists).
func (r Request) Validate() error {
	if r.Group == "" {
		return fmt.Errorf("%w: no group", ErrBadRequest)
	}
	switch r.Action {
	case RequestOnline, RequestOffline, RequestRecover, RequestAccept, RequestCleanup:
	case RequestMove:
		if r.Resource != "" {
			return fmt.Errorf("%w: move applies to groups, not to resource %s", ErrBadRequest, r.Resource)
		}
	case RequestFail:
		if r.Resource == "" {
			return fmt.Errorf("%w: fail needs a resource", ErrBadRequest)
		}
	case RequestControl:
		if r.Resource == "" {
			return fmt.Errorf("%w: control needs a resource", ErrBadRequest)
		}
		// The checkpoint codes are the resource's own calls to its host,
		// and the cluster's internal ones the monitor's to make.
		if c := sdk.ControlCode(r.Code); c.IsCheckpointCode() || c == sdk.SetPrivateProperties || c&(1<<20) != 0 {
			return fmt.Errorf("%w: control code %s is not one an operator sends to a resource", ErrBadRequest, c)
		}
		if len(r.In) > MaxControlInput {
			return fmt.Errorf("%w: control input of %d bytes (at most %d)", ErrBadRequest, len(r.In), MaxControlInput)
		}
	default:
		return fmt.Errorf("%w: action %q (want online, offline, move, fail, recover, accept, cleanup or control)", ErrBadRequest, r.Action)
	}
	if (r.Code != 0 || r.In != nil) && r.Action != RequestControl {
		return fmt.Errorf("%w: a control code only goes with control", ErrBadRequest)
	}
	if r.Node != "" && r.Action != RequestMove {
		return fmt.Errorf("%w: a target node only goes with move", ErrBadRequest)
	}
	return nil
}

// ResultCode is how a request ended. Tools decide on it, never on the
// message text.
type ResultCode string

// Result codes.
const (
	// ResultDone: the owner carried the request out. For online and move
	// the group's status then shows the progress (online on the new node).
	ResultDone ResultCode = "done"
	// ResultUnchanged: nothing was needed (a move to where the group is).
	ResultUnchanged ResultCode = "unchanged"
	// ResultRefused: the request cannot be carried out as asked; the
	// message says why (no node to move to, an unknown resource).
	ResultRefused ResultCode = "refused"
	// ResultFailed: the owner tried and failed; the message says how.
	ResultFailed ResultCode = "failed"
)

// Reply is the owner's answer to a request, stored until the requester
// reads it.
type Reply struct {
	Request string     `json:"request"` // the request's id
	Group   string     `json:"group"`
	Action  string     `json:"action"`
	Code    ResultCode `json:"code"`
	Message string     `json:"message,omitempty"`
	Node    string     `json:"node"`  // the owner that answered
	Token   int64      `json:"token"` // its fencing token
	Time    time.Time  `json:"time"`
	// Recovered has one entry per resource for RequestRecover.
	Recovered []CheckpointRecovery `json:"recovered,omitempty"`
	// Out is the resource's output for RequestControl.
	Out []byte `json:"out,omitempty"`
}

// Err is nil when the request was carried out (done or unchanged), and
// otherwise an error carrying the message.
func (r Reply) Err() error {
	switch r.Code {
	case ResultDone, ResultUnchanged:
		return nil
	}
	return fmt.Errorf("%s %s of group %q %s on node %s: %s", r.Action, "request", r.Group, r.Code, r.Node, r.Message)
}

// CheckpointRecovery is the outcome of re-creating one resource's
// checkpoints from an owner's registry.
type CheckpointRecovery struct {
	Resource string `json:"resource"` // name
	ID       string `json:"id"`
	Node     string `json:"node,omitempty"` // the owner whose registry was used
	// Checkpoints are the checkpoints re-created, "00000001.CPT SOFTWARE\…".
	Checkpoints []string `json:"checkpoints,omitempty"`
	Error       string   `json:"error,omitempty"` // empty on success
}

// Err is the recovery's error, or nil.
func (r CheckpointRecovery) Err() error {
	if r.Error == "" {
		return nil
	}
	return errors.New(r.Error)
}

// Answer pairs a request with its reply, for the owner's fenced write.
type Answer struct {
	Request Request
	Reply   Reply
}

// Publication is what an owner writes in one fenced transaction: the
// group's status, the resource statuses that changed, and its answers.
type Publication struct {
	Group     *GroupStatus
	Resources []ResourceStatus
	Answers   []Answer
}
