package admin

import "errors"

var (
	// ErrBadAddress reports an admin address that is not unix:PATH or tcp:HOST:PORT.
	ErrBadAddress = errors.New("admin: bad address")
	// ErrInUse reports a socket path where another server answers, or that
	// holds something other than a socket: Listen does not remove it.
	ErrInUse = errors.New("admin: socket path is in use")
	// ErrInsecure reports a TCP listener without TLS that requires client
	// certificates (on a loopback address too).
	ErrInsecure = errors.New("admin: a TCP admin address needs mutual TLS")
	// ErrMediaType reports a request whose body is not JSON: the server
	// refuses it (415) so that a web page cannot post to the API.
	ErrMediaType = errors.New("admin: the request body must be application/json")
	// ErrBadRequest reports a request the node refused as malformed; nothing
	// was changed.
	ErrBadRequest = errors.New("admin: bad request")
	// ErrNotFound reports a registry key or value that does not exist.
	ErrNotFound = errors.New("admin: not found")
	// ErrUnreachable reports a node whose admin API could not be reached.
	ErrUnreachable = errors.New("admin: node is unreachable")
	// ErrRemote reports a failure on the node's side.
	ErrRemote = errors.New("admin: the node failed the request")
	// ErrNoRegistry reports a server Config without a registry.
	ErrNoRegistry = errors.New("admin: no registry to serve")
)
