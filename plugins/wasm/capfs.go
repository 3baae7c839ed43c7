package wasm

import (
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// capFS is the whole file system a guest sees, mounted at "/": paths under
// a granted directory reach that directory (at the same path as on the
// host); every other path is refused with EACCES and recorded as a
// capability event. Creating symbolic links is refused everywhere, so a
// guest cannot make a granted directory point outside itself.
//
// One mount at "/" (instead of one WASI preopen per directory) means every
// path the guest names reaches the host, so escapes are seen and logged,
// and a directory whose name is a prefix of another ("/data" and "/data2")
// cannot be confused with it.
type capFS struct {
	experimentalsys.UnimplementedFS
	in     *instance
	mounts []mount // longest first
}

type mount struct {
	dir string // cleaned, relative to "/": "var/lib/app"; "." for "/" itself
	fs  experimentalsys.FS
}

var _ experimentalsys.FS = (*capFS)(nil)

func newCapFS(in *instance, dirs []string) *capFS {
	c := &capFS{in: in}
	for _, d := range dirs {
		rel := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(d)), "/")
		if rel == "" {
			rel = "."
		}
		c.mounts = append(c.mounts, mount{dir: rel, fs: sysfs.DirFS(d)})
	}
	sort.Slice(c.mounts, func(i, j int) bool { return len(c.mounts[i].dir) > len(c.mounts[j].dir) })
	return c
}

// route finds the granted directory holding p (a path relative to "/").
// ok false means p is outside every granted directory.
func (c *capFS) route(p string) (fsys experimentalsys.FS, rel string, ok bool) {
	trailing := strings.HasSuffix(p, "/")
	p = path.Clean("/" + p)[1:]
	if p == "" {
		p = "."
	}
	for _, m := range c.mounts {
		switch {
		case m.dir == ".":
			rel = p
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
		return m.fs, rel, true
	}
	return nil, "", false
}

func (c *capFS) deny(op, p string) experimentalsys.Errno {
	_ = c.in.denied("file", op+" "+path.Clean("/"+p)+": outside the type's granted directories", "op", op, "path", path.Clean("/"+p))
	return experimentalsys.EACCES
}

// OpenFile implements experimentalsys.FS. The root itself opens as an empty
// directory: WASI needs it to resolve paths, but it lists nothing.
func (c *capFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	fsys, rel, ok := c.route(p)
	if !ok {
		if isRoot(p) && flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR|experimentalsys.O_CREAT|experimentalsys.O_TRUNC) == 0 {
			return &rootDir{}, 0
		}
		return nil, c.deny("open", p)
	}
	return fsys.OpenFile(rel, flag, perm)
}

func isRoot(p string) bool { return path.Clean("/"+p) == "/" }

// Lstat implements experimentalsys.FS.
func (c *capFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	fsys, rel, ok := c.route(p)
	if !ok {
		if isRoot(p) {
			return rootStat, 0
		}
		return sys.Stat_t{}, c.deny("lstat", p)
	}
	return fsys.Lstat(rel)
}

// Stat implements experimentalsys.FS.
func (c *capFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	fsys, rel, ok := c.route(p)
	if !ok {
		if isRoot(p) {
			return rootStat, 0
		}
		return sys.Stat_t{}, c.deny("stat", p)
	}
	return fsys.Stat(rel)
}

// Mkdir implements experimentalsys.FS.
func (c *capFS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	fsys, rel, ok := c.route(p)
	if !ok {
		return c.deny("mkdir", p)
	}
	return fsys.Mkdir(rel, perm)
}

// Chmod implements experimentalsys.FS.
func (c *capFS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	fsys, rel, ok := c.route(p)
	if !ok {
		return c.deny("chmod", p)
	}
	return fsys.Chmod(rel, perm)
}

// Rename implements experimentalsys.FS: both paths must be in the same
// granted directory.
func (c *capFS) Rename(from, to string) experimentalsys.Errno {
	ffs, frel, ok := c.route(from)
	if !ok {
		return c.deny("rename", from)
	}
	tfs, trel, ok := c.route(to)
	if !ok {
		return c.deny("rename", to)
	}
	if ffs != tfs {
		return experimentalsys.ENOTSUP
	}
	return ffs.Rename(frel, trel)
}

// Rmdir implements experimentalsys.FS.
func (c *capFS) Rmdir(p string) experimentalsys.Errno {
	fsys, rel, ok := c.route(p)
	if !ok {
		return c.deny("rmdir", p)
	}
	return fsys.Rmdir(rel)
}

// Unlink implements experimentalsys.FS.
func (c *capFS) Unlink(p string) experimentalsys.Errno {
	fsys, rel, ok := c.route(p)
	if !ok {
		return c.deny("unlink", p)
	}
	return fsys.Unlink(rel)
}

// Link implements experimentalsys.FS: both paths must be in the same
// granted directory.
func (c *capFS) Link(oldPath, newPath string) experimentalsys.Errno {
	ofs, orel, ok := c.route(oldPath)
	if !ok {
		return c.deny("link", oldPath)
	}
	nfs, nrel, ok := c.route(newPath)
	if !ok {
		return c.deny("link", newPath)
	}
	if ofs != nfs {
		return experimentalsys.ENOTSUP
	}
	return ofs.Link(orel, nrel)
}

// Symlink implements experimentalsys.FS: always refused.
func (c *capFS) Symlink(oldPath, linkName string) experimentalsys.Errno {
	return c.deny("symlink", linkName)
}

// Readlink implements experimentalsys.FS.
func (c *capFS) Readlink(p string) (string, experimentalsys.Errno) {
	fsys, rel, ok := c.route(p)
	if !ok {
		return "", c.deny("readlink", p)
	}
	return fsys.Readlink(rel)
}

// Utimens implements experimentalsys.FS.
func (c *capFS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	fsys, rel, ok := c.route(p)
	if !ok {
		return c.deny("utimens", p)
	}
	return fsys.Utimens(rel, atim, mtim)
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
