package wasm

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// wasmSection is one section of a hand-made module.
func wasmSection(id byte, content ...byte) []byte {
	return append(appendLEB([]byte{id}, uint32(len(content))), content...)
}

// wasmModule joins sections after the magic.
func wasmModule(sections ...[]byte) []byte {
	out := append([]byte(nil), wasmMagic...)
	for _, s := range sections {
		out = append(out, s...)
	}
	return out
}

var (
	memory1Page = wasmSection(sectionMemory, 1, 0, 1)                                                                                          // one memory, min 1 page
	exportMem   = wasmSection(7, 1, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0)                                                                     // export "memory"
	data2       = wasmSection(sectionData, 2, 0, opI32Const, 16, opEnd, 3, 'a', 'b', 'c', 0, opI32Const, 0x80, 0xc0, 0x00, opEnd, 2, 'x', 'y') // "abc" at 16, "xy" at 8192
)

func TestSplitData(t *testing.T) {
	page := os.Getpagesize()
	tests := []struct {
		name  string
		bin   []byte
		image int // expected image size; 0: the module is kept as it is
	}{
		{"active segments", wasmModule(memory1Page, exportMem, data2), (8194 + page - 1) / page * page},
		{"memory index given", wasmModule(memory1Page, wasmSection(sectionData, 1, 2, 0, opI32Const, 4, opEnd, 1, 'z')), page},
		{"passive segment", wasmModule(memory1Page, wasmSection(sectionData, 1, 1, 1, 'p')), 0},
		{"offset from a global", wasmModule(memory1Page, wasmSection(sectionData, 1, 0, 0x23, 0, opEnd, 1, 'g')), 0},
		{"data count section", wasmModule(memory1Page, wasmSection(sectionDataCount, 1), wasmSection(sectionData, 1, 0, opI32Const, 0, opEnd, 1, 'c')), 0},
		{"no memory defined (imported)", wasmModule(wasmSection(sectionData, 1, 0, opI32Const, 0, opEnd, 1, 'i')), 0},
		{"image past the initial memory", wasmModule(memory1Page, wasmSection(sectionData, 1, 0, opI32Const, 0xff, 0xff, 0x03, opEnd, 2, 'h', 'i')), 0},
		{"negative offset", wasmModule(memory1Page, wasmSection(sectionData, 1, 0, opI32Const, 0x7f, opEnd, 1, 'n')), 0},
		{"no data", wasmModule(memory1Page), 0},
		{"truncated segment", wasmModule(memory1Page, wasmSection(sectionData, 1, 0, opI32Const, 0, opEnd, 9, 'x')), 0},
		{"truncated section", append(wasmModule(memory1Page), sectionData, 40, 1), 0},
		{"not a module", []byte("hello"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, image := splitData(tt.bin)
			if len(image) != tt.image {
				t.Fatalf("image of %d bytes, want %d", len(image), tt.image)
			}
			if image == nil && !bytes.Equal(out, tt.bin) {
				t.Fatal("a module that does not qualify was changed")
			}
			if image != nil && len(out) >= len(tt.bin) {
				t.Fatalf("the data section is still there: %x", out)
			}
		})
	}
}

// TestSharedImageIsCopyOnWrite: instances of a module whose segments were
// taken out see them where wazero would have put them, and a write in one
// instance is not seen by another.
func TestSharedImageIsCopyOnWrite(t *testing.T) {
	ctx := context.Background()
	bin, image := splitData(wasmModule(memory1Page, exportMem, data2))
	if image == nil {
		t.Fatal("no image")
	}
	im, err := newMemoryImage("test", image)
	if err != nil {
		t.Fatal(err)
	}
	defer im.close()
	for _, alloc := range []experimental.MemoryAllocator{im.allocator(),
		// the Go-heap fallback, for a memory that cannot be reserved
		experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory { return &heapMemory{max: max, image: im.data} })} {
		rt := wazero.NewRuntime(ctx)
		cm, err := rt.CompileModule(ctx, bin)
		if err != nil {
			t.Fatal(err)
		}
		a, err := rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), cm, wazero.NewModuleConfig().WithName("a"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), cm, wazero.NewModuleConfig().WithName("b"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []struct {
			off  uint32
			want string
		}{{16, "abc"}, {8192, "xy"}, {0, "\x00\x00"}, {20000, "\x00"}} {
			got, ok := a.Memory().Read(m.off, uint32(len(m.want)))
			if !ok || string(got) != m.want {
				t.Errorf("memory at %d = %q, want %q", m.off, got, m.want)
			}
		}
		a.Memory().Write(16, []byte("ABC"))
		if got, _ := b.Memory().Read(16, 3); string(got) != "abc" {
			t.Errorf("instance b sees %q after instance a wrote; want its own abc", got)
		}
		if got, _ := a.Memory().Read(16, 3); string(got) != "ABC" {
			t.Errorf("instance a reads back %q", got)
		}
		if _, ok := a.Memory().Grow(1); !ok {
			t.Error("the memory does not grow past the image")
		}
		rt.Close(ctx)
	}
}

// FuzzSplitData: the data-section splitter never panics, never changes a
// module it does not split, and what it splits puts every byte of the
// image where the segments say.
func FuzzSplitData(f *testing.F) {
	f.Add(wasmModule(memory1Page, exportMem, data2))
	f.Add(wasmModule(memory1Page, wasmSection(sectionData, 1, 1, 1, 'p')))
	f.Add(GenModule(ModOpts{}))
	f.Fuzz(func(t *testing.T, bin []byte) {
		out, image := splitData(bin)
		if image == nil {
			if !bytes.Equal(out, bin) {
				t.Fatal("changed a module it did not split")
			}
			return
		}
		if len(image)%os.Getpagesize() != 0 || len(out) >= len(bin) {
			t.Fatalf("image of %d bytes, module %d → %d bytes", len(image), len(bin), len(out))
		}
	})
}
