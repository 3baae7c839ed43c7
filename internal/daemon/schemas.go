package daemon

import (
	"context"
	"encoding/json"
	"reflect"
	"time"

	"github.com/resmon/resmon/model"
	"github.com/resmon/resmon/plugins"
)

// Resource types that describe their private properties (sdk.Describer)
// have the description published under schemas/<type> by the nodes that
// load them, for `cluster resource set` to check values against before it
// writes. Every node does it for every type its drivers can ask, at start
// and when a type record changes; a description equal to the published one
// is not written again.

// publishSchemas publishes the descriptions until ctx ends.
func (n *node) publishSchemas(ctx context.Context) {
	done := map[string]bool{} // by what is loaded: a new path or pin asks again
	events := n.store.WatchDB(ctx)
	for {
		types, err := n.store.Types(ctx)
		if err == nil {
			for _, t := range types {
				if !done[comparable(t.Value)] && n.publishSchema(ctx, t.Value) {
					done[comparable(t.Value)] = true
				}
			}
		}
		for ev := range events {
			if ev.Kind == "type" || ev.Resync {
				break
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// comparable names what is loaded for a type.
func comparable(t model.ResourceType) string {
	return t.Name + "\x00" + t.Kind + "\x00" + t.Path + "\x00" + t.SHA256
}

// publishSchema asks the type for its description and publishes it; it
// reports whether the type was asked (described or not).
func (n *node) publishSchema(ctx context.Context, t model.ResourceType) bool {
	d, ok := n.drivers[t.Kind].(plugins.Describer)
	if !ok {
		return true
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	specs, described, err := d.Describe(dctx, plugins.TypeSpec{Name: t.Name, Kind: t.Kind, Path: t.Path, SHA256: t.SHA256,
		MemoryLimitPages: t.MemoryLimitPages, Commands: t.Capabilities.Commands, Dirs: t.Capabilities.Dirs})
	if err != nil {
		n.log.Warn("could not ask the resource type for its properties", "type", t.Name, "error", err)
		return false
	}
	if !described {
		return true
	}
	sc := model.TypeSchema{Type: t.Name, Node: n.cfg.Node.Name, Time: time.Now().UTC()}
	for _, s := range specs {
		if !model.ValidTypeName(s.Type) {
			n.log.Warn("the resource type describes a property with an unknown type; its description is not published",
				"type", t.Name, "property", s.Name, "property_type", s.Type)
			return true
		}
		sc.Properties = append(sc.Properties, model.PropertySpec{Name: s.Name, Type: s.Type, Required: s.Required, Default: s.Default, Description: s.Description})
	}
	if old, err := n.store.TypeSchema(ctx, t.Name); err == nil && reflect.DeepEqual(jsonRoundTrip(old.Properties), jsonRoundTrip(sc.Properties)) {
		return true
	}
	if err := n.store.PutTypeSchema(ctx, sc); err != nil {
		n.log.Warn("could not publish the resource type's properties", "type", t.Name, "error", err)
		return false
	}
	n.log.Info("published the resource type's private properties", "type", t.Name, "properties", len(sc.Properties))
	return true
}

// jsonRoundTrip is specs as they read back from etcd (numbers as float64).
func jsonRoundTrip(specs []model.PropertySpec) []model.PropertySpec {
	b, _ := json.Marshal(specs)
	var out []model.PropertySpec
	json.Unmarshal(b, &out)
	return out
}
