// Package wasm is the guest side of WebAssembly resource types: it turns a
// Go sdk.ResourceType into a module the resmon WASM host (plugins/wasm) can
// load, through the ABI described in ABI.md.
//
// Register the type from an init function of package main and build with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o mytype.wasm ./cmd/mytype-wasm
//
// where the main package is
//
//	package main
//
//	import (
//		"example.com/mytype"
//		"github.com/resmon/resmon/sdk/wasm"
//	)
//
//	func init() { wasm.Register(mytype.Type{}) }
//
//	func main() {} // never called in a c-shared (reactor) module
//
// The same author code builds as a go-plugin executable with sdk/plugin.
// Everything here except this documentation needs GOOS=wasip1; the package
// imports nothing of wazero or of the host.
//
// # Notes
//
//   - A WASM guest has no ambient authority: no environment, no network, and
//     files only under the directories its type was granted (cluster.toml
//     "dirs"; other paths fail with a permission error). Child processes are
//     started through the host with StartProcess, from the type's allowlist
//     ("commands"); os/exec does not work in a guest.
//   - The module is single-threaded: the host makes one call at a time into
//     an instance, and goroutines of the guest run only while an entry point
//     runs. Terminate cannot interrupt a running entry point from inside the
//     guest: when one is running, the host interrupts the instance, starts a
//     fresh one, opens the resource again and calls Terminate there.
//   - Each entry point gets a context whose deadline is the host's deadline
//     for the call. A guest that blocks with nothing to wake it (no deadline,
//     no timer) is stopped by the Go runtime ("all goroutines are asleep"),
//     which the host reports as a crashed instance.
//   - A panic is not recovered: it crashes the instance, which the host
//     discards and replaces for the next call, as a go-plugin host would
//     restart a crashed plugin process.
package wasm
