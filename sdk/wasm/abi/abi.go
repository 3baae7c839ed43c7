// Package abi holds the constants and encodings of the resmon WebAssembly
// ABI, shared by the guest bindings (sdk/wasm) and the host (plugins/wasm).
// ABI.md in the parent directory is the normative description; this package
// is its Go rendering and must stay in step with it and with resmon.h.
//
// The package is plain Go: it builds for any GOOS and pulls in neither
// wazero nor anything of the host.
package abi

// Version is the ABI version this package describes. A guest exports it from
// ExportABIVersion; a host refuses a module whose version differs.
const Version = 1

// ModuleName is the import module that holds the host functions of this
// version. A later, incompatible ABI gets a new module name (resmon_v2), so
// an old host refuses a new guest at instantiation, naming the import.
const ModuleName = "resmon_v1"

// Exports a guest provides. Every entry point but resmon_open takes the
// resource handle that resmon_open returned.
const (
	ExportInitialize = "_initialize" // reactor initialisation; the host calls it once, first
	ExportStart      = "_start"      // command entry point: a module with it is refused
	ExportMemory     = "memory"      // the guest's linear memory

	ExportABIVersion = "resmon_abi_version" // () -> i32
	ExportOpen       = "resmon_open"        // (in_len i32) -> i32 handle > 0, or status < 0
	ExportOnline     = "resmon_online"      // (h i32) -> i32 status
	ExportOffline    = "resmon_offline"     // (h i32) -> i32 status
	ExportTerminate  = "resmon_terminate"   // (h i32) -> i32 status
	ExportLooksAlive = "resmon_looks_alive" // (h i32) -> i32 1 alive, 0 not, status < 0
	ExportIsAlive    = "resmon_is_alive"    // (h i32) -> i32 1 alive, 0 not, status < 0
	ExportControl    = "resmon_control"     // (h i32, code i32, in_len i32) -> i32 status (optional)
	ExportClose      = "resmon_close"       // (h i32) -> i32 status
)

// Imports the host provides under ModuleName. Pointers and lengths are i32
// offsets and byte counts in the guest's memory; "out_len" arguments point
// at a little-endian u32 the host writes.
const (
	ImportInputRead       = "input_read"        // (ptr, cap) -> i32 bytes copied, 0 at the end
	ImportOutputWrite     = "output_write"      // (ptr, len) -> i32 status
	ImportSetErrorMessage = "set_error_message" // (ptr, len) -> i32 status
	ImportSetNeeded       = "set_needed"        // (n) -> i32 status
	ImportLastError       = "last_error"        // (ptr, cap) -> i32 full length of the message
	ImportDeadline        = "deadline"          // () -> i64 unix nanoseconds, 0: none
	ImportLog             = "log"               // (level, msg_ptr, msg_len, kv_ptr, kv_len) -> i32 status
	ImportProgress        = "progress"          // (msg_ptr, msg_len) -> i32 status
	ImportControl         = "control"           // (code, in_ptr, in_len, out_ptr, out_cap, out_len) -> i32 status
	ImportFencingToken    = "fencing_token"     // () -> i64 token ≥ 0, or status < 0

	ImportRegGetValue    = "reg_get_value"    // (key_ptr, key_len, name_ptr, name_len, type_out, out_ptr, out_cap, out_len) -> i32
	ImportRegSetValue    = "reg_set_value"    // (key_ptr, key_len, name_ptr, name_len, type, data_ptr, data_len) -> i32
	ImportRegDeleteValue = "reg_delete_value" // (key_ptr, key_len, name_ptr, name_len) -> i32
	ImportRegCreateKey   = "reg_create_key"   // (key_ptr, key_len) -> i32
	ImportRegDeleteKey   = "reg_delete_key"   // (key_ptr, key_len) -> i32
	ImportRegSubKeys     = "reg_sub_keys"     // (key_ptr, key_len, out_ptr, out_cap, out_len) -> i32
	ImportRegValues      = "reg_values"       // (key_ptr, key_len, out_ptr, out_cap, out_len) -> i32

	ImportProcStart  = "proc_start"  // (cmd_ptr, cmd_len, args_ptr, args_len) -> i32 handle > 0, or status < 0
	ImportProcSignal = "proc_signal" // (h, signal) -> i32 status
	ImportProcStatus = "proc_status" // (h, exit_code_out) -> i32 1 running, 0 exited, status < 0
	ImportProcStop   = "proc_stop"   // (h) -> i32 status
)

// Limits of the boundary. A payload larger than MaxPayload is refused with
// StatusInvalidParameter (host input) or StatusNotEnoughMemory (guest output).
const (
	MaxPayload   = 16 << 20 // bytes of one input, output or host-import argument
	MaxMessage   = 64 << 10 // bytes of an error message or log line kept
	MaxDepth     = 32       // nesting of lists and tables in an Open payload
	MaxProcesses = 64       // child processes one resource may have at a time
)

// Signals a guest may send to its child processes with proc_signal (Linux
// numbers). Others get StatusInvalidParameter.
const (
	SIGHUP  = 1
	SIGINT  = 2
	SIGQUIT = 3
	SIGKILL = 9
	SIGUSR1 = 10
	SIGUSR2 = 12
	SIGTERM = 15
	SIGCONT = 18
	SIGSTOP = 19
)

// AllowedSignal reports whether a guest may send sig.
func AllowedSignal(sig int32) bool {
	switch sig {
	case SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM, SIGCONT, SIGSTOP:
		return true
	}
	return false
}
