package wasm

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm/abi"
)

// hostFunc is one import of the resmon_v1 module. fn reads its arguments
// from stack and writes its result to stack[0]; it never trusts a pointer
// or a length, and copies whatever it reads out of the guest's memory.
type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(cs *callState, mem api.Memory, stack []uint64)
}

func params(n int) []api.ValueType {
	p := make([]api.ValueType, n)
	for i := range p {
		p[i] = i32
	}
	return p
}

var (
	resI32 = []api.ValueType{i32}
	resI64 = []api.ValueType{i64}
)

var hostFuncs = []hostFunc{
	{abi.ImportInputRead, params(2), resI32, hostInputRead},
	{abi.ImportOutputWrite, params(2), resI32, hostOutputWrite},
	{abi.ImportSetErrorMessage, params(2), resI32, hostSetErrorMessage},
	{abi.ImportSetNeeded, params(1), resI32, hostSetNeeded},
	{abi.ImportLastError, params(2), resI32, hostLastError},
	{abi.ImportDeadline, nil, resI64, hostDeadline},
	{abi.ImportLog, params(5), resI32, hostLog},
	{abi.ImportProgress, params(2), resI32, hostProgress},
	{abi.ImportControl, params(6), resI32, hostControl},
	{abi.ImportFencingToken, nil, resI64, hostFencingToken},
	{abi.ImportRegGetValue, params(8), resI32, hostRegGetValue},
	{abi.ImportRegSetValue, params(7), resI32, hostRegSetValue},
	{abi.ImportRegDeleteValue, params(4), resI32, hostRegDeleteValue},
	{abi.ImportRegCreateKey, params(2), resI32, hostRegCreateKey},
	{abi.ImportRegDeleteKey, params(2), resI32, hostRegDeleteKey},
	{abi.ImportRegSubKeys, params(5), resI32, hostRegSubKeys},
	{abi.ImportRegValues, params(5), resI32, hostRegValues},
	{abi.ImportProcStart, params(4), resI32, hostProcStart},
	{abi.ImportProcSignal, params(2), resI32, hostProcSignal},
	{abi.ImportProcStatus, params(2), resI32, hostProcStatus},
	{abi.ImportProcStop, params(1), resI32, hostProcStop},
}

// importSigs are the types of the imports, for checking modules at load.
var importSigs = func() map[string]signature {
	m := make(map[string]signature, len(hostFuncs))
	for _, f := range hostFuncs {
		m[f.name] = signature{f.params, f.results}
	}
	return m
}()

// hostModule builds the resmon_v1 module. Its functions find the call they
// serve in their context; outside a call (which the host never allows) they
// return ERROR_NOT_SUPPORTED.
func hostModule(rt wazero.Runtime) wazero.HostModuleBuilder {
	b := rt.NewHostModuleBuilder(abi.ModuleName)
	for _, f := range hostFuncs {
		b = b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			cs, _ := ctx.Value(callKey{}).(*callState)
			if cs == nil || mod.Memory() == nil {
				setStatus(stack, f.results, abi.StatusNotSupported)
				return
			}
			f.fn(cs, mod.Memory(), stack)
		}), f.params, f.results).Export(f.name)
	}
	return b
}

func setStatus(stack []uint64, results []api.ValueType, st abi.Status) {
	if len(results) == 1 && results[0] == i64 {
		stack[0] = uint64(int64(st))
		return
	}
	stack[0] = uint64(uint32(int32(st)))
}

func u32(v uint64) uint32 { return uint32(v) }

func ret(stack []uint64, v int32) { stack[0] = uint64(uint32(v)) }

// fail records err as the call's last host error and returns its status.
func (cs *callState) fail(err error) int32 {
	st, _ := abi.StatusOf(err)
	if st == abi.StatusOK {
		st = abi.StatusFailed
	}
	cs.lastErr = truncate(err.Error(), abi.MaxMessage)
	return int32(st)
}

func (cs *callState) failf(st abi.Status, format string, args ...any) int32 {
	cs.lastErr = truncate(fmt.Sprintf(format, args...), abi.MaxMessage)
	return int32(st)
}

