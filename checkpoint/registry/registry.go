package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resmon/resmon/sdk"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Layout of the bbolt file. Bucket "registry" is the root key; every key is a
// bucket holding its display name, its values and its subkeys, each under a
// one-byte tag followed by the Fold of the name, so that a cursor lists values
// and subkeys already in case-insensitive order and a subtree is one bucket
// that can be dropped or replaced inside one transaction.
var (
	rootBucket = []byte("registry")
	metaBucket = []byte("meta")
	formatKey  = []byte("format")
	fileFormat = []byte("1")
)

const (
	tagName  = 0x00 // the key's display name
	tagValue = 0x01 // + Fold(value name) → encoded value
	tagKey   = 0x02 // + Fold(subkey name) → subkey bucket
)

var nameKey = []byte{tagName}

// Registry is a node-local registry in one bbolt file. It implements
// sdk.Registry and is safe for concurrent use. Only one process may have the
// file open; Open waits a short while for the lock and then says who holds it.
//
// Writes are durable when they return (bbolt syncs the file on commit).
// Concurrent writes share commits: a write that finds no commit in progress
// commits at once, alone; writes that arrive while a commit is in progress
// are committed together by the next one. So a lone write pays one sync and
// many concurrent writers are not limited to one sync each.
type Registry struct {
	db   *bolt.DB
	file string

	// rev is the revision of the last commit. It is bumped after the commit
	// and before the notification; a snapshot reads it before starting its
	// transaction, so what it reports is always included in what it reads.
	rev atomic.Uint64

	mu         sync.Mutex
	idle       *sync.Cond // signalled when committing becomes false
	queue      []*pendingWrite
	committing bool
	subs       map[*subscription]struct{}
	closed     bool
}

type pendingWrite struct {
	fn      func(tx *bolt.Tx) ([]string, error)
	changed []string
	err     error
	done    chan struct{}
}

var _ sdk.Registry = (*Registry)(nil)

// lockTimeout is how long Open waits for another process to let go of the file.
var lockTimeout = 2 * time.Second

// initialMmapSize is the address space the registry file is mapped with at
// first (1 GiB); bbolt grows it beyond when the file does.
const initialMmapSize = 1 << 30

// Open opens (creating if needed) the registry file at path, with mode 0600
// and its directory with 0700.
func Open(path string) (*Registry, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint: registry %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true,
		// Address space, not memory or disk: a large write transaction (an import)
		// would otherwise remap the file again and again as it grows, and every
		// remap walks every bucket the transaction touched.
		InitialMmapSize: initialMmapSize})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("checkpoint: registry %s is in use by another process (is another clusterd running on this data_dir?)", path)
		}
		return nil, fmt.Errorf("checkpoint: opening registry %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if f := meta.Get(formatKey); f != nil && !bytes.Equal(f, fileFormat) {
			return fmt.Errorf("format %q is not supported (want %q)", f, fileFormat)
		} else if f == nil {
			if err := meta.Put(formatKey, fileFormat); err != nil {
				return err
			}
		}
		_, err = tx.CreateBucketIfNotExists(rootBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("checkpoint: registry %s: %w", path, err)
	}
	r := &Registry{db: db, file: path, subs: map[*subscription]struct{}{}}
	r.idle = sync.NewCond(&r.mu)
	return r, nil
}

// Close waits for the writes in progress, closes every subscription channel
// and closes the file.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	for r.committing {
		r.idle.Wait()
	}
	for s := range r.subs {
		s.close()
	}
	r.subs = nil
	r.mu.Unlock()
	return r.db.Close()
}

// File is the path of the registry file.
func (r *Registry) File() string { return r.file }

// Revision counts the commits since Open. A snapshot reports the revision
// it was taken at, and subscribers receive the revision of the commit that
// notified them, so "has everything up to now been saved?" is a comparison
// of two numbers.
func (r *Registry) Revision() uint64 { return r.rev.Load() }

