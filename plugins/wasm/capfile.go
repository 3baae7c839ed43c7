package wasm

import (
	"errors"
	"io"
	"os"
	"syscall"
	"unsafe"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// Open flags the os package does not name.
const (
	oDirectory = unix.O_DIRECTORY
	oDsync     = unix.O_DSYNC
	oNonblock  = unix.O_NONBLOCK
	oRsync     = unix.O_RSYNC
)

// rootFile is a file a guest opened through a granted directory's os.Root.
// Everything it does goes through the open descriptor, never through a
// path again, so it stays inside the grant.
type rootFile struct {
	seeker[int64] // Seek
	f             *os.File
	fd            int
	append        bool
	closed        bool

	statted bool // the fields below are known
	dev     uint64
	ino     sys.Inode
	dir     bool
}

var _ experimentalsys.File = (*rootFile)(nil)

func newRootFile(f *os.File, appendMode bool) *rootFile {
	r := &rootFile{f: f, fd: int(f.Fd()), append: appendMode}
	r.seeker.r = r
	return r
}

func errnoOf(err error) experimentalsys.Errno { return experimentalsys.UnwrapOSError(err) }

// ident caches what does not change while the file is open.
func (r *rootFile) ident() experimentalsys.Errno {
	if r.statted {
		return 0
	}
	if _, errno := r.Stat(); errno != 0 {
		return errno
	}
	return 0
}

// Dev implements experimentalsys.File.
func (r *rootFile) Dev() (uint64, experimentalsys.Errno) {
	errno := r.ident()
	return r.dev, errno
}

// Ino implements experimentalsys.File.
func (r *rootFile) Ino() (sys.Inode, experimentalsys.Errno) {
	errno := r.ident()
	return r.ino, errno
}

// IsDir implements experimentalsys.File.
func (r *rootFile) IsDir() (bool, experimentalsys.Errno) {
	errno := r.ident()
	return r.dir, errno
}

// IsAppend implements experimentalsys.File.
func (r *rootFile) IsAppend() bool { return r.append }

// SetAppend implements experimentalsys.File.
func (r *rootFile) SetAppend(enable bool) experimentalsys.Errno {
	if r.closed {
		return experimentalsys.EBADF
	}
	fl, err := unix.FcntlInt(uintptr(r.fd), unix.F_GETFL, 0)
	if err != nil {
		return errnoOf(err)
	}
	if enable {
		fl |= unix.O_APPEND
	} else {
		fl &^= unix.O_APPEND
	}
	if _, err := unix.FcntlInt(uintptr(r.fd), unix.F_SETFL, fl); err != nil {
		return errnoOf(err)
	}
	r.append = enable
	return 0
}

// Stat implements experimentalsys.File.
func (r *rootFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	if r.closed {
		return sys.Stat_t{}, experimentalsys.EBADF
	}
	fi, err := r.f.Stat()
	if err != nil {
		return sys.Stat_t{}, errnoOf(err)
	}
	st := sys.NewStat_t(fi)
	r.statted, r.dev, r.ino, r.dir = true, st.Dev, st.Ino, fi.IsDir()
	return st, 0
}

// Read implements experimentalsys.File.
func (r *rootFile) Read(buf []byte) (int, experimentalsys.Errno) {
	if r.closed {
		return 0, experimentalsys.EBADF
	}
	if len(buf) == 0 {
		return 0, 0
	}
	n, err := r.f.Read(buf)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, errnoOf(err)
}

// Pread implements experimentalsys.File.
func (r *rootFile) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	if r.closed {
		return 0, experimentalsys.EBADF
	}
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	if len(buf) == 0 {
		return 0, 0
	}
	n, err := r.f.ReadAt(buf, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, errnoOf(err)
}

// seeker gives rootFile the Seek of experimentalsys.File. It is declared
// on a generic type because go vet takes every Seek(int64, int) method for
// an io.Seeker and wants an error result, where wazero's interface needs an
// Errno.
type seeker[Off ~int64] struct{ r *rootFile }

// Seek implements experimentalsys.File.
func (s seeker[Off]) Seek(offset Off, whence int) (Off, experimentalsys.Errno) {
	n, errno := s.r.seek(int64(offset), whence)
	return Off(n), errno
}

// seek is Seek. On a directory only a rewind is meaningful; os.File
// forgets its directory position on any seek.
func (r *rootFile) seek(offset int64, whence int) (int64, experimentalsys.Errno) {
	if r.closed {
		return 0, experimentalsys.EBADF
	}
	if dir, _ := r.IsDir(); dir && (offset != 0 || whence != io.SeekStart) {
		return 0, experimentalsys.EISDIR
	}
	off, err := r.f.Seek(offset, whence)
	return off, errnoOf(err)
}

// Readdir implements experimentalsys.File.
func (r *rootFile) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if r.closed {
		return nil, experimentalsys.EBADF
	}
	if dir, errno := r.IsDir(); errno != 0 {
		return nil, errno
	} else if !dir {
		return nil, experimentalsys.EBADF
	}
	entries, err := r.f.ReadDir(n)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, errnoOf(err)
	}
	out := make([]experimentalsys.Dirent, 0, len(entries))
	for _, e := range entries {
		d := experimentalsys.Dirent{Name: e.Name(), Type: e.Type()}
		if fi, err := e.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				d.Ino = st.Ino
			}
		}
		out = append(out, d)
	}
	return out, 0
}

