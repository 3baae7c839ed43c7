// Package wasm is the host side of WebAssembly resource types (kind "wasm"):
// a plugins.Driver that loads modules written against the resmon ABI
// (sdk/wasm/ABI.md) into one wazero runtime per node and runs one module
// instance per resource.
//
// A Driver compiles each type once, through a compilation cache kept in the
// node's data directory so that a restarted node loads its types without
// compiling them again. Each resource gets an instance of its own, with its
// own linear memory bounded by the type's memory limit (64 MiB,
// DefaultMemoryLimitPages, unless the type sets memory_limit_pages), real
// clocks and crypto/rand, and nothing else: no environment, no arguments
// beyond the type's name, no network, files only under the type's granted
// directories (each an os.Root: no symbolic link or ".." leads out), and
// child processes only from the type's allowed commands, through the host. Calls into an instance are serialized and bounded by the resource's
// DeadlockTimeout.
//
// # Notes
//
//   - Modules are pinned by sha256 (plugins.ErrChecksum). A module that is
//     not WebAssembly, lacks an export of the ABI, imports something the
//     host does not provide, or reports another ABI version is refused with
//     plugins.ErrBadModule, naming what is wrong.
//   - A trap, a guest exit or a deadline discards the resource's instance:
//     the call fails (plugins.ErrPluginExited, or plugins.ErrDeadlock at the
//     deadline) and the next call instantiates the module again and opens
//     the resource again with the same properties before running. Guest
//     memory does not survive that; child processes do, until Terminate or
//     Close.
//   - A guest that outgrows its memory limit traps ("out of memory") and
//     is discarded like any trap; other instances and the node go on.
//     Linear memories are mapped outside the Go heap (memalloc.go), so
//     the node's resident memory follows what guests use.
//   - Terminate never waits for a running call: it interrupts the instance
//     (the running call fails with plugins.ErrPluginExited, "interrupted by
//     Terminate"), opens the resource in a fresh instance, calls the guest's
//     terminate there, and kills the resource's child processes. When no
//     call runs, the guest's terminate runs in the current instance.
//   - Guest memory is copied on the way in and out; no slice into an
//     instance's memory outlives the host function that read it.
//   - The driver is Linux-only: child processes run in process groups of
//     their own and are killed with them. With Config.Tracker they run in
//     the resource's unit (plugins/proctrack: a cgroup, or sessions), get
//     SIGKILL when clusterd dies, and none starts past the node's
//     self-fencing deadline; the keeper kills them at that deadline.
package wasm
