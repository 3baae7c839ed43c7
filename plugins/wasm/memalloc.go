package wasm

import (
	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// Guest linear memories live outside the Go heap: each instance reserves
// address space for its whole limit, inaccessible, and makes it readable
// and writable as the guest grows. A growing memory is never copied (with
// Go slices every growth copies it, and the old copies stay resident until
// the collector runs: a guest at a 64 MiB limit cost the node 266 MiB), it
// does not count towards the Go heap that paces the collector, and
// discarding an instance returns its pages to the system at once.
//
// wazero frees a memory when its module is closed; the driver closes
// modules only from the goroutine that ran the call (instance.discard), so
// nothing reads an unmapped memory.

// memoryAllocator is the experimental.MemoryAllocator of every instance.
var memoryAllocator = experimental.MemoryAllocatorFunc(allocateMemory)

func allocateMemory(_, max uint64) experimental.LinearMemory {
	if m := reserve(max); m != nil {
		return m
	}
	return &heapMemory{max: max} // no room to reserve: grow in the Go heap
}

// reserve reserves max bytes of address space, inaccessible; nil when
// there is none to be had.
func reserve(max uint64) *mappedMemory {
	if max == 0 {
		return nil
	}
	b, err := unix.Mmap(-1, 0, int(max), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return &mappedMemory{buf: b}
}

// mappedMemory is a reserved range; buf[:usable] is readable and writable.
type mappedMemory struct {
	buf    []byte
	usable uint64
}

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil // the guest's memory.grow fails
	}
	if size > m.usable {
		if err := unix.Mprotect(m.buf[m.usable:size], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			return nil
		}
		m.usable = size
	}
	return m.buf[:size]
}

func (m *mappedMemory) Free() {
	if m.buf != nil {
		_ = unix.Munmap(m.buf)
		m.buf = nil
	}
}

// heapMemory is a memory in the Go heap, for when address space runs out.
type heapMemory struct {
	buf   []byte
	max   uint64
	image []byte // the module's initial memory image (memimage.go), copied in first
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size > uint64(cap(m.buf)) {
		m.buf = append(m.buf[:cap(m.buf)], make([]byte, size-uint64(cap(m.buf)))...)
	}
	if m.image != nil && size >= uint64(len(m.image)) {
		copy(m.buf, m.image)
		m.image = nil
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *heapMemory) Free() { m.buf = nil }
