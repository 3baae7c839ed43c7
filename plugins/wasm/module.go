package wasm

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/resmon/resmon/sdk/wasm/abi"
)

const wasiModule = "wasi_snapshot_preview1"

// signature is a function type in the notation of ABI.md.
type signature struct{ params, results []api.ValueType }

func (s signature) String() string {
	name := func(ts []api.ValueType) string {
		n := make([]string, len(ts))
		for i, t := range ts {
			n[i] = api.ValueTypeName(t)
		}
		return strings.Join(n, ", ")
	}
	return fmt.Sprintf("(%s) -> (%s)", name(s.params), name(s.results))
}

func sig(params []api.ValueType, results ...api.ValueType) signature {
	return signature{params, results}
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// entry identifies an export the host calls.
type entry int

const (
	entryOpen entry = iota
	entryOnline
	entryOffline
	entryTerminate
	entryLooksAlive
	entryIsAlive
	entryControl
	entryClose
	entryCount
)

var entryExports = [entryCount]string{
	entryOpen: abi.ExportOpen, entryOnline: abi.ExportOnline, entryOffline: abi.ExportOffline,
	entryTerminate: abi.ExportTerminate, entryLooksAlive: abi.ExportLooksAlive, entryIsAlive: abi.ExportIsAlive,
	entryControl: abi.ExportControl, entryClose: abi.ExportClose,
}

var entryNames = [entryCount]string{
	entryOpen: "Open", entryOnline: "Online", entryOffline: "Offline", entryTerminate: "Terminate",
	entryLooksAlive: "LooksAlive", entryIsAlive: "IsAlive", entryControl: "Control", entryClose: "Close",
}

func (e entry) String() string { return entryNames[e] }

// requiredExports are the functions every module exports, with their types.
var requiredExports = map[string]signature{
	abi.ExportABIVersion: sig(nil, i32),
	abi.ExportOpen:       sig([]api.ValueType{i32}, i32),
	abi.ExportOnline:     sig([]api.ValueType{i32}, i32),
	abi.ExportOffline:    sig([]api.ValueType{i32}, i32),
	abi.ExportTerminate:  sig([]api.ValueType{i32}, i32),
	abi.ExportLooksAlive: sig([]api.ValueType{i32}, i32),
	abi.ExportIsAlive:    sig([]api.ValueType{i32}, i32),
	abi.ExportClose:      sig([]api.ValueType{i32}, i32),
}

// optionalExports may be missing; when present they must have these types.
var optionalExports = map[string]signature{
	abi.ExportInitialize: sig(nil),
	abi.ExportControl:    sig([]api.ValueType{i32, i32, i32}, i32),
}

func sameSig(d api.FunctionDefinition, s signature) bool {
	return slices.Equal(d.ParamTypes(), s.params) && slices.Equal(d.ResultTypes(), s.results)
}

// checkModule checks a compiled module against the ABI before any instance
// exists, so a bad module is refused with a message naming what is wrong.
func checkModule(cm wazero.CompiledModule, mt *moduleType) error {
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		switch {
		case mod == wasiModule:
		case mod == abi.ModuleName:
			s, ok := importSigs[name]
			if !ok {
				return fmt.Errorf("imports %s.%s, which this host does not provide (see ABI.md)", mod, name)
			}
			if !sameSig(imp, s) {
				return fmt.Errorf("imports %s.%s with type %s, want %s", mod, name, sig(imp.ParamTypes(), imp.ResultTypes()...), s)
			}
		case strings.HasPrefix(mod, "resmon_v"):
			return fmt.Errorf("imports %s.%s: the module was built for resmon ABI %s; this host implements ABI %d (%s)",
				mod, name, strings.TrimPrefix(mod, "resmon_v"), abi.Version, abi.ModuleName)
		default:
			return fmt.Errorf("imports %s.%s: a resource type may import only %s and %s", mod, name, abi.ModuleName, wasiModule)
		}
	}
	if m := cm.ImportedMemories(); len(m) > 0 {
		mod, name, _ := m[0].Import()
		return fmt.Errorf("imports its memory (%s.%s): a resource type must define and export its own", mod, name)
	}
	exports := cm.ExportedFunctions()
	if _, ok := exports[abi.ExportStart]; ok {
		return fmt.Errorf("exports %s: it is a command module; build a reactor (Go: -buildmode=c-shared; clang: -mexec-model=reactor)", abi.ExportStart)
	}
	if _, ok := cm.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("does not export its memory as %q", abi.ExportMemory)
	}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(requiredExports)) {
		d, ok := exports[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if s := requiredExports[name]; !sameSig(d, s) {
			return fmt.Errorf("exports %s with type %s, want %s", name, sig(d.ParamTypes(), d.ResultTypes()...), s)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("is not a resmon resource type: missing export %s (ABI %d)", strings.Join(missing, ", "), abi.Version)
	}
	for name, s := range optionalExports {
		if d, ok := exports[name]; ok && !sameSig(d, s) {
			return fmt.Errorf("exports %s with type %s, want %s", name, sig(d.ParamTypes(), d.ResultTypes()...), s)
		}
	}
	_, mt.hasInit = exports[abi.ExportInitialize]
	_, mt.hasCtl = exports[abi.ExportControl]
	return nil
}
