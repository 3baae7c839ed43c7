package wasm

import (
	"context"

	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/sdk/wasm/abi"
)

// Busy reports whether a call into inst is in progress.
func Busy(inst plugins.Instance) bool { return inst.(*instance).busy.Load() != nil }

// GuestMemoryBytes is the size of inst's current linear memory (0 if none).
func GuestMemoryBytes(inst plugins.Instance) uint32 {
	in := inst.(*instance)
	in.sem <- struct{}{}
	defer func() { <-in.sem }()
	if in.cur == nil {
		return 0
	}
	return in.cur.mod.Memory().Size()
}

// LoadType loads t without opening a resource.
func LoadType(ctx context.Context, d *Driver, t plugins.TypeSpec) error {
	_, err := d.load(ctx, t)
	return err
}

// ModOpts shapes a module made by GenModule.
type ModOpts struct {
	Version  int32    // resmon_abi_version result (default abi.Version)
	Omit     string   // an export to leave out
	Start    bool     // also export _start
	Imports  []string // extra imports "module.name" of type () -> ()
	NoMemory bool
	// LooksAlive is the resmon_looks_alive result (default 1).
	LooksAlive int32
	MinPages   uint32 // memory minimum (default 1)
}

// GenModule assembles a minimal resource type module: every export returns
// a constant. Tests use it for modules the toolchains would not produce.
func GenModule(o ModOpts) []byte {
	if o.Version == 0 {
		o.Version = abi.Version
	}
	if o.LooksAlive == 0 {
		o.LooksAlive = 1
	}
	if o.MinPages == 0 {
		o.MinPages = 1
	}
	const (
		tVoid   = 0 // () -> ()
		tI32    = 1 // () -> i32
		tH      = 2 // (i32) -> i32
		tCtl    = 3 // (i32, i32, i32) -> i32
		i32Type = 0x7f
	)
	types := [][]byte{
		{0x60, 0, 0},
		{0x60, 0, 1, i32Type},
		{0x60, 1, i32Type, 1, i32Type},
		{0x60, 3, i32Type, i32Type, i32Type, 1, i32Type},
	}
	type fn struct {
		name string
		typ  byte
		ret  int32
		void bool
	}
	fns := []fn{
		{abi.ExportInitialize, tVoid, 0, true},
		{abi.ExportABIVersion, tI32, o.Version, false},
		{abi.ExportOpen, tH, 1, false},
		{abi.ExportOnline, tH, 0, false},
		{abi.ExportOffline, tH, 0, false},
		{abi.ExportTerminate, tH, 0, false},
		{abi.ExportLooksAlive, tH, o.LooksAlive, false},
		{abi.ExportIsAlive, tH, 1, false},
		{abi.ExportControl, tCtl, -1, false},
		{abi.ExportClose, tH, 0, false},
	}
	if o.Start {
		fns = append(fns, fn{abi.ExportStart, tVoid, 0, true})
	}
	str := func(b []byte, s string) []byte { return append(appendLEB(b, uint32(len(s))), s...) }
	section := func(out []byte, id byte, body []byte) []byte {
		return append(appendLEB(append(out, id), uint32(len(body))), body...)
	}
	vec := func(items [][]byte) []byte {
		b := appendLEB(nil, uint32(len(items)))
		for _, it := range items {
			b = append(b, it...)
		}
		return b
	}
	out := append([]byte{}, wasmMagic...)
	out = section(out, 1, vec(types))
	var imports [][]byte
	for _, imp := range o.Imports {
		mod, name, _ := cut(imp)
		imports = append(imports, append(str(str(nil, mod), name), 0x00, tVoid))
	}
	if len(imports) > 0 {
		out = section(out, 2, vec(imports))
	}
	var funcs, exports, codes [][]byte
	nImports := uint32(len(imports))
	for i, f := range fns {
		funcs = append(funcs, []byte{f.typ})
		if f.name != o.Omit {
			exports = append(exports, append(str(nil, f.name), append([]byte{0x00}, appendLEB(nil, nImports+uint32(i))...)...))
		}
		body := []byte{0} // no locals
		if !f.void {
			body = append(body, 0x41)
			body = appendSLEB(body, f.ret)
		}
		body = append(body, 0x0b)
		codes = append(codes, append(appendLEB(nil, uint32(len(body))), body...))
	}
	out = section(out, 3, vec(funcs))
	if !o.NoMemory {
		out = section(out, 5, vec([][]byte{append([]byte{0x00}, appendLEB(nil, o.MinPages)...)}))
		exports = append(exports, append(str(nil, abi.ExportMemory), 0x02, 0))
	}
	out = section(out, 7, vec(exports))
	out = section(out, 10, vec(codes))
	return out
}

func cut(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func appendSLEB(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// SharedImageBytes is the size of the initial memory image the instances
// of t share (0: the type's module keeps its data segments).
func SharedImageBytes(ctx context.Context, d *Driver, t plugins.TypeSpec) (uint64, error) {
	mt, err := d.load(ctx, t)
	if err != nil || mt.image == nil {
		return 0, err
	}
	return mt.image.size, nil
}

// KeptFunctions names the entry points whose functions inst's current
// module instance keeps between calls.
func KeptFunctions(inst plugins.Instance) []string {
	in := inst.(*instance)
	in.sem <- struct{}{}
	defer func() { <-in.sem }()
	var names []string
	if in.cur != nil {
		for e, f := range in.cur.fns {
			if f != nil {
				names = append(names, entry(e).String())
			}
		}
	}
	return names
}
