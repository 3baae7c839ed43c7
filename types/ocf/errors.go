package ocf

import (
	"errors"
	"fmt"

	"github.com/resmon/resmon/sdk"
)

// Errors of the OCF Agent type. Property errors also match
// sdk.ErrInvalidParameter; every error an entry point returns carries its
// sdk.FailureClass (see ExitError).
var (
	// ErrMetadata reports meta-data that does not decode or describes an
	// impossible agent.
	ErrMetadata = errors.New("ocf: bad meta-data")
	// ErrAgentFailed reports an action that exited with a failure code.
	ErrAgentFailed = errors.New("ocf: agent action failed")
	// ErrTimeout reports an action that did not finish within its timeout;
	// its process group was killed.
	ErrTimeout = errors.New("ocf: agent action timed out")
	// ErrNotInstalled reports an agent that is not on this node.
	ErrNotInstalled = errors.New("ocf: agent not installed")
)

// PropertyError is a private property the type refuses. errors.Is(err,
// sdk.ErrInvalidParameter) holds.
type PropertyError struct {
	Resource string // the resource's name
	Property string // the private property (an agent parameter, Provider or Agent)
	Err      error
}

func (e *PropertyError) Error() string {
	return fmt.Sprintf("ocf: resource %q: %s: %v", e.Resource, e.Property, e.Err)
}

// Unwrap returns the reason and sdk.ErrInvalidParameter.
func (e *PropertyError) Unwrap() []error { return []error{e.Err, sdk.ErrInvalidParameter} }

// Exit codes of the OCF resource agent API.
const (
	ExitSuccess         = 0
	ExitGeneric         = 1 // OCF_ERR_GENERIC
	ExitArgs            = 2 // OCF_ERR_ARGS
	ExitUnimplemented   = 3 // OCF_ERR_UNIMPLEMENTED
	ExitPerm            = 4 // OCF_ERR_PERM
	ExitNotInstalled    = 5 // OCF_ERR_INSTALLED
	ExitNotConfigured   = 6 // OCF_ERR_CONFIGURED
	ExitNotRunning      = 7 // OCF_NOT_RUNNING
	ExitRunningPromoted = 8 // OCF_RUNNING_MASTER
	ExitFailedPromoted  = 9 // OCF_FAILED_MASTER
	ExitDegraded        = 190
	ExitDegradedPromote = 191
)

// ExitName names an OCF exit code.
func ExitName(code int) string {
	switch code {
	case ExitSuccess:
		return "success"
	case ExitGeneric:
		return "generic error"
	case ExitArgs:
		return "invalid arguments"
	case ExitUnimplemented:
		return "unimplemented"
	case ExitPerm:
		return "insufficient privileges"
	case ExitNotInstalled:
		return "not installed"
	case ExitNotConfigured:
		return "not configured"
	case ExitNotRunning:
		return "not running"
	case ExitRunningPromoted:
		return "running promoted"
	case ExitFailedPromoted:
		return "failed promoted"
	case ExitDegraded:
		return "degraded"
	case ExitDegradedPromote:
		return "degraded promoted"
	}
	return "unknown error"
}

// Class is the failure class of an exit code: soft codes go to the
// resource's restart policy, hard ones (the node lacks something) ban the
// node, and "not configured" fails the resource everywhere. A code outside
// the API counts as a generic error, as in Pacemaker.
func Class(code int) sdk.FailureClass {
	switch code {
	case ExitArgs, ExitUnimplemented, ExitPerm, ExitNotInstalled:
		return sdk.ClassBanNode
	case ExitNotConfigured:
		return sdk.ClassFailEverywhere
	}
	return sdk.ClassRestart
}

// ExitError is an action that exited with a failure code (Code is -1 when
// it was killed by a signal or timed out). Reason is the agent's exit
// reason (ocf_exit_reason), or its last error line. errors.Is(err,
// ErrAgentFailed) holds; sdk.ClassOf(err) is Class(Code).
type ExitError struct {
	Agent    string // provider:agent
	Action   string
	Code     int
	Reason   string
	TimedOut bool
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("ocf:%s %s: %s (%d)", e.Agent, e.Action, ExitName(e.Code), e.Code)
	switch {
	case e.TimedOut:
		s = fmt.Sprintf("ocf:%s %s: timed out", e.Agent, e.Action)
	case e.Code < 0:
		s = fmt.Sprintf("ocf:%s %s: killed", e.Agent, e.Action)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns ErrAgentFailed (and ErrTimeout for a timeout).
func (e *ExitError) Unwrap() []error {
	if e.TimedOut {
		return []error{ErrAgentFailed, ErrTimeout}
	}
	return []error{ErrAgentFailed}
}

// classed returns err with its exit code's failure class.
func classed(err error) error {
	var ee *ExitError
	if !errors.As(err, &ee) {
		return err
	}
	switch Class(ee.Code) {
	case sdk.ClassBanNode:
		return sdk.BanNode(err)
	case sdk.ClassFailEverywhere:
		return sdk.FailEverywhere(err)
	}
	return err
}
