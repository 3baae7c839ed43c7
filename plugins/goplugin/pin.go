package goplugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/resmon/resmon/plugins"
)

// pins resolves the executable to start for a resource type.
//
// A pinned binary (TypeSpec.SHA256 set) is never executed from where it is
// installed: its bytes are read once, hashed while they are copied into
// <DataDir>/bin (0700, owned by clusterd), and the copy is executed only
// when the digest of exactly those bytes matches the pin. Whatever happens
// to the installed file afterwards (replaced, rewritten in place) cannot
// change what runs: there is no window between checking and executing.
// The copy is reused while the installed file keeps its identity (device,
// inode, size, modification and change times); any change to the file —
// even one that keeps its contents — makes the next start copy and hash it
// again, and a changed binary is refused with plugins.ErrChecksum.
//
// An unpinned type runs from its installed path.
type pins struct {
	dir string

	mu     sync.Mutex
	copies map[pinKey]pinned
}

type pinKey struct{ src, sum string }

type pinned struct {
	path string
	id   fileID
}

func newPins(dir string) *pins { return &pins{dir: dir, copies: map[pinKey]pinned{}} }

// resolve returns the path to execute for t.
func (p *pins) resolve(t plugins.TypeSpec) (string, error) {
	src := t.Path
	if t.SHA256 == "" {
		return src, nil
	}
	want := strings.ToLower(strings.TrimSpace(t.SHA256))
	if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%w: the pin %q of %s is not a hex sha256", plugins.ErrChecksum, t.SHA256, src)
	}
	f, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("%w: %w", plugins.ErrBadModule, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%w: %w", plugins.ErrBadModule, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file", plugins.ErrBadModule, src)
	}
	key := pinKey{src, want}
	id := identity(fi)

	p.mu.Lock()
	defer p.mu.Unlock() // one copy at a time: starts of other types wait a few ms
	if c, ok := p.copies[key]; ok && c.id == id {
		if _, err := os.Stat(c.path); err == nil {
			return c.path, nil
		}
	}
	tmp, err := os.CreateTemp(p.dir, "copy-*.tmp")
	if err != nil {
		return "", fmt.Errorf("copying %s into %s: %w", src, p.dir, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), f)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("copying %s into %s: %w", src, p.dir, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("%w: %s: expected sha256 %s, got %s", plugins.ErrChecksum, src, want, got)
	}
	dst := filepath.Join(p.dir, want)
	if err := os.Chmod(tmp.Name(), 0o500); err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		_ = os.Remove(tmp.Name())
		return "", err
	}
	p.copies[key] = pinned{path: dst, id: id}
	return dst, nil
}
