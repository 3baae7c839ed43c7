package wasm

import (
	"context"
	"fmt"

	"github.com/resmon/resmon/plugins"
)

var _ plugins.Loader = (*Driver)(nil)

// Load implements plugins.Loader: it compiles t now (or takes it from the
// compilation cache), so that the first Open on this node, typically during
// a failover, does not pay for it.
func (d *Driver) Load(ctx context.Context, t plugins.TypeSpec) error {
	if t.Kind != Kind {
		return fmt.Errorf("%w: wasm: type %q has kind %q, not %q", plugins.ErrBadModule, t.Name, t.Kind, Kind)
	}
	_, err := d.load(ctx, t)
	return err
}
