package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/resmon/resmon/checkpoint/registry"
	"github.com/resmon/resmon/sdk"
)

// MaxKeyMaterial bounds the key material of one container.
const MaxKeyMaterial = 1 << 20

// ErrBadContainerName reports a container name that is not Type\Provider\Container.
var ErrBadContainerName = fmt.Errorf("checkpoint: invalid key container name: %w", sdk.ErrInvalidParameter)

// ParseContainerName checks a crypto key container name, Type\Provider\Container
// (for example `1\Microsoft Enhanced Cryptographic Provider v1.0\DataKeys`),
// and returns it in canonical form (no leading or trailing backslash).
// Names compare case-insensitively.
func ParseContainerName(s string) (string, error) {
	p := strings.TrimSuffix(strings.TrimPrefix(s, `\`), `\`)
	parts := strings.Split(p, `\`)
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: %q has %d parts, want Type\\Provider\\Container", ErrBadContainerName, s, len(parts))
	}
	for _, c := range parts {
		switch {
		case c == "":
			return "", fmt.Errorf("%w: %q has an empty part", ErrBadContainerName, s)
		case !utf8.ValidString(c) || utf8.RuneCountInString(c) > registry.MaxKeyNameLen:
			return "", fmt.Errorf("%w: %q: each part must be valid UTF-8 of at most %d characters", ErrBadContainerName, s, registry.MaxKeyNameLen)
		case strings.IndexFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
			return "", fmt.Errorf("%w: %q contains a control character", ErrBadContainerName, s)
		}
	}
	return p, nil
}

// Keystore is the node-local store of crypto key containers: a directory
// (mode 0700) with one file (mode 0600) per container holding its key
// material as given (for example PEM), at
// <dir>/<Type>/<Provider>/<Container> with unusual bytes percent-escaped.
// Writes are atomic (a temporary file renamed over the old one, then the
// directory synced). Changes made through the Keystore are reported to
// subscribers; files changed by hand are picked up by the next save
// (Offline, recovery) but not watched.
type Keystore struct {
	dir string

	mu   sync.Mutex
	rev  uint64
	subs map[*ksSub]struct{}
}

type ksSub struct {
	folded string
	ch     chan uint64
	once   sync.Once
}

// OpenKeystore opens the keystore in dir, creating it with mode 0700 (and
// narrowing the mode of an existing one to 0700).
func OpenKeystore(dir string) (*Keystore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint: keystore %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint: keystore %s: %w", dir, err)
	}
	return &Keystore{dir: dir, subs: map[*ksSub]struct{}{}}, nil
}

// Dir is the keystore's directory.
func (k *Keystore) Dir() string { return k.dir }

// escapeName makes one part of a container name a safe file name: bytes
// outside a conservative set, '%', and a leading '.' become %XX.
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(" -_.()+,=@{}[]!~", c) >= 0
		if c >= 0x80 || (ok && !(i == 0 && c == '.')) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func unescapeName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		var c byte
		if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &c); err != nil {
			return "", false
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), true
}

// locate finds the file of a container case-insensitively; it returns the
// path of the existing file (found) or the path a new one gets.
func (k *Keystore) locate(name string) (file string, found bool) {
	dir := k.dir
	parts := strings.Split(name, `\`)
	for i, p := range parts {
		next := filepath.Join(dir, escapeName(p))
		if ents, err := os.ReadDir(dir); err == nil {
			for _, e := range ents {
				if n, ok := unescapeName(e.Name()); ok && registry.Fold(n) == registry.Fold(p) && e.IsDir() == (i < len(parts)-1) {
					next = filepath.Join(dir, e.Name())
					break
				}
			}
		}
		dir = next
	}
	_, err := os.Lstat(dir)
	return dir, err == nil
}

func containerNotFound(name string) error {
	return fmt.Errorf("checkpoint: key container %q: %w", name, sdk.ErrNotFound)
}

// Get returns a container's key material; sdk.ErrNotFound if it is missing.
func (k *Keystore) Get(ctx context.Context, name string) ([]byte, error) {
	b, _, err := k.read(ctx, name)
	return b, err
}

// read returns the material and the keystore revision it reflects.
func (k *Keystore) read(ctx context.Context, name string) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	name, err := ParseContainerName(name)
	if err != nil {
		return nil, 0, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	file, found := k.locate(name)
	if !found {
		return nil, k.rev, containerNotFound(name)
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, k.rev, containerNotFound(name)
	}
	if err != nil {
		return nil, k.rev, fmt.Errorf("checkpoint: key container %q: %w", name, err)
	}
	return b, k.rev, nil
}

// Put creates or replaces a container atomically. An existing container
// whose name differs in case is replaced and keeps its spelling.
func (k *Keystore) Put(ctx context.Context, name string, material []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := ParseContainerName(name)
	if err != nil {
		return err
	}
	if len(material) > MaxKeyMaterial {
		return fmt.Errorf("checkpoint: key container %q: %d bytes of key material, the limit is %d: %w", name, len(material), MaxKeyMaterial, sdk.ErrInvalidParameter)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	file, _ := k.locate(name)
	if err := writeFileAtomic(file, material); err != nil {
		return fmt.Errorf("checkpoint: key container %q: %w", name, err)
	}
	k.changed(name)
	return nil
}

func writeFileAtomic(file string, data []byte) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), file); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete removes a container; sdk.ErrNotFound if it is missing.
func (k *Keystore) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name, err := ParseContainerName(name)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	file, found := k.locate(name)
	if !found {
		return containerNotFound(name)
	}
	if err := os.Remove(file); err != nil {
		return fmt.Errorf("checkpoint: key container %q: %w", name, err)
	}
	// Drop the provider and type directories once empty.
	for d := filepath.Dir(file); d != k.dir; d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	k.changed(name)
	return nil
}

// List returns the names of all containers, sorted case-insensitively.
func (k *Keystore) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	err := filepath.WalkDir(k.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return err
		}
		rel, _ := filepath.Rel(k.dir, p)
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 3 {
			return nil
		}
		for i, e := range parts {
			n, ok := unescapeName(e)
			if !ok {
				return nil
			}
			parts[i] = n
		}
		out = append(out, strings.Join(parts, `\`))
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return registry.Fold(out[i]) < registry.Fold(out[j]) })
	return out, err
}

// Revision counts the changes made through this Keystore.
func (k *Keystore) Revision() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.rev
}

// changed runs with k.mu held.
func (k *Keystore) changed(name string) {
	k.rev++
	f := registry.Fold(name)
	for s := range k.subs {
		if s.folded == f {
			for {
				select {
				case s.ch <- k.rev:
				default:
					select {
					case <-s.ch:
					default:
					}
					continue
				}
				break
			}
		}
	}
}

// Subscribe reports changes to one container like registry.Registry.Subscribe
// does for a key: each receive is the newest revision. The channel closes
// when ctx ends.
func (k *Keystore) Subscribe(ctx context.Context, name string) (<-chan uint64, error) {
	name, err := ParseContainerName(name)
	if err != nil {
		return nil, err
	}
	s := &ksSub{folded: registry.Fold(name), ch: make(chan uint64, 1)}
	k.mu.Lock()
	k.subs[s] = struct{}{}
	k.mu.Unlock()
	context.AfterFunc(ctx, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		delete(k.subs, s)
		s.once.Do(func() { close(s.ch) })
	})
	return s.ch, nil
}
