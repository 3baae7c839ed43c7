// Package admin is the node admin API of clusterd: HTTP with JSON bodies on
// a unix socket (mode 0600) or on TCP with mutual TLS, through which
// operators read and change the node-local registry. Server serves it, Client
// calls it, and every request either applies completely or changes nothing.
//
// # Addresses
//
// An address is "unix:PATH" or "tcp:HOST:PORT" (cluster.toml's node.admin).
// Listen creates the unix socket with mode 0600, refuses a path where a live
// server answers or that is not a socket, and removes a stale socket that
// nobody listens on. A TCP address needs a *tls.Config that requires client
// certificates (ServerTLS builds one), on a loopback address too: any local
// user can connect to a loopback port, and only the socket's mode keeps
// them out.
//
// # Endpoints
//
// All requests but /v1/info are POST with a JSON body and the header
// "Content-Type: application/json" (a request without it is refused with 415
// "unsupported_media_type": a web page can post form or text bodies to any
// address without the browser asking first, but not JSON); unknown fields
// are refused. Answers are JSON, except where noted. Key paths are backslash paths relative to
// the machine root ("SOFTWARE\Onyone"; "HKLM\" may prefix them); "" is the
// root. A value name "" is the key's default value.
//
//	GET  /v1/info                      → {"node":…,"version":…}
//	POST /v1/registry/get              {"key","name"}            → Value
//	POST /v1/registry/set              {"key","value":Value}     → {}
//	POST /v1/registry/delete-value     {"key","name"}            → {}
//	POST /v1/registry/delete-key       {"key"}                   → {} (the key and everything below it)
//	POST /v1/registry/list             {"key"}                   → {"key","subkeys":[…],"values":[Value…]}
//	POST /v1/registry/export           {"key","encoding"}        → the .reg file (utf-8 or utf-16)
//	POST /v1/registry/import           {"name","data"}           → ImportResult (data: the .reg file, base64)
//
// A Value is {"name":…, "type":…, "data":…}: type is one of string,
// expand_string, multi_string, dword, qword, binary or none; data is a JSON
// string, a list of strings, a number (or a string holding a decimal or 0x
// hex number), or a string of hex digits, respectively.
//
// Errors are answered with a status and {"error":"message","code":…}: 400
// "bad_request" (malformed path, unknown type, bad data, unknown field; the
// message names the key and value), 404 "not_found", 413 "too_large", 500
// "internal". The Client turns them into ErrBadRequest, ErrNotFound and
// ErrRemote; a node it cannot reach is ErrUnreachable.
//
// # Operators
//
// Every change (set, delete-value, delete-key, import) is logged with the
// operator who made it: "uid=N(name)" of the connecting process on the unix
// socket (SO_PEERCRED), "cn=NAME" of the client certificate on TCP.
// Config.OnChange receives each one as a Change, for the cluster event log.
package admin