// update runs fn in a write transaction (possibly shared with concurrent
// writes) and notifies the subscribers of the keys fn reports as changed
// (folded paths). fn may run more than once: if another write of a shared
// commit fails, each is run again in a commit of its own. fn must return an
// error wrapping sdk.ErrNotFound only before changing anything: such a
// failure is its own and does not undo the writes it shares a commit with.
func (r *Registry) update(ctx context.Context, fn func(tx *bolt.Tx) ([]string, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &pendingWrite{fn: fn, done: make(chan struct{})}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.queue = append(r.queue, p)
	lead := !r.committing
	r.committing = true
	r.mu.Unlock()
	if lead {
		r.lead()
	}
	<-p.done
	return p.err
}

// lead commits what is queued; if more arrived meanwhile, a new leader
// goroutine takes over so that this writer can return.
func (r *Registry) lead() {
	r.mu.Lock()
	batch := r.queue
	r.queue = nil
	r.mu.Unlock()
	r.commit(batch)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) > 0 {
		go r.lead()
		return
	}
	r.committing = false
	r.idle.Broadcast()
}

// commit runs a batch in one transaction; if any write fails, the
// transaction is rolled back and each write runs again alone.
func (r *Registry) commit(batch []*pendingWrite) {
	err := r.db.Update(func(tx *bolt.Tx) error {
		for _, p := range batch {
			changed, err := p.fn(tx)
			if errors.Is(err, sdk.ErrNotFound) {
				p.err = err // changed nothing; the others go on
				continue
			}
			if err != nil {
				return err
			}
			p.changed = changed
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, p := range batch {
			p.err, p.changed = nil, nil
			r.commit([]*pendingWrite{p})
		}
		return
	}
	var changed []string
	for _, p := range batch {
		if err != nil {
			p.err = err
		} else {
			changed = append(changed, p.changed...)
		}
	}
	if len(changed) > 0 {
		rev := r.rev.Add(1)
		r.mu.Lock()
		r.notify(changed, rev)
		r.mu.Unlock()
	}
	for _, p := range batch {
		close(p.done)
	}
}

// view runs fn in a read transaction and returns the revision it reflects.
func (r *Registry) view(ctx context.Context, fn func(tx *bolt.Tx) error) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return 0, ErrClosed
	}
	rev := r.rev.Load() // before Begin: every commit up to rev is visible to the transaction
	tx, err := r.db.Begin(false)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return 0, ErrClosed
	}
	if err != nil {
		return 0, fmt.Errorf("checkpoint: registry %s: %w", r.file, err)
	}
	defer tx.Rollback()
	return rev, fn(tx)
}

func notFound(path string) error {
	return fmt.Errorf("checkpoint: registry key %q: %w", path, sdk.ErrNotFound)
}

// lookup finds the bucket of a key, or nil.
func lookup(tx *bolt.Tx, parts []string) *bolt.Bucket {
	b := tx.Bucket(rootBucket)
	for _, p := range parts {
		if b = b.Bucket(subKeyTag(p)); b == nil {
			return nil
		}
	}
	return b
}

// create finds or creates the bucket of a key, creating missing parents with
// the names as given.
func create(tx *bolt.Tx, parts []string) (*bolt.Bucket, error) {
	b := tx.Bucket(rootBucket)
	for _, p := range parts {
		tag := subKeyTag(p)
		sub := b.Bucket(tag)
		if sub == nil {
			var err error
			if sub, err = b.CreateBucket(tag); err != nil {
				return nil, err
			}
			if err := sub.Put(nameKey, []byte(p)); err != nil {
				return nil, err
			}
		}
		b = sub
	}
	return b, nil
}

func subKeyTag(name string) []byte { return append([]byte{tagKey}, Fold(name)...) }
func valueTag(name string) []byte  { return append([]byte{tagValue}, Fold(name)...) }