func (cs *callState) result(err error) int32 {
	if err != nil {
		return cs.fail(err)
	}
	return int32(abi.StatusOK)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// read copies n bytes at ptr out of the guest's memory.
func (cs *callState) read(mem api.Memory, ptr, n uint32, what string) ([]byte, int32) {
	if n > abi.MaxPayload {
		return nil, cs.failf(abi.StatusInvalidParam, "%s: %d bytes is over the %d-byte limit", what, n, abi.MaxPayload)
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, cs.failf(abi.StatusBadPointer, "%s: %d bytes at %#x are outside the guest's %d-byte memory", what, n, ptr, mem.Size())
	}
	return bytes.Clone(b), 0
}

func (cs *callState) readString(mem api.Memory, ptr, n uint32, what string) (string, int32) {
	b, st := cs.read(mem, ptr, n, what)
	return string(b), st
}

// readPrefix copies at most max of the n bytes at ptr: for messages, which
// are cut rather than refused.
func (cs *callState) readPrefix(mem api.Memory, ptr, n, max uint32, what string) (string, int32) {
	return cs.readString(mem, ptr, minU32(n, max), what)
}

// writeOut answers into a caller buffer: the size of data goes to outLen;
// data goes to out when it fits in outCap, else ERROR_MORE_DATA.
func (cs *callState) writeOut(mem api.Memory, data []byte, out, outCap, outLen uint32) int32 {
	if len(data) > abi.MaxPayload {
		return cs.failf(abi.StatusNotEnoughMemory, "the result is %d bytes, over the %d-byte limit", len(data), abi.MaxPayload)
	}
	if !mem.WriteUint32Le(outLen, uint32(len(data))) {
		return cs.failf(abi.StatusBadPointer, "out_len at %#x is outside the guest's %d-byte memory", outLen, mem.Size())
	}
	if uint64(len(data)) > uint64(outCap) {
		return cs.failf(abi.StatusMoreData, "the result is %d bytes; the buffer holds %d", len(data), outCap)
	}
	if !mem.Write(out, data) {
		return cs.failf(abi.StatusBadPointer, "%d bytes at %#x are outside the guest's %d-byte memory", len(data), out, mem.Size())
	}
	return int32(abi.StatusOK)
}

// checkOut validates a caller buffer and its out_len before the import
// acts, so a bad pointer fails the import without side effects.
func (cs *callState) checkOut(mem api.Memory, out, outCap, outLen uint32) int32 {
	if _, ok := mem.Read(outLen, 4); !ok {
		return cs.failf(abi.StatusBadPointer, "out_len at %#x is outside the guest's %d-byte memory", outLen, mem.Size())
	}
	if _, ok := mem.Read(out, minU32(outCap, abi.MaxPayload)); !ok {
		return cs.failf(abi.StatusBadPointer, "the %d-byte buffer at %#x is outside the guest's %d-byte memory", outCap, out, mem.Size())
	}
	return 0
}

// checkU32 validates a pointer to a u32 result before the import acts.
func (cs *callState) checkU32(mem api.Memory, ptr uint32, what string) int32 {
	if _, ok := mem.Read(ptr, 4); !ok {
		return cs.failf(abi.StatusBadPointer, "%s at %#x is outside the guest's %d-byte memory", what, ptr, mem.Size())
	}
	return 0
}

func hostInputRead(cs *callState, mem api.Memory, stack []uint64) {
	ptr, capacity := u32(stack[0]), u32(stack[1])
	rest := cs.input[cs.inPos:]
	n := minU32(capacity, uint32(len(rest)))
	if !mem.Write(ptr, rest[:n]) {
		ret(stack, cs.failf(abi.StatusBadPointer, "input_read: %d bytes at %#x are outside the guest's %d-byte memory", n, ptr, mem.Size()))
		return
	}
	cs.inPos += int(n)
	ret(stack, int32(n))
}

func hostOutputWrite(cs *callState, mem api.Memory, stack []uint64) {
	ptr, n := u32(stack[0]), u32(stack[1])
	if uint64(len(cs.output))+uint64(n) > abi.MaxPayload {
		ret(stack, cs.failf(abi.StatusNotEnoughMemory, "output_write: the output would exceed %d bytes", abi.MaxPayload))
		return
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		ret(stack, cs.failf(abi.StatusBadPointer, "output_write: %d bytes at %#x are outside the guest's %d-byte memory", n, ptr, mem.Size()))
		return
	}
	cs.output = append(cs.output, b...) // append copies
	ret(stack, 0)
}

func hostSetErrorMessage(cs *callState, mem api.Memory, stack []uint64) {
	msg, st := cs.readPrefix(mem, u32(stack[0]), u32(stack[1]), abi.MaxMessage, "set_error_message")
	if st != 0 {
		ret(stack, st)
		return
	}
	cs.errMsg = msg
	ret(stack, 0)
}

func hostSetNeeded(cs *callState, _ api.Memory, stack []uint64) {
	cs.needed = int(u32(stack[0]))
	ret(stack, 0)
}

func hostLastError(cs *callState, mem api.Memory, stack []uint64) {
	ptr, capacity := u32(stack[0]), u32(stack[1])
	msg := cs.lastErr
	n := minU32(capacity, uint32(len(msg)))
	if !mem.WriteString(ptr, msg[:n]) {
		ret(stack, cs.failf(abi.StatusBadPointer, "last_error: %d bytes at %#x are outside the guest's %d-byte memory", n, ptr, mem.Size()))
		return
	}
	ret(stack, int32(len(msg)))
}

func hostDeadline(cs *callState, _ api.Memory, stack []uint64) {
	var d int64
	if t, ok := cs.Deadline(); ok {
		d = t.UnixNano()
	}
	stack[0] = uint64(d)
}

func hostLog(cs *callState, mem api.Memory, stack []uint64) {
	level := sdk.LogLevel(int32(u32(stack[0])))
	level = max(sdk.LevelTrace, min(level, sdk.LevelError))
	msg, st := cs.readPrefix(mem, u32(stack[1]), u32(stack[2]), abi.MaxMessage, "log message")
	if st != 0 {
		ret(stack, st)
		return
	}
	kv, st := cs.read(mem, u32(stack[3]), minU32(u32(stack[4]), abi.MaxMessage), "log key-values")
	if st != 0 {
		ret(stack, st)
		return
	}
	cs.in.d.cfg.Services.Log(cs.in.ref, level, msg, abi.DecodeKV(kv)...)
	ret(stack, 0)
}

func hostProgress(cs *callState, mem api.Memory, stack []uint64) {
	msg, st := cs.readPrefix(mem, u32(stack[0]), u32(stack[1]), abi.MaxMessage, "progress message")
	if st != 0 {
		ret(stack, st)
		return
	}
	ret(stack, cs.result(cs.in.d.cfg.Services.Progress(cs, cs.in.ref, msg)))
}

func hostControl(cs *callState, mem api.Memory, stack []uint64) {
	code := sdk.ControlCode(u32(stack[0]))
	in, st := cs.read(mem, u32(stack[1]), u32(stack[2]), "control input")
	if st != 0 {
		ret(stack, st)
		return
	}
	out, outCap, outLen := u32(stack[3]), u32(stack[4]), u32(stack[5])
	if st := cs.checkOut(mem, out, outCap, outLen); st != 0 {
		ret(stack, st)
		return
	}
	buf := make([]byte, minU32(outCap, abi.MaxPayload))
	n, err := cs.in.d.cfg.Services.Control(cs, cs.in.ref, code, in, buf)
	if err != nil {
		st, needed := abi.StatusOf(err)
		if st == abi.StatusMoreData && !mem.WriteUint32Le(outLen, uint32(needed)) {
			ret(stack, cs.failf(abi.StatusBadPointer, "control: out_len at %#x is outside the guest's memory", outLen))
			return
		}
		ret(stack, cs.fail(err))
		return
	}
	n = max(0, min(n, len(buf)))
	ret(stack, cs.writeOut(mem, buf[:n], out, outCap, outLen))
}

func hostFencingToken(cs *callState, _ api.Memory, stack []uint64) {
	t, err := cs.in.d.cfg.Services.FencingToken(cs, cs.in.ref)
	if err != nil {
		stack[0] = uint64(int64(cs.fail(err)))
		return
	}
	if t < 0 {
		stack[0] = uint64(int64(cs.failf(abi.StatusFailed, "negative fencing token %d", t)))
		return
	}
	stack[0] = uint64(t)
}

// keyName reads the key and value name arguments of a registry import.
func (cs *callState) keyName(mem api.Memory, stack []uint64, withName bool) (key, name string, st int32) {
	if key, st = cs.readString(mem, u32(stack[0]), u32(stack[1]), "registry key"); st != 0 || !withName {
		return
	}
	name, st = cs.readString(mem, u32(stack[2]), u32(stack[3]), "registry value name")
	return
}

func (cs *callState) registry() sdk.Registry { return cs.in.d.cfg.Services.Registry() }

func hostRegGetValue(cs *callState, mem api.Memory, stack []uint64) {
	key, name, st := cs.keyName(mem, stack, true)
	if st != 0 {
		ret(stack, st)
		return
	}
	typ, out, outCap, outLen := u32(stack[4]), u32(stack[5]), u32(stack[6]), u32(stack[7])
	if st := cs.checkU32(mem, typ, "type_out"); st != 0 {
		ret(stack, st)
		return
	}
	if st := cs.checkOut(mem, out, outCap, outLen); st != 0 {
		ret(stack, st)
		return
	}
	v, err := cs.registry().GetValue(cs, key, name)
	if err != nil {
		ret(stack, cs.fail(err))
		return
	}
	data, err := abi.EncodeValueData(v)
	if err != nil {
		ret(stack, cs.fail(err))
		return
	}
	if !mem.WriteUint32Le(typ, uint32(v.Type)) {
		ret(stack, cs.failf(abi.StatusBadPointer, "reg_get_value: type_out at %#x is outside the guest's memory", typ))
		return
	}
	ret(stack, cs.writeOut(mem, data, out, outCap, outLen))
}

func hostRegSetValue(cs *callState, mem api.Memory, stack []uint64) {
	key, name, st := cs.keyName(mem, stack, true)
	if st != 0 {
		ret(stack, st)
		return
	}
	data, st := cs.read(mem, u32(stack[5]), u32(stack[6]), "registry value data")
	if st != 0 {
		ret(stack, st)
		return
	}
	v, err := abi.DecodeValueData(name, sdk.ValueType(u32(stack[4])), data)
	if err != nil {
		ret(stack, cs.fail(err))
		return
	}
	ret(stack, cs.result(cs.registry().SetValue(cs, key, name, v)))
}

func hostRegDeleteValue(cs *callState, mem api.Memory, stack []uint64) {
	key, name, st := cs.keyName(mem, stack, true)
	if st != 0 {
		ret(stack, st)
		return
	}
	ret(stack, cs.result(cs.registry().DeleteValue(cs, key, name)))
}

func hostRegCreateKey(cs *callState, mem api.Memory, stack []uint64) {
	key, _, st := cs.keyName(mem, stack, false)
	if st != 0 {
		ret(stack, st)
		return
	}
	ret(stack, cs.result(cs.registry().CreateKey(cs, key)))
}

func hostRegDeleteKey(cs *callState, mem api.Memory, stack []uint64) {
	key, _, st := cs.keyName(mem, stack, false)
	if st != 0 {
		ret(stack, st)
		return
	}
	ret(stack, cs.result(cs.registry().DeleteKey(cs, key)))
}

func hostRegSubKeys(cs *callState, mem api.Memory, stack []uint64) {
	regList(cs, mem, stack, func(key string) ([]byte, error) {
		keys, err := cs.registry().SubKeys(cs, key)
		if err != nil {
			return nil, err
		}
		return abi.EncodeStrList(keys)
	})
}

func hostRegValues(cs *callState, mem api.Memory, stack []uint64) {
	regList(cs, mem, stack, func(key string) ([]byte, error) {
		vs, err := cs.registry().Values(cs, key)
		if err != nil {
			return nil, err
		}
		return abi.EncodeValues(vs)
	})
}

// regList answers a registry listing import: the key path in, the caller's
// out buffer checked before the registry is read, the encoded list out.
func regList(cs *callState, mem api.Memory, stack []uint64, list func(key string) ([]byte, error)) {
	key, _, st := cs.keyName(mem, stack, false)
	if st != 0 {
		ret(stack, st)
		return
	}
	out, outCap, outLen := u32(stack[2]), u32(stack[3]), u32(stack[4])
	if st := cs.checkOut(mem, out, outCap, outLen); st != 0 {
		ret(stack, st)
		return
	}
	data, err := list(key)
	if err != nil {
		ret(stack, cs.fail(err))
		return
	}
	ret(stack, cs.writeOut(mem, data, out, outCap, outLen))
}

func hostProcStart(cs *callState, mem api.Memory, stack []uint64) {
	command, st := cs.readString(mem, u32(stack[0]), u32(stack[1]), "command")
	if st != 0 {
		ret(stack, st)
		return
	}
	args, st := cs.read(mem, u32(stack[2]), u32(stack[3]), "command arguments")
	if st != 0 {
		ret(stack, st)
		return
	}
	h, err := cs.in.procs.start(command, abi.DecodeStrList(args))
	if err != nil {
		ret(stack, cs.fail(err))
		return
	}
	ret(stack, h)
}

func hostProcSignal(cs *callState, _ api.Memory, stack []uint64) {
	ret(stack, cs.result(cs.in.procs.signal(int32(u32(stack[0])), int32(u32(stack[1])))))
}

func hostProcStatus(cs *callState, mem api.Memory, stack []uint64) {
	if st := cs.checkU32(mem, u32(stack[1]), "exit_code_out"); st != 0 {
		ret(stack, st)
		return
	}
	running, code, err := cs.in.procs.status(int32(u32(stack[0])))
	if err != nil {
		ret(stack, cs.fail(err))
		return
	}
	if running {
		ret(stack, 1)
		return
	}
	if !mem.WriteUint32Le(u32(stack[1]), uint32(int32(code))) {
		ret(stack, cs.failf(abi.StatusBadPointer, "proc_status: exit_code_out at %#x is outside the guest's memory", u32(stack[1])))
		return
	}
	ret(stack, 0)
}

func hostProcStop(cs *callState, _ api.Memory, stack []uint64) {
	ctx, cancel := context.WithTimeout(cs, 10*time.Second)
	defer cancel()
	ret(stack, cs.result(cs.in.procs.stop(ctx, int32(u32(stack[0])))))
}
