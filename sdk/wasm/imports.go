//go:build wasip1

package wasm

import "unsafe"

// The host functions of ABI.md, module resmon_v1.

//go:wasmimport resmon_v1 input_read
func hostInputRead(ptr unsafe.Pointer, cap uint32) int32

//go:wasmimport resmon_v1 output_write
func hostOutputWrite(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport resmon_v1 set_error_message
func hostSetErrorMessage(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport resmon_v1 set_needed
func hostSetNeeded(n uint32) int32

//go:wasmimport resmon_v1 last_error
func hostLastError(ptr unsafe.Pointer, cap uint32) int32

//go:wasmimport resmon_v1 deadline
func hostDeadline() int64

//go:wasmimport resmon_v1 log
func hostLog(level int32, msg unsafe.Pointer, msgLen uint32, kv unsafe.Pointer, kvLen uint32) int32

//go:wasmimport resmon_v1 progress
func hostProgress(msg unsafe.Pointer, msgLen uint32) int32

//go:wasmimport resmon_v1 control
func hostControl(code uint32, in unsafe.Pointer, inLen uint32, out unsafe.Pointer, outCap uint32, outLen *uint32) int32

//go:wasmimport resmon_v1 fencing_token
func hostFencingToken() int64

//go:wasmimport resmon_v1 reg_get_value
func hostRegGetValue(key unsafe.Pointer, keyLen uint32, name unsafe.Pointer, nameLen uint32, typ *uint32, out unsafe.Pointer, outCap uint32, outLen *uint32) int32

//go:wasmimport resmon_v1 reg_set_value
func hostRegSetValue(key unsafe.Pointer, keyLen uint32, name unsafe.Pointer, nameLen uint32, typ uint32, data unsafe.Pointer, dataLen uint32) int32

//go:wasmimport resmon_v1 reg_delete_value
func hostRegDeleteValue(key unsafe.Pointer, keyLen uint32, name unsafe.Pointer, nameLen uint32) int32

//go:wasmimport resmon_v1 reg_create_key
func hostRegCreateKey(key unsafe.Pointer, keyLen uint32) int32

//go:wasmimport resmon_v1 reg_delete_key
func hostRegDeleteKey(key unsafe.Pointer, keyLen uint32) int32

//go:wasmimport resmon_v1 reg_sub_keys
func hostRegSubKeys(key unsafe.Pointer, keyLen uint32, out unsafe.Pointer, outCap uint32, outLen *uint32) int32

//go:wasmimport resmon_v1 reg_values
func hostRegValues(key unsafe.Pointer, keyLen uint32, out unsafe.Pointer, outCap uint32, outLen *uint32) int32

//go:wasmimport resmon_v1 proc_start
func hostProcStart(cmd unsafe.Pointer, cmdLen uint32, args unsafe.Pointer, argsLen uint32) int32

//go:wasmimport resmon_v1 proc_signal
func hostProcSignal(h int32, sig int32) int32

//go:wasmimport resmon_v1 proc_status
func hostProcStatus(h int32, exitCode *int32) int32

//go:wasmimport resmon_v1 proc_stop
func hostProcStop(h int32) int32

// sp and bp point at the bytes of a string or slice (nil when empty); the
// host copies them before the import returns.
func sp(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func bp(b []byte) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))
}