// Write implements experimentalsys.File.
func (r *rootFile) Write(buf []byte) (int, experimentalsys.Errno) {
	if r.closed {
		return 0, experimentalsys.EBADF
	}
	if len(buf) == 0 {
		return 0, 0
	}
	n, err := r.f.Write(buf)
	return n, errnoOf(err)
}

// Pwrite implements experimentalsys.File. It writes through the descriptor
// as pwrite(2) does (os.File refuses WriteAt in append mode).
func (r *rootFile) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	if r.closed {
		return 0, experimentalsys.EBADF
	}
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	if dir, _ := r.IsDir(); dir {
		return 0, experimentalsys.EISDIR
	}
	n, err := unix.Pwrite(r.fd, buf, off)
	if n < 0 {
		n = 0
	}
	return n, errnoOf(err)
}

// Truncate implements experimentalsys.File.
func (r *rootFile) Truncate(size int64) experimentalsys.Errno {
	if r.closed {
		return experimentalsys.EBADF
	}
	if size < 0 {
		return experimentalsys.EINVAL
	}
	if dir, _ := r.IsDir(); dir {
		return experimentalsys.EISDIR
	}
	return errnoOf(r.f.Truncate(size))
}

// Sync implements experimentalsys.File.
func (r *rootFile) Sync() experimentalsys.Errno {
	if r.closed {
		return experimentalsys.EBADF
	}
	return errnoOf(r.f.Sync())
}

// Datasync implements experimentalsys.File.
func (r *rootFile) Datasync() experimentalsys.Errno {
	if r.closed {
		return experimentalsys.EBADF
	}
	return errnoOf(unix.Fdatasync(r.fd))
}

// Utimens implements experimentalsys.File: utimensat(2) on the descriptor
// itself (a NULL path), which is what futimens does.
func (r *rootFile) Utimens(atim, mtim int64) experimentalsys.Errno {
	if r.closed {
		return experimentalsys.EBADF
	}
	ts := [2]unix.Timespec{timespec(atim), timespec(mtim)}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(r.fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return errnoOf(e)
	}
	return 0
}

func timespec(ns int64) unix.Timespec {
	if ns == experimentalsys.UTIME_OMIT {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(ns)
}

// Close implements experimentalsys.File.
func (r *rootFile) Close() experimentalsys.Errno {
	if r.closed {
		return 0
	}
	r.closed = true
	return errnoOf(r.f.Close())
}
