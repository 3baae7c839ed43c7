package wasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/pluginstest"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/wasm/abi"
)

// quietServices drops log lines, so fuzzing does not accumulate them.
type quietServices struct{ *pluginstest.Services }

func (quietServices) Log(model.Ref, sdk.LogLevel, string, ...any) {}

// guestMemory instantiates a one-page module for driving host functions
// directly, as a guest would, with arbitrary arguments.
func guestMemory(tb testing.TB) api.Memory {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	tb.Cleanup(func() { rt.Close(ctx) })
	mod, err := rt.InstantiateWithConfig(ctx, GenModule(ModOpts{}), wazero.NewModuleConfig().WithName(""))
	if err != nil {
		tb.Fatal(err)
	}
	return mod.Memory()
}

func fakeCall(svc plugins.Services, input []byte) *callState {
	d := New(Config{Services: svc})
	in := &instance{d: d, mt: &moduleType{spec: plugins.TypeSpec{Name: "fuzz"}}, ref: model.Ref{ID: "r", Name: "fuzz"}, sem: make(chan struct{}, 1)}
	in.procs = newProcTable(in)
	return &callState{parent: context.Background(), in: in, input: input, done: make(chan struct{})}
}

var knownStatus = map[abi.Status]bool{}

func init() {
	for _, s := range []abi.Status{abi.StatusInvalidFunction, abi.StatusNotFound, abi.StatusAccessDenied, abi.StatusInvalidHandle,
		abi.StatusNotEnoughMemory, abi.StatusFailed, abi.StatusNotSupported, abi.StatusInvalidParam, abi.StatusAlreadyExists,
		abi.StatusMoreData, abi.StatusBadPointer, abi.StatusCancelled, abi.StatusTimeout, abi.StatusFenced} {
		knownStatus[s] = true
	}
}

func hostFuncByName(name string) hostFunc {
	for _, f := range hostFuncs {
		if f.name == name {
			return f
		}
	}
	panic(name)
}

// invoke calls host function f with args on mem and returns its result.
func invoke(t testing.TB, cs *callState, mem api.Memory, f hostFunc, args ...uint64) int64 {
	stack := make([]uint64, max(len(f.params), len(f.results), 1))
	copy(stack, args)
	f.fn(cs, mem, stack)
	if len(f.results) == 1 && f.results[0] == i64 {
		return int64(stack[0])
	}
	r := int32(uint32(stack[0]))
	if r < 0 && !knownStatus[abi.Status(r)] {
		t.Fatalf("%s returned unknown status %d", f.name, r)
	}
	return int64(r)
}

// FuzzHostImports feeds arbitrary guest-supplied pointers, lengths and
// payloads to every host function: none may panic, write outside the
// guest's memory, or return a status outside the ABI's table.
func FuzzHostImports(f *testing.F) {
	mem := guestMemory(f)
	size := mem.Size()
	le := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return b
	}
	for i := range hostFuncs {
		f.Add(uint8(i), le(0, 16, 32, 8, 64, 4, 128, 4), []byte("SOFTWARE\\x\x00name\x00"), []byte("input"))
		f.Add(uint8(i), le(size-2, 10, size-1, 0xffffffff, 0, 1<<24+1, size, 4), []byte{}, []byte("0123456789"))
		f.Add(uint8(i), le(0xfffffffc, 8, 0x7fffffff, 0x80000000, 65532, 4, 65535, 1), []byte{0xff}, []byte{})
	}
	f.Fuzz(func(t *testing.T, which uint8, args, image, input []byte) {
		hf := hostFuncs[int(which)%len(hostFuncs)]
		buf, _ := mem.Read(0, size)
		clear(buf)
		copy(buf, image)
		stack := make([]uint64, len(hf.params))
		for i := range stack {
			if 4*i+4 <= len(args) {
				stack[i] = uint64(binary.LittleEndian.Uint32(args[4*i:]))
			}
		}
		cs := fakeCall(quietServices{pluginstest.New()}, input)
		invoke(t, cs, mem, hf, stack...)
		if mem.Size() != size {
			t.Fatalf("%s changed the memory size", hf.name)
		}
		if cs.inPos > len(cs.input) || len(cs.output) > abi.MaxPayload || len(cs.errMsg) > abi.MaxMessage || len(cs.lastErr) > abi.MaxMessage {
			t.Fatalf("%s left an inconsistent call state", hf.name)
		}
	})
}

// FuzzLimitMemory: the memory-section rewriter never panics, and what it
// accepts stays a WebAssembly binary.
func FuzzLimitMemory(f *testing.F) {
	f.Add(GenModule(ModOpts{}), uint32(16))
	f.Add(GenModule(ModOpts{MinPages: 40}), uint32(16))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x05\x03\x01\x01\x02"), uint32(1))
	f.Fuzz(func(t *testing.T, bin []byte, pages uint32) {
		out, err := limitMemory(bin, pages)
		if err == nil && !bytes.HasPrefix(out, wasmMagic) {
			t.Fatalf("accepted a module without the magic")
		}
	})
}

