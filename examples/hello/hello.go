// Package hello is the smallest useful resource type: it is online when
// told to be, and answers one control code of its own with its greeting.
// It exists to show an author the whole path — the type, its go-plugin
// and WASM mains, and the test file to copy (hello_test.go) — in a few
// lines.
package hello

import (
	"context"
	"fmt"
	"sync"

	"github.com/resmon/resmon/sdk"
)

// CodeGreeting answers with the resource's greeting. It lies in the range
// of codes a type defines for itself (sdk.ControlCode.IsTypeCode).
const CodeGreeting sdk.ControlCode = 0x01200001

// Type opens hello resources. The one private property, Greeting, is
// optional.
type Type struct{}

// Open implements sdk.ResourceType.
func (Type) Open(_ context.Context, host sdk.Host, req sdk.OpenRequest) (sdk.Resource, error) {
	g := "hello"
	if v, ok := req.Properties["Greeting"]; ok {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: hello: resource %q: Greeting must be a string, not %T", sdk.ErrInvalidParameter, req.Name, v)
		}
		g = s
	}
	return &resource{host: host, greeting: g}, nil
}

type resource struct {
	host     sdk.Host
	greeting string
	mu       sync.Mutex
	online   bool
}

func (r *resource) set(online bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.online = online
}

func (r *resource) is() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.online
}

func (r *resource) Online(context.Context) error {
	r.host.Log(sdk.LevelInfo, r.greeting)
	r.set(true)
	return nil
}
func (r *resource) Offline(context.Context) error   { r.set(false); return nil }
func (r *resource) Terminate(context.Context) error { r.set(false); return nil }
func (r *resource) LooksAlive(context.Context) bool { return r.is() }
func (r *resource) IsAlive(context.Context) bool    { return r.is() }
func (r *resource) Close(context.Context) error     { return nil }

// Control answers CodeGreeting; any other code is not handled.
func (r *resource) Control(_ context.Context, code sdk.ControlCode, _ []byte) ([]byte, error) {
	if code == CodeGreeting {
		return []byte(r.greeting), nil
	}
	return nil, fmt.Errorf("%w: %s", sdk.ErrInvalidFunction, code)
}