func foldedPath(parts []string) string { return Fold(strings.Join(parts, `\`)) }

// GetValue reads one value; sdk.ErrNotFound if the key or the value is missing.
func (r *Registry) GetValue(ctx context.Context, key, name string) (sdk.Value, error) {
	parts, err := splitPath(key)
	if err != nil {
		return sdk.Value{}, err
	}
	var v sdk.Value
	_, err = r.view(ctx, func(tx *bolt.Tx) error {
		b := lookup(tx, parts)
		if b == nil {
			return notFound(key)
		}
		raw := b.Get(valueTag(name))
		if raw == nil {
			return fmt.Errorf("checkpoint: registry key %q: value %q: %w", key, name, sdk.ErrNotFound)
		}
		v, err = decodeValue(raw)
		return err
	})
	return v, err
}

// SetValue creates or replaces a value, creating missing keys on the path. A
// value whose name differs only in case from an existing one replaces it and
// takes the new spelling.
func (r *Registry) SetValue(ctx context.Context, key, name string, v sdk.Value) error {
	parts, err := splitPath(key)
	if err != nil {
		return err
	}
	v.Name = name
	if v, err = checkValue(key, v); err != nil {
		return err
	}
	return r.update(ctx, func(tx *bolt.Tx) ([]string, error) {
		b, err := create(tx, parts)
		if err != nil {
			return nil, err
		}
		return []string{foldedPath(parts)}, b.Put(valueTag(name), encodeValue(v))
	})
}

// DeleteValue removes a value; sdk.ErrNotFound if it is missing.
func (r *Registry) DeleteValue(ctx context.Context, key, name string) error {
	parts, err := splitPath(key)
	if err != nil {
		return err
	}
	return r.update(ctx, func(tx *bolt.Tx) ([]string, error) {
		b := lookup(tx, parts)
		if b == nil {
			return nil, notFound(key)
		}
		tag := valueTag(name)
		if b.Get(tag) == nil {
			return nil, fmt.Errorf("checkpoint: registry key %q: value %q: %w", key, name, sdk.ErrNotFound)
		}
		return []string{foldedPath(parts)}, b.Delete(tag)
	})
}

// CreateKey creates a key and any missing parents; an existing key is left as it is.
func (r *Registry) CreateKey(ctx context.Context, key string) error {
	parts, err := splitPath(key)
	if err != nil {
		return err
	}
	return r.update(ctx, func(tx *bolt.Tx) ([]string, error) {
		if lookup(tx, parts) != nil {
			return nil, nil
		}
		_, err := create(tx, parts)
		return []string{foldedPath(parts)}, err
	})
}

// DeleteKey removes a key with everything below it; sdk.ErrNotFound if it is
// missing. The root cannot be deleted.
func (r *Registry) DeleteKey(ctx context.Context, key string) error {
	parts, err := splitPath(key)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("%w: the root key cannot be deleted", ErrInvalidPath)
	}
	return r.update(ctx, func(tx *bolt.Tx) ([]string, error) {
		parent := lookup(tx, parts[:len(parts)-1])
		if parent == nil {
			return nil, notFound(key)
		}
		if err := parent.DeleteBucket(subKeyTag(parts[len(parts)-1])); err != nil {
			if errors.Is(err, berrors.ErrBucketNotFound) {
				return nil, notFound(key)
			}
			return nil, err
		}
		return []string{foldedPath(parts)}, nil
	})
}

// SubKeys lists the names of a key's direct subkeys, sorted case-insensitively.
func (r *Registry) SubKeys(ctx context.Context, key string) ([]string, error) {
	parts, err := splitPath(key)
	if err != nil {
		return nil, err
	}
	var out []string
	_, err = r.view(ctx, func(tx *bolt.Tx) error {
		b := lookup(tx, parts)
		if b == nil {
			return notFound(key)
		}
		c := b.Cursor()
		for k, _ := c.Seek([]byte{tagKey}); k != nil && k[0] == tagKey; k, _ = c.Next() {
			out = append(out, string(b.Bucket(k).Get(nameKey)))
		}
		return nil
	})
	return out, err
}

// Values lists a key's values, sorted case-insensitively by name.
func (r *Registry) Values(ctx context.Context, key string) ([]sdk.Value, error) {
	parts, err := splitPath(key)
	if err != nil {
		return nil, err
	}
	var out []sdk.Value
	_, err = r.view(ctx, func(tx *bolt.Tx) error {
		b := lookup(tx, parts)
		if b == nil {
			return notFound(key)
		}
		out, err = readValues(b)
		return err
	})
	return out, err
}

func readValues(b *bolt.Bucket) ([]sdk.Value, error) {
	var out []sdk.Value
	c := b.Cursor()
	for k, v := c.Seek([]byte{tagValue}); k != nil && k[0] == tagValue; k, v = c.Next() {
		val, err := decodeValue(v)
		if err != nil {
			return nil, err
		}
		out = append(out, val)
	}
	return out, nil
}

// Snapshot returns a consistent copy of key and everything below it, read in
// one transaction, and the revision it reflects. sdk.ErrNotFound if the key
// does not exist (the revision is still returned).
func (r *Registry) Snapshot(ctx context.Context, key string) (*Key, uint64, error) {
	parts, err := splitPath(key)
	if err != nil {
		return nil, 0, err
	}
	var out *Key
	rev, err := r.view(ctx, func(tx *bolt.Tx) error {
		b := lookup(tx, parts)
		if b == nil {
			return notFound(key)
		}
		out, err = readTree(b)
		return err
	})
	return out, rev, err
}

// SnapshotJSON is Snapshot followed by Key.AppendJSON onto buf, done in one
// pass over the stored data without building the tree: the checkpoint
// manager encodes a subtree on every save. sdk.ErrNotFound if the key does
// not exist.
func (r *Registry) SnapshotJSON(ctx context.Context, key string, buf []byte) ([]byte, uint64, error) {
	parts, err := splitPath(key)
	if err != nil {
		return nil, 0, err
	}
	rev, err := r.view(ctx, func(tx *bolt.Tx) error {
		b := lookup(tx, parts)
		if b == nil {
			return notFound(key)
		}
		buf, err = appendBucketJSON(buf, b)
		return err
	})
	return buf, rev, err
}

func appendBucketJSON(out []byte, b *bolt.Bucket) ([]byte, error) {
	out = append(out, `{"name":`...)
	out = appendJSONString(out, b.Get(nameKey))
	out = append(out, `,"values":[`...)
	c := b.Cursor()
	first := true
	for k, v := c.Seek([]byte{tagValue}); k != nil && k[0] == tagValue; k, v = c.Next() {
		if !first {
			out = append(out, ',')
		}
		first = false
		var err error
		if out, err = appendValueJSON(out, v); err != nil {
			return nil, err
		}
	}
	out = append(out, `],"keys":[`...)
	first = true
	for k, _ := c.Seek([]byte{tagKey}); k != nil && k[0] == tagKey; k, _ = c.Next() {
		if !first {
			out = append(out, ',')
		}
		first = false
		var err error
		if out, err = appendBucketJSON(out, b.Bucket(k)); err != nil {
			return nil, err
		}
	}
	return append(out, "]}"...), nil
}

func readTree(b *bolt.Bucket) (*Key, error) {
	k := &Key{Name: string(b.Get(nameKey))}
	c := b.Cursor()
	for tag, v := c.First(); tag != nil; tag, v = c.Next() {
		switch tag[0] {
		case tagValue:
			val, err := decodeValue(v)
			if err != nil {
				return nil, err
			}
			k.Values = append(k.Values, val)
		case tagKey:
			sub, err := readTree(b.Bucket(tag))
			if err != nil {
				return nil, err
			}
			k.SubKeys = append(k.SubKeys, sub)
		}
	}
	return k, nil
}

// Replace makes key hold exactly tree, atomically: the old subtree goes and
// the new one is written in one transaction, so a reader (or a crash) sees
// either all of the old one or all of the new one. The tree's root name must
// be the last name of key (case may differ; the tree's spelling wins).
// Missing parents are created. A nil tree deletes the key (a missing key is
// then not an error). The tree is validated first.
func (r *Registry) Replace(ctx context.Context, key string, tree *Key) error {
	parts, err := splitPath(key)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("%w: the root key cannot be replaced", ErrInvalidPath)
	}
	if tree != nil {
		if Fold(tree.Name) != Fold(parts[len(parts)-1]) {
			return fmt.Errorf("%w: tree %q cannot replace key %q: the names differ", ErrInvalidPath, tree.Name, key)
		}
		if err := tree.Validate(len(parts) - 1); err != nil {
			return err
		}
	}
	return r.update(ctx, func(tx *bolt.Tx) ([]string, error) {
		last := parts[len(parts)-1]
		parent := lookup(tx, parts[:len(parts)-1])
		if parent == nil {
			if tree == nil {
				return nil, nil
			}
			if parent, err = create(tx, parts[:len(parts)-1]); err != nil {
				return nil, err
			}
		}
		tag := subKeyTag(last)
		if err := parent.DeleteBucket(tag); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return nil, err
		} else if err != nil && tree == nil {
			return nil, nil
		}
		if tree != nil {
			if err := writeTree(parent, tree); err != nil {
				return nil, err
			}
		}
		return []string{foldedPath(parts)}, nil
	})
}

func writeTree(parent *bolt.Bucket, k *Key) error {
	b, err := parent.CreateBucket(subKeyTag(k.Name))
	if err != nil {
		return err
	}
	if err := b.Put(nameKey, []byte(k.Name)); err != nil {
		return err
	}
	for _, v := range k.Values {
		if err := b.Put(valueTag(v.Name), encodeValue(v)); err != nil {
			return err
		}
	}
	for _, s := range k.SubKeys {
		if err := writeTree(b, s); err != nil {
			return err
		}
	}
	return nil
}

// subscription is one Subscribe call: a one-slot channel that always holds
// the newest revision not yet received.
type subscription struct {
	folded string
	ch     chan uint64
	once   sync.Once
}

func (s *subscription) close() { s.once.Do(func() { close(s.ch) }) }

// send puts rev in the slot, replacing an older revision not yet received.
// Dropping the older one loses nothing: the receiver reacts to a revision
// by reading the registry, which then reflects both writes.
func (s *subscription) send(rev uint64) {
	for {
		select {
		case s.ch <- rev:
			return
		default:
		}
		select {
		case <-s.ch:
		default:
		}
	}
}

// Subscribe reports writes that change key or anything below it (or delete
// or replace one of its parents). Each receive yields the revision of the
// newest such write; a receiver that lags gets the newest revision only,
// never a backlog, so it should react by reading the current state (a
// Snapshot taken after the receive reflects every write up to that revision).
// The key need not exist. The channel closes when ctx ends or the registry
// is closed.
func (r *Registry) Subscribe(ctx context.Context, key string) (<-chan uint64, error) {
	parts, err := splitPath(key)
	if err != nil {
		return nil, err
	}
	s := &subscription{folded: foldedPath(parts), ch: make(chan uint64, 1)}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	context.AfterFunc(ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.subs != nil {
			delete(r.subs, s)
		}
		s.close()
	})
	return s.ch, nil
}

// notify runs with r.mu held.
func (r *Registry) notify(changed []string, rev uint64) {
	for s := range r.subs {
		for _, c := range changed {
			if overlaps(s.folded, c) {
				s.send(rev)
				break
			}
		}
	}
}