// The cases the fuzzer looks for, spelled out.
func TestHostImportsCheckEveryPointer(t *testing.T) {
	mem := guestMemory(t)
	size := mem.Size()
	svc := pluginstest.New()
	cs := fakeCall(svc, []byte("0123456789"))

	// input_read past the end of memory: refused, nothing consumed.
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportInputRead), uint64(size-2), 10); r != int64(abi.StatusBadPointer) || cs.inPos != 0 {
		t.Fatalf("input_read at the end: %d, pos %d", r, cs.inPos)
	}
	// Truncated reads advance; the end reads 0.
	for _, want := range []int64{4, 4, 2, 0} {
		if r := invoke(t, cs, mem, hostFuncByName(abi.ImportInputRead), 100, 4); r != want {
			t.Fatalf("input_read: %d, want %d", r, want)
		}
	}
	// output_write with a length past memory.
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportOutputWrite), 0, uint64(size+1)); r != int64(abi.StatusBadPointer) {
		t.Fatalf("output_write: %d", r)
	}
	// An oversized argument is refused before reading; a message is cut to
	// its first MaxMessage bytes, which must still be inside memory.
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportControl), 1, 0, abi.MaxPayload+1, 0, 0, 200); r != int64(abi.StatusInvalidParam) {
		t.Fatalf("control with a huge input: %d", r)
	}
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportProgress), 1, abi.MaxPayload+1); r != int64(abi.StatusBadPointer) {
		t.Fatalf("progress with a huge message: %d", r)
	}
	// control: ERROR_MORE_DATA writes the size needed to out_len.
	mem.WriteString(0, `SOFTWARE\A`)
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportControl), uint64(sdk.AddRegistryCheckpoint), 0, 10, 0, 0, 200); r != 0 {
		t.Fatalf("add checkpoint: %d (%s)", r, cs.lastErr)
	}
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportControl), uint64(sdk.AddRegistryCheckpoint), 0, 10, 0, 0, 200); r != int64(abi.StatusAlreadyExists) {
		t.Fatalf("add again: %d", r)
	}
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportControl), uint64(sdk.GetRegistryCheckpoints), 0, 0, 300, 3, 200); r != int64(abi.StatusMoreData) {
		t.Fatalf("get into 3 bytes: %d", r)
	}
	if n, _ := mem.ReadUint32Le(200); n != 12 {
		t.Fatalf("needed %d, want 12", n)
	}
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportControl), uint64(sdk.GetRegistryCheckpoints), 0, 0, uint64(size-4), 64, 200); r != int64(abi.StatusBadPointer) {
		t.Fatalf("get into a buffer past the end: %d", r)
	}
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportControl), uint64(sdk.GetRegistryCheckpoints), 0, 0, 300, 64, uint64(size)); r != int64(abi.StatusBadPointer) {
		t.Fatalf("out_len past the end: %d", r)
	}
	// A bad out_len fails the import before it acts: no checkpoint added.
	mem.WriteString(0, `SOFTWARE\B`)
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportControl), uint64(sdk.AddRegistryCheckpoint), 0, 10, 0, 0, uint64(size-1)); r != int64(abi.StatusBadPointer) {
		t.Fatalf("add with a bad out_len: %d", r)
	}
	if got := svc.Checkpoints.List("r", false); len(got) != 1 {
		t.Fatalf("a failed import acted: %q", got)
	}
	// last_error copies what fits and returns the full length.
	full := invoke(t, cs, mem, hostFuncByName(abi.ImportLastError), 400, 5)
	if got, _ := mem.Read(400, 5); full != int64(len(cs.lastErr)) || string(got) != cs.lastErr[:5] {
		t.Fatalf("last_error: %d %q (%q)", full, got, cs.lastErr)
	}
	// reg_set_value with a DWORD of the wrong size.
	mem.WriteString(0, `SOFTWARE\A`+"v")
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportRegSetValue), 0, 10, 10, 1, uint64(sdk.DWord), 20, 3); r != int64(abi.StatusInvalidParam) {
		t.Fatalf("short dword: %d", r)
	}
	// Processes: nothing is allowed; an unknown handle is refused.
	mem.WriteString(0, "/bin/sh")
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportProcStart), 0, 7, 0, 0); r != int64(abi.StatusAccessDenied) {
		t.Fatalf("proc_start: %d", r)
	}
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportProcStatus), 7, 0); r != int64(abi.StatusInvalidHandle) {
		t.Fatalf("proc_status: %d", r)
	}
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportProcSignal), 7, 99); r != int64(abi.StatusInvalidParam) {
		t.Fatalf("proc_signal 99: %d", r)
	}
	// fencing_token and deadline are i64.
	svc.SetFencingToken("r", 77)
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportFencingToken)); r != 77 {
		t.Fatalf("fencing_token: %d", r)
	}
	if r := invoke(t, cs, mem, hostFuncByName(abi.ImportDeadline)); r != 0 {
		t.Fatalf("deadline without one: %d", r)
	}
}
