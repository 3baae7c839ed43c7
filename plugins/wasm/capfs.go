package wasm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// capFS is the whole file system a guest sees, mounted at "/": paths under
// a granted directory reach that directory (at the same path as on the
// host); every other path is refused with EACCES and recorded as a
// capability event.
//
// One mount at "/" (instead of one WASI preopen per directory) means every
// path the guest names reaches the host, so escapes are seen and logged,
// and a directory whose name is a prefix of another ("/data" and "/data2")
// cannot be confused with it.
//
// Each granted directory is an os.Root: every component of every path is
// resolved inside it, so neither a symbolic link (one already there, or one
// a child process made) nor ".." leads out of it. A path the root refuses
// is refused to the guest and recorded like any other escape. New symbolic
// links must be relative and climb no "..", so that a link a guest makes
// names its own directory or one below, wherever it is moved: programs
// other than the guest, which follow links freely, cannot be led out by it
// either.
type capFS struct {
	experimentalsys.UnimplementedFS
	in     *instance
	mounts []mount // longest first
}

type mount struct {
	dir  string // cleaned, relative to "/": "var/lib/app"
	root *os.Root
}

var _ experimentalsys.FS = (*capFS)(nil)

// errEscapes is the error os.Root gives for a path that would leave it. The
// os package does not export it; asking a root for its parent yields it.
var errEscapes = func() error {
	r, err := os.OpenRoot(os.TempDir())
	if err != nil {
		return errors.New("path escapes from parent")
	}
	defer r.Close()
	_, err = r.Lstat("..")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}()

// newCapFS opens a root for each granted directory. It fails when one is
// missing or not a directory (the grant names a directory that exists).
func newCapFS(in *instance, dirs []string) (*capFS, error) {
	c := &capFS{in: in}
	for _, d := range dirs {
		rel := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(d)), "/")
		if !filepath.IsAbs(d) || rel == "" {
			c.close()
			return nil, fmt.Errorf("granted directory %q: %w", d, errBadGrant)
		}
		r, err := os.OpenRoot(d)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("granted directory: %w", err)
		}
		c.mounts = append(c.mounts, mount{dir: rel, root: r})
	}
	sort.Slice(c.mounts, func(i, j int) bool { return len(c.mounts[i].dir) > len(c.mounts[j].dir) })
	return c, nil
}

// errBadGrant is wrapped for a grant the driver does not accept.
var errBadGrant = errors.New("must be an absolute path other than /")

func (c *capFS) close() {
	for _, m := range c.mounts {
		m.root.Close()
	}
}

// route finds the granted directory holding p (a path relative to "/").
// ok false means p is outside every granted directory. rel is "." for the
// granted directory itself, and keeps a trailing slash (which asks for a
// directory).
func (c *capFS) route(p string) (m mount, rel string, ok bool) {
	trailing := strings.HasSuffix(p, "/")
	p = path.Clean("/" + p)[1:]
	for _, m := range c.mounts {
		switch {
		case p == m.dir:
			rel = "."
		case strings.HasPrefix(p, m.dir+"/"):
			rel = p[len(m.dir)+1:]
		default:
			continue
		}
		if trailing && rel != "." {
			rel += "/"
		}
		return m, rel, true
	}
	return mount{}, "", false
}

func (c *capFS) deny(op, p, why string) experimentalsys.Errno {
	clean := path.Clean("/" + p)
	_ = c.in.denied("file", op+" "+clean+": "+why, "op", op, "path", clean)
	return experimentalsys.EACCES
}

const outside = "outside the type's granted directories"

// errno maps what a root answered for op on p; an escape is a denial.
func (c *capFS) errno(op, p string, err error) experimentalsys.Errno {
	if err != nil && errors.Is(err, errEscapes) {
		return c.deny(op, p, "resolves "+outside+" (through a symbolic link or ..)")
	}
	return experimentalsys.UnwrapOSError(err)
}

