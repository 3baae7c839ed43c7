package abi

import (
	"context"
	"errors"
	"fmt"

	"github.com/resmon/resmon/sdk"
)

// Status is the i32 result of an export or import: 0 is success, a negative
// value is the Win32 error code negated, so authors who know the Windows
// resource DLL API recognise it. Some functions return a non-negative value
// other than 0 on success (a handle, a byte count, a boolean).
type Status int32

// Statuses.
const (
	StatusOK              Status = 0
	StatusInvalidFunction Status = -1    // ERROR_INVALID_FUNCTION: control code not handled → sdk.ErrInvalidFunction
	StatusNotFound        Status = -2    // ERROR_FILE_NOT_FOUND → sdk.ErrNotFound
	StatusAccessDenied    Status = -5    // ERROR_ACCESS_DENIED: capability not granted → sdk.ErrAccessDenied
	StatusInvalidHandle   Status = -6    // ERROR_INVALID_HANDLE: unknown resource or process handle
	StatusNotEnoughMemory Status = -8    // ERROR_NOT_ENOUGH_MEMORY: a buffer over MaxPayload, an allocation failed
	StatusFailed          Status = -31   // ERROR_GEN_FAILURE: any other error; the message says what
	StatusNotSupported    Status = -50   // ERROR_NOT_SUPPORTED: the import cannot be used here
	StatusInvalidParam    Status = -87   // ERROR_INVALID_PARAMETER → sdk.ErrInvalidParameter
	StatusAlreadyExists   Status = -183  // ERROR_ALREADY_EXISTS → sdk.ErrAlreadyExists
	StatusMoreData        Status = -234  // ERROR_MORE_DATA: buffer too small → *sdk.MoreDataError
	StatusBadPointer      Status = -998  // ERROR_NOACCESS: a pointer/length outside the guest's memory
	StatusCancelled       Status = -1223 // ERROR_CANCELLED: the call was cancelled → context.Canceled
	StatusTimeout         Status = -1460 // ERROR_TIMEOUT: the call's deadline passed → context.DeadlineExceeded
	StatusFenced          Status = -5016 // ERROR_HOST_NODE_NOT_GROUP_OWNER → sdk.ErrFenced
)

var statusNames = map[Status]string{
	StatusOK:              "OK",
	StatusInvalidFunction: "ERROR_INVALID_FUNCTION",
	StatusNotFound:        "ERROR_FILE_NOT_FOUND",
	StatusAccessDenied:    "ERROR_ACCESS_DENIED",
	StatusInvalidHandle:   "ERROR_INVALID_HANDLE",
	StatusNotEnoughMemory: "ERROR_NOT_ENOUGH_MEMORY",
	StatusFailed:          "ERROR_GEN_FAILURE",
	StatusNotSupported:    "ERROR_NOT_SUPPORTED",
	StatusInvalidParam:    "ERROR_INVALID_PARAMETER",
	StatusAlreadyExists:   "ERROR_ALREADY_EXISTS",
	StatusMoreData:        "ERROR_MORE_DATA",
	StatusBadPointer:      "ERROR_NOACCESS",
	StatusCancelled:       "ERROR_CANCELLED",
	StatusTimeout:         "ERROR_TIMEOUT",
	StatusFenced:          "ERROR_HOST_NODE_NOT_GROUP_OWNER",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status %d", int32(s))
}

// sentinel is the error a status stands for, or nil.
func (s Status) sentinel() error {
	switch s {
	case StatusInvalidFunction:
		return sdk.ErrInvalidFunction
	case StatusNotFound:
		return sdk.ErrNotFound
	case StatusAccessDenied:
		return sdk.ErrAccessDenied
	case StatusInvalidParam:
		return sdk.ErrInvalidParameter
	case StatusAlreadyExists:
		return sdk.ErrAlreadyExists
	case StatusMoreData:
		return sdk.ErrMoreData
	case StatusCancelled:
		return context.Canceled
	case StatusTimeout:
		return context.DeadlineExceeded
	case StatusFenced:
		return sdk.ErrFenced
	}
	return nil
}

// Error is an error that crossed the boundary as a status and a message.
// errors.Is matches the sdk sentinel (or context error) the status stands for.
type Error struct {
	Status Status
	Msg    string // the other side's message; may be empty
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "":
		return e.Msg
	case e.Status.sentinel() != nil:
		return e.Status.sentinel().Error()
	}
	return e.Status.String()
}

// Unwrap returns the sentinel of the status, or nil.
func (e *Error) Unwrap() error { return e.Status.sentinel() }

// StatusOf converts an error into the status that carries it across the
// boundary, and for *sdk.MoreDataError the size needed. nil is StatusOK;
// errors that match no sentinel are StatusFailed.
func StatusOf(err error) (s Status, needed int) {
	if err == nil {
		return StatusOK, 0
	}
	var more *sdk.MoreDataError
	var ae *Error
	switch {
	case errors.As(err, &more):
		return StatusMoreData, more.Needed
	case errors.Is(err, sdk.ErrMoreData):
		return StatusMoreData, 0
	case errors.Is(err, sdk.ErrAlreadyExists):
		return StatusAlreadyExists, 0
	case errors.Is(err, sdk.ErrNotFound):
		return StatusNotFound, 0
	case errors.Is(err, sdk.ErrInvalidFunction):
		return StatusInvalidFunction, 0
	case errors.Is(err, sdk.ErrInvalidParameter):
		return StatusInvalidParam, 0
	case errors.Is(err, sdk.ErrAccessDenied):
		return StatusAccessDenied, 0
	case errors.Is(err, sdk.ErrFenced):
		return StatusFenced, 0
	case errors.Is(err, context.DeadlineExceeded):
		return StatusTimeout, 0
	case errors.Is(err, context.Canceled):
		return StatusCancelled, 0
	case errors.As(err, &ae) && ae.Status < 0:
		return ae.Status, 0
	}
	return StatusFailed, 0
}

// ErrorOf converts a negative status with its message (and, for
// StatusMoreData, the size needed) back into an error; a status ≥ 0 is nil.
// StatusMoreData gives a *sdk.MoreDataError; the others an *Error.
func ErrorOf(s Status, msg string, needed int) error {
	if s >= 0 {
		return nil
	}
	if s == StatusMoreData {
		return &sdk.MoreDataError{Needed: needed}
	}
	return &Error{Status: s, Msg: msg}
}
