package sdktest

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/resmon/resmon/sdk"
)

// MemRegistry is an in-memory sdk.Registry with the node registry's rules
// (backslash paths, case-insensitive and case-preserving names, typed
// values). It is what tests and the conformance harness hand to resources.
type MemRegistry struct {
	mu   sync.Mutex
	root *memKey
}

type memKey struct {
	name   string
	subs   map[string]*memKey // by lower-case name
	values map[string]sdk.Value
}

func newMemKey(name string) *memKey {
	return &memKey{name: name, subs: map[string]*memKey{}, values: map[string]sdk.Value{}}
}

// NewMemRegistry returns an empty registry.
func NewMemRegistry() *MemRegistry { return &MemRegistry{root: newMemKey("")} }

var _ sdk.Registry = (*MemRegistry)(nil)

func splitKey(key string) ([]string, error) {
	key = strings.TrimPrefix(key, `\`)
	if key == "" {
		return nil, nil
	}
	parts := strings.Split(key, `\`)
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%w: registry path %q has an empty segment", sdk.ErrInvalidParameter, key)
		}
	}
	return parts, nil
}

// walk finds key; with create it makes missing keys.
func (r *MemRegistry) walk(key string, create bool) (*memKey, error) {
	parts, err := splitKey(key)
	if err != nil {
		return nil, err
	}
	k := r.root
	for _, p := range parts {
		next, ok := k.subs[strings.ToLower(p)]
		if !ok {
			if !create {
				return nil, fmt.Errorf("%w: registry key %q", sdk.ErrNotFound, key)
			}
			next = newMemKey(p)
			k.subs[strings.ToLower(p)] = next
		}
		k = next
	}
	return k, nil
}

func copyValue(v sdk.Value) sdk.Value {
	v.Strs = append([]string(nil), v.Strs...)
	v.Bytes = bytes.Clone(v.Bytes)
	return v
}

// GetValue implements sdk.Registry.
func (r *MemRegistry) GetValue(_ context.Context, key, name string) (sdk.Value, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.walk(key, false)
	if err != nil {
		return sdk.Value{}, err
	}
	v, ok := k.values[strings.ToLower(name)]
	if !ok {
		return sdk.Value{}, fmt.Errorf("%w: registry value %q in %q", sdk.ErrNotFound, name, key)
	}
	return copyValue(v), nil
}

// SetValue implements sdk.Registry.
func (r *MemRegistry) SetValue(_ context.Context, key, name string, v sdk.Value) error {
	v.Name = name
	if err := v.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.walk(key, true)
	if err != nil {
		return err
	}
	k.values[strings.ToLower(name)] = copyValue(v)
	return nil
}

// DeleteValue implements sdk.Registry.
func (r *MemRegistry) DeleteValue(_ context.Context, key, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.walk(key, false)
	if err != nil {
		return err
	}
	if _, ok := k.values[strings.ToLower(name)]; !ok {
		return fmt.Errorf("%w: registry value %q in %q", sdk.ErrNotFound, name, key)
	}
	delete(k.values, strings.ToLower(name))
	return nil
}

// CreateKey implements sdk.Registry.
func (r *MemRegistry) CreateKey(_ context.Context, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.walk(key, true)
	return err
}

// DeleteKey implements sdk.Registry.
func (r *MemRegistry) DeleteKey(_ context.Context, key string) error {
	parts, err := splitKey(key)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("%w: the registry root cannot be deleted", sdk.ErrInvalidParameter)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	parent, err := r.walk(strings.Join(parts[:len(parts)-1], `\`), false)
	if err != nil {
		return err
	}
	last := strings.ToLower(parts[len(parts)-1])
	if _, ok := parent.subs[last]; !ok {
		return fmt.Errorf("%w: registry key %q", sdk.ErrNotFound, key)
	}
	delete(parent.subs, last)
	return nil
}

// SubKeys implements sdk.Registry.
func (r *MemRegistry) SubKeys(_ context.Context, key string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.walk(key, false)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(k.subs))
	for _, s := range k.subs {
		out = append(out, s.name)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out, nil
}

// Values implements sdk.Registry.
func (r *MemRegistry) Values(_ context.Context, key string) ([]sdk.Value, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.walk(key, false)
	if err != nil {
		return nil, err
	}
	out := make([]sdk.Value, 0, len(k.values))
	for _, v := range k.values {
		out = append(out, copyValue(v))
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

// Checkpoints keeps the checkpoint lists of resources in memory and answers
// the six checkpoint control codes with the host's semantics: adding an
// existing checkpoint → sdk.ErrAlreadyExists, deleting a missing one →
// sdk.ErrNotFound, GET into a too-small buffer → *sdk.MoreDataError.
// FLUSH_CHECKPOINTS returns at once: there is no quorum to wait for. Paths
// compare case-insensitively; one leading backslash is ignored.
type Checkpoints struct {
	mu       sync.Mutex
	registry map[string][]string // resource id → registry checkpoints
	crypto   map[string][]string
}

// NewCheckpoints returns empty checkpoint lists.
func NewCheckpoints() *Checkpoints {
	return &Checkpoints{registry: map[string][]string{}, crypto: map[string][]string{}}
}

// List returns a resource's registry or crypto checkpoints.
func (c *Checkpoints) List(resourceID string, crypto bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if crypto {
		return append([]string(nil), c.crypto[resourceID]...)
	}
	return append([]string(nil), c.registry[resourceID]...)
}

// Control answers a checkpoint control code for resourceID; any other code
// gives sdk.ErrInvalidFunction.
func (c *Checkpoints) Control(resourceID string, code sdk.ControlCode, in, out []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lists := c.registry
	switch code {
	case sdk.AddCryptoCheckpoint, sdk.DeleteCryptoCheckpoint, sdk.GetCryptoCheckpoints:
		lists = c.crypto
	case sdk.AddRegistryCheckpoint, sdk.DeleteRegistryCheckpoint, sdk.GetRegistryCheckpoints:
	case sdk.FlushCheckpoints:
		return 0, nil
	default:
		return 0, fmt.Errorf("%w: %s", sdk.ErrInvalidFunction, code)
	}
	name := strings.TrimPrefix(strings.TrimRight(string(in), "\x00"), `\`)
	idx := -1
	for i, p := range lists[resourceID] {
		if strings.EqualFold(p, name) {
			idx = i
		}
	}
	switch code {
	case sdk.AddRegistryCheckpoint, sdk.AddCryptoCheckpoint:
		if name == "" {
			return 0, fmt.Errorf("%w: empty checkpoint name", sdk.ErrInvalidParameter)
		}
		if idx >= 0 {
			return 0, fmt.Errorf("%w: checkpoint %q", sdk.ErrAlreadyExists, name)
		}
		lists[resourceID] = append(lists[resourceID], name)
		return 0, nil
	case sdk.DeleteRegistryCheckpoint, sdk.DeleteCryptoCheckpoint:
		if idx < 0 {
			return 0, fmt.Errorf("%w: checkpoint %q", sdk.ErrNotFound, name)
		}
		l := lists[resourceID]
		lists[resourceID] = append(l[:idx:idx], l[idx+1:]...)
		return 0, nil
	default: // GET
		var b []byte
		for _, p := range lists[resourceID] {
			b = append(append(b, p...), 0)
		}
		b = append(b, 0)
		if len(out) < len(b) {
			return 0, &sdk.MoreDataError{Needed: len(b)}
		}
		return copy(out, b), nil
	}
}