// OpenFile implements experimentalsys.FS. The root itself opens as an empty
// directory: WASI needs it to resolve paths, but it lists nothing.
func (c *capFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	m, rel, ok := c.route(p)
	if !ok {
		if isRoot(p) && flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR|experimentalsys.O_CREAT|experimentalsys.O_TRUNC) == 0 {
			return &rootDir{}, 0
		}
		return nil, c.deny("open", p, outside)
	}
	if flag&experimentalsys.O_NOFOLLOW != 0 {
		// os.Root follows a final symbolic link (inside the root); a guest
		// that asked not to gets ELOOP, as open(2) would answer.
		if fi, err := m.root.Lstat(rel); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, experimentalsys.ELOOP
		}
	}
	f, err := m.root.OpenFile(rel, osFlags(flag), perm&fs.ModePerm)
	if err != nil {
		return nil, c.errno("open", p, err)
	}
	return newRootFile(f, flag&experimentalsys.O_APPEND != 0), 0
}

func isRoot(p string) bool { return path.Clean("/"+p) == "/" }

// Lstat implements experimentalsys.FS.
func (c *capFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	m, rel, ok := c.route(p)
	if !ok {
		if isRoot(p) {
			return rootStat, 0
		}
		return sys.Stat_t{}, c.deny("lstat", p, outside)
	}
	fi, err := m.root.Lstat(rel)
	if err != nil {
		return sys.Stat_t{}, c.errno("lstat", p, err)
	}
	return sys.NewStat_t(fi), 0
}

// Stat implements experimentalsys.FS.
func (c *capFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	m, rel, ok := c.route(p)
	if !ok {
		if isRoot(p) {
			return rootStat, 0
		}
		return sys.Stat_t{}, c.deny("stat", p, outside)
	}
	fi, err := m.root.Stat(rel)
	if err != nil {
		return sys.Stat_t{}, c.errno("stat", p, err)
	}
	return sys.NewStat_t(fi), 0
}

// Mkdir implements experimentalsys.FS.
func (c *capFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	m, rel, ok := c.route(p)
	if !ok {
		return c.deny("mkdir", p, outside)
	}
	return c.errno("mkdir", p, m.root.Mkdir(rel, perm&fs.ModePerm))
}

// Chmod implements experimentalsys.FS.
func (c *capFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	m, rel, ok := c.route(p)
	if !ok {
		return c.deny("chmod", p, outside)
	}
	return c.errno("chmod", p, m.root.Chmod(rel, perm&fs.ModePerm))
}

// Rename implements experimentalsys.FS: both paths must be in the same
// granted directory.
func (c *capFS) Rename(from, to string) experimentalsys.Errno {
	fm, frel, ok := c.route(from)
	if !ok {
		return c.deny("rename", from, outside)
	}
	tm, trel, ok := c.route(to)
	if !ok {
		return c.deny("rename", to, outside)
	}
	if fm.root != tm.root {
		return experimentalsys.ENOTSUP
	}
	err := fm.root.Rename(frel, trel)
	if err != nil && errors.Is(err, errEscapes) {
		return c.deny("rename", from, "to "+path.Clean("/"+to)+": one of them resolves "+outside+" (through a symbolic link or ..)")
	}
	return experimentalsys.UnwrapOSError(err)
}

// Rmdir implements experimentalsys.FS.
func (c *capFS) Rmdir(p string) experimentalsys.Errno {
	m, rel, ok := c.route(p)
	if !ok {
		return c.deny("rmdir", p, outside)
	}
	// Root.Remove removes files and directories alike; rmdir(2) only the
	// latter.
	fi, err := m.root.Lstat(rel)
	if err != nil {
		return c.errno("rmdir", p, err)
	}
	if !fi.IsDir() {
		return experimentalsys.ENOTDIR
	}
	return c.errno("rmdir", p, m.root.Remove(rel))
}

// Unlink implements experimentalsys.FS.
func (c *capFS) Unlink(p string) experimentalsys.Errno {
	m, rel, ok := c.route(p)
	if !ok {
		return c.deny("unlink", p, outside)
	}
	fi, err := m.root.Lstat(rel)
	if err != nil {
		return c.errno("unlink", p, err)
	}
	if fi.IsDir() {
		return experimentalsys.EISDIR
	}
	return c.errno("unlink", p, m.root.Remove(rel))
}

