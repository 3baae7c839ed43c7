package sdk

import (
	"errors"
	"fmt"
)

// FailureClass says what the monitor does after a resource failed: an
// entry point returned an error, or a health check failed. Any error is of
// ClassRestart unless it wraps a *FailureError of another class.
type FailureClass int

// Failure classes.
const (
	// ClassRestart applies the resource's restart policy (RestartAction,
	// RestartThreshold, RestartPeriod): the failure may go away by itself.
	ClassRestart FailureClass = iota
	// ClassBanNode says that retrying on this node cannot help (a missing
	// program, a permission problem): the node is kept out of the
	// resource's possible owners, and the group fails over when the
	// resource's RestartAction allows it, until an operator brings the
	// resource online again.
	ClassBanNode
	// ClassFailEverywhere says that no node can run the resource as it is
	// configured: it stays Failed, on this node and wherever its group
	// goes, and the group does not move for it, until an operator brings
	// the resource online again.
	ClassFailEverywhere
)

func (c FailureClass) String() string {
	switch c {
	case ClassRestart:
		return "restart"
	case ClassBanNode:
		return "ban node"
	case ClassFailEverywhere:
		return "fail everywhere"
	}
	return fmt.Sprintf("FailureClass(%d)", int(c))
}

// FailureError gives a failure its class. Transports carry the class
// across the process boundary, so errors.As finds it in the monitor.
type FailureError struct {
	Class FailureClass
	Err   error
}

func (e *FailureError) Error() string {
	if e.Err == nil {
		return e.Class.String()
	}
	return e.Err.Error()
}

// Unwrap returns the error the class was given to.
func (e *FailureError) Unwrap() error { return e.Err }

// BanNode marks err as of ClassBanNode; nil stays nil.
func BanNode(err error) error {
	if err == nil {
		return nil
	}
	return &FailureError{Class: ClassBanNode, Err: err}
}

// FailEverywhere marks err as of ClassFailEverywhere; nil stays nil.
func FailEverywhere(err error) error {
	if err == nil {
		return nil
	}
	return &FailureError{Class: ClassFailEverywhere, Err: err}
}

// ClassOf returns the class of err: that of the outermost *FailureError it
// wraps, or ClassRestart.
func ClassOf(err error) FailureClass {
	if fe, ok := errors.AsType[*FailureError](err); ok {
		return fe.Class
	}
	return ClassRestart
}
