package wasm

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// A module's data segments are the same bytes in every instance: a Go
// guest carries about a megabyte of them (its type data and pclntab), which
// wazero copies into each instance's memory, where they stay resident. So
// where a module allows it, the segments are taken out of the module
// before it is compiled and laid out once as the initial memory image, in
// a memory file every instance maps copy-on-write over the start of its
// memory: the pages stay shared until a guest writes one. The guest sees
// the same memory as if wazero had copied the segments in.
//
// A module qualifies when it defines its one memory (not imported), every
// data segment is active in that memory at a constant offset, no data
// count section declares them for memory.init or data.drop, and the image
// fits the memory's initial size. Anything else is compiled as it is.

const (
	sectionData      = 11
	sectionDataCount = 12
	opI32Const       = 0x41
	opEnd            = 0x0b
)

// memoryImage is the initial memory of a module's instances.
type memoryImage struct {
	fd   int    // a sealed memory file holding data
	size uint64 // bytes, a multiple of the OS page size
	data []byte // the same bytes, for a memory that cannot be mapped
}

// splitData returns bin without its data section and the image of memory
// its segments make, or bin and a nil image when the module does not
// qualify; a malformed module is returned as it is, for the compiler to
// refuse in its words.
func splitData(bin []byte) ([]byte, []byte) {
	if len(bin) < len(wasmMagic) {
		return bin, nil
	}
	var dataStart, dataEnd, dataPos int
	initial := uint64(0)
	haveMemory := false
	for pos := len(wasmMagic); pos < len(bin); {
		id := bin[pos]
		size, n, err := readLEB(bin[pos+1:])
		if err != nil {
			return bin, nil
		}
		start := pos + 1 + n
		if uint64(size) > uint64(len(bin)-start) {
			return bin, nil
		}
		end := start + int(size)
		switch id {
		case sectionDataCount:
			return bin, nil // segments memory.init may name
		case sectionMemory:
			sec := bin[start:end]
			count, n, err := readLEB(sec)
			if err != nil || count != 1 || len(sec) < n+2 {
				return bin, nil
			}
			min, _, err := readLEB(sec[n+1:])
			if err != nil {
				return bin, nil
			}
			initial, haveMemory = uint64(min)*wasmPageSize, true
		case sectionData:
			dataPos, dataStart, dataEnd = pos, start, end
		}
		pos = end
	}
	if !haveMemory || dataEnd == 0 {
		return bin, nil
	}
	type segment struct {
		off  uint64
		data []byte
	}
	sec := bin[dataStart:dataEnd]
	count, n, err := readLEB(sec)
	if err != nil {
		return bin, nil
	}
	sec = sec[n:]
	segs := make([]segment, 0, count)
	top := uint64(0)
	for range count {
		flags, n, err := readLEB(sec)
		if err != nil {
			return bin, nil
		}
		sec = sec[n:]
		switch flags {
		case 0:
		case 2: // active, memory index given
			mem, n, err := readLEB(sec)
			if err != nil || mem != 0 {
				return bin, nil
			}
			sec = sec[n:]
		default:
			return bin, nil // passive: for memory.init
		}
		if len(sec) < 1 || sec[0] != opI32Const {
			return bin, nil // an offset from a global
		}
		off, n, err := readSLEB32(sec[1:])
		if err != nil || off < 0 || len(sec) < 1+n+1 || sec[1+n] != opEnd {
			return bin, nil
		}
		sec = sec[1+n+1:]
		size, n, err := readLEB(sec)
		if err != nil || uint64(size) > uint64(len(sec)-n) {
			return bin, nil
		}
		segs = append(segs, segment{off: uint64(off), data: sec[n : n+int(size)]})
		top = max(top, uint64(off)+uint64(size))
		sec = sec[n+int(size):]
	}
	if len(sec) != 0 {
		return bin, nil
	}
	page := uint64(os.Getpagesize())
	size := (top + page - 1) / page * page
	if size == 0 || size > initial {
		return bin, nil // nothing to share, or wazero's to refuse
	}
	image := make([]byte, size)
	for _, s := range segs {
		copy(image[s.off:], s.data)
	}
	out := make([]byte, 0, len(bin)-(dataEnd-dataPos))
	out = append(out, bin[:dataPos]...)
	return append(out, bin[dataEnd:]...), image
}

// readSLEB32 reads a signed LEB128 i32.
func readSLEB32(b []byte) (int32, int, error) {
	var v int64
	var shift uint
	for n := 0; n < len(b) && n < 5; n++ {
		c := b[n]
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			if v < -1<<31 || v > 1<<31-1 {
				return 0, 0, errors.New("LEB128 value overflows 32 bits")
			}
			return int32(v), n + 1, nil
		}
	}
	return 0, 0, errors.New("truncated or overlong LEB128 value")
}

// newMemoryImage puts data in a sealed memory file.
func newMemoryImage(name string, data []byte) (*memoryImage, error) {
	fd, err := unix.MemfdCreate("resmon-wasm:"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memory image: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("memory image: %w", err)
	}
	// The file never changes again: every instance maps it privately.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, fmt.Errorf("memory image: sealing: %w", err)
	}
	fd2, err := unix.Dup(fd)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("memory image: %w", err)
	}
	unix.CloseOnExec(fd2)
	return &memoryImage{fd: fd2, size: uint64(len(data)), data: data}, nil
}

// close releases the file; instances mapping it keep their pages.
func (im *memoryImage) close() {
	if im != nil && im.fd >= 0 {
		unix.Close(im.fd)
		im.fd = -1
	}
}

// allocator is the memory allocator of the instances of a module with
// this image.
func (im *memoryImage) allocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		if max >= im.size {
			if m := reserve(max); m != nil {
				if im.mapOver(m.buf) == nil {
					m.usable = im.size
					return m
				}
				m.Free()
			}
		}
		return &heapMemory{max: max, image: im.data}
	})
}

// mapOver maps the image copy-on-write over the start of buf, a reserved
// range.
func (im *memoryImage) mapOver(buf []byte) error {
	_, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(unsafe.Pointer(&buf[0])), uintptr(im.size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED, uintptr(im.fd), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