// Link implements experimentalsys.FS: both paths must be in the same
// granted directory. A hard link to a symbolic link is a copy of it, so it
// is held to the rule of new symbolic links.
func (c *capFS) Link(oldPath, newPath string) experimentalsys.Errno {
	om, orel, ok := c.route(oldPath)
	if !ok {
		return c.deny("link", oldPath, outside)
	}
	nm, nrel, ok := c.route(newPath)
	if !ok {
		return c.deny("link", newPath, outside)
	}
	if om.root != nm.root {
		return experimentalsys.ENOTSUP
	}
	if fi, err := om.root.Lstat(orel); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, err := om.root.Readlink(orel)
		if err != nil {
			return c.errno("link", oldPath, err)
		}
		if why := linkTargetProblem(target); why != "" {
			return c.deny("link", newPath, fmt.Sprintf("a link to the symbolic link %s -> %s, which %s", path.Clean("/"+oldPath), target, why))
		}
	}
	return c.errno("link", newPath, om.root.Link(orel, nrel))
}

// Symlink implements experimentalsys.FS: linkName must be in a granted
// directory, and the target relative, without "..".
func (c *capFS) Symlink(target, linkName string) experimentalsys.Errno {
	m, rel, ok := c.route(linkName)
	if !ok {
		return c.deny("symlink", linkName, outside)
	}
	if why := linkTargetProblem(target); why != "" {
		return c.deny("symlink", linkName, fmt.Sprintf("a symbolic link to %s, which %s", target, why))
	}
	return c.errno("symlink", linkName, m.root.Symlink(target, rel))
}

// linkTargetProblem says why target may not be the target of a new
// symbolic link ("" if it may).
func linkTargetProblem(target string) string {
	switch {
	case target == "":
		return "is empty"
	case path.IsAbs(target):
		return "is absolute (a link may name only its own directory or one below)"
	}
	for _, part := range strings.Split(target, "/") {
		if part == ".." {
			return "climbs .. (a link may name only its own directory or one below)"
		}
	}
	return ""
}

// Readlink implements experimentalsys.FS.
func (c *capFS) Readlink(p string) (string, experimentalsys.Errno) {
	m, rel, ok := c.route(p)
	if !ok {
		return "", c.deny("readlink", p, outside)
	}
	target, err := m.root.Readlink(rel)
	if err != nil {
		return "", c.errno("readlink", p, err)
	}
	return target, 0
}

// Utimens implements experimentalsys.FS.
func (c *capFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	m, rel, ok := c.route(p)
	if !ok {
		return c.deny("utimens", p, outside)
	}
	return c.errno("utimens", p, m.root.Chtimes(rel, fileTime(atim), fileTime(mtim)))
}

// fileTime converts a WASI timestamp; UTIME_OMIT becomes the zero time,
// which Chtimes leaves unchanged.
func fileTime(ns int64) time.Time {
	if ns == experimentalsys.UTIME_OMIT {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// osFlags converts WASI open flags. O_NOFOLLOW is handled by OpenFile.
func osFlags(f experimentalsys.Oflag) int {
	var out int
	switch {
	case f&experimentalsys.O_RDWR != 0:
		out = os.O_RDWR
	case f&experimentalsys.O_WRONLY != 0:
		out = os.O_WRONLY
	default:
		out = os.O_RDONLY
	}
	for _, m := range []struct {
		w  experimentalsys.Oflag
		os int
	}{
		{experimentalsys.O_APPEND, os.O_APPEND},
		{experimentalsys.O_CREAT, os.O_CREATE},
		{experimentalsys.O_DIRECTORY, oDirectory},
		{experimentalsys.O_DSYNC, oDsync},
		{experimentalsys.O_EXCL, os.O_EXCL},
		{experimentalsys.O_NONBLOCK, oNonblock},
		{experimentalsys.O_RSYNC, oRsync},
		{experimentalsys.O_SYNC, os.O_SYNC},
		{experimentalsys.O_TRUNC, os.O_TRUNC},
	} {
		if f&m.w != 0 {
			out |= m.os
		}
	}
	return out
}

var rootStat = sys.Stat_t{Mode: fs.ModeDir | 0o555, Nlink: 1}

// rootDir is "/" when it is not granted: an empty, read-only directory.
type rootDir struct {
	experimentalsys.UnimplementedFile
}

func (*rootDir) IsDir() (bool, experimentalsys.Errno)      { return true, 0 }
func (*rootDir) Stat() (sys.Stat_t, experimentalsys.Errno) { return rootStat, 0 }
func (*rootDir) Readdir(int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	return nil, 0
}
