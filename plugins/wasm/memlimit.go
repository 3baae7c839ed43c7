package wasm

import (
	"bytes"
	"errors"
	"fmt"
)

// The memory limit of a type is written into its module: the maximum of
// every memory the module defines is lowered to the limit before the module
// is compiled, so memory.grow past it fails inside the guest (malloc returns
// NULL, the Go runtime reports "out of memory") and the node's one runtime
// can still hold types with different limits.

const wasmPageSize = 64 << 10

var wasmMagic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

const sectionMemory = 5

// errMemMinTooLarge is wrapped when a module needs more than its limit.
var errMemMinTooLarge = errors.New("needs more memory than its limit")

// limitMemory returns bin with the maximum of each memory it defines set to
// at most pages. It fails when bin is not a WebAssembly binary, or a memory's
// initial size is already over pages.
func limitMemory(bin []byte, pages uint32) ([]byte, error) {
	if len(bin) < len(wasmMagic) || !bytes.Equal(bin[:4], wasmMagic[:4]) {
		return nil, errors.New("not a WebAssembly binary (no \\0asm magic)")
	}
	if !bytes.Equal(bin[4:8], wasmMagic[4:]) {
		return nil, fmt.Errorf("WebAssembly binary version %x, want 1", bin[4:8])
	}
	pos := len(wasmMagic)
	for pos < len(bin) {
		id := bin[pos]
		size, n, err := readLEB(bin[pos+1:])
		if err != nil {
			return nil, fmt.Errorf("section at offset %d: %w", pos, err)
		}
		start := pos + 1 + n
		if uint64(size) > uint64(len(bin)-start) {
			return nil, fmt.Errorf("section %d at offset %d is %d bytes, past the end of the module", id, pos, size)
		}
		end := start + int(size)
		if id != sectionMemory {
			pos = end
			continue
		}
		content, err := limitMemorySection(bin[start:end], pages)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(bin)+16)
		out = append(out, bin[:pos]...)
		out = append(out, sectionMemory)
		out = appendLEB(out, uint32(len(content)))
		out = append(out, content...)
		return append(out, bin[end:]...), nil
	}
	return bin, nil // no memory section: the export check refuses the module
}

func limitMemorySection(sec []byte, pages uint32) ([]byte, error) {
	count, n, err := readLEB(sec)
	if err != nil {
		return nil, fmt.Errorf("memory section: %w", err)
	}
	sec = sec[n:]
	out := appendLEB(nil, count)
	for i := range count {
		if len(sec) == 0 {
			return nil, fmt.Errorf("memory section: memory %d is missing", i)
		}
		flags := sec[0]
		if flags > 1 {
			return nil, fmt.Errorf("memory %d has limits flags 0x%02x: shared and 64-bit memories are not supported", i, flags)
		}
		min, n, err := readLEB(sec[1:])
		if err != nil {
			return nil, fmt.Errorf("memory %d minimum: %w", i, err)
		}
		sec = sec[1+n:]
		max := pages
		if flags == 1 {
			m, n, err := readLEB(sec)
			if err != nil {
				return nil, fmt.Errorf("memory %d maximum: %w", i, err)
			}
			sec = sec[n:]
			max = minU32(m, pages)
		}
		if min > pages {
			return nil, fmt.Errorf("%w: memory %d starts at %d pages (%d KiB), the limit is %d pages (%d KiB)",
				errMemMinTooLarge, i, min, uint64(min)*wasmPageSize>>10, pages, uint64(pages)*wasmPageSize>>10)
		}
		if max < min {
			max = min
		}
		out = append(out, 1)
		out = appendLEB(out, min)
		out = appendLEB(out, max)
	}
	if len(sec) != 0 {
		return nil, fmt.Errorf("memory section: %d bytes after the last memory", len(sec))
	}
	return out, nil
}

func minU32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}

// readLEB reads an unsigned LEB128 u32.
func readLEB(b []byte) (v uint32, n int, err error) {
	var shift uint
	for n < len(b) {
		c := b[n]
		n++
		if shift == 28 && c&0xf0 != 0 {
			return 0, 0, errors.New("LEB128 value overflows 32 bits")
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, n, nil
		}
		shift += 7
		if shift > 28 {
			return 0, 0, errors.New("LEB128 value overflows 32 bits")
		}
	}
	return 0, 0, errors.New("truncated LEB128 value")
}

func appendLEB(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
