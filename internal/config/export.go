package config

import (
	"bytes"
	"fmt"
	"math"

	"github.com/BurntSushi/toml"
	"github.com/resmon/resmon/model"
)

// exportFile is what Export writes: only the entries of the cluster
// database, so the file can be applied to any node's configuration or
// merged into one.
type exportFile struct {
	ResourceTypes []ResourceType `toml:"resource_type"`
	Groups        []Group        `toml:"group"`
	Resources     []Resource     `toml:"resource"`
}

// Export writes database records as cluster.toml entries ([[resource_type]],
// [[group]], [[resource]]) such that loading them and taking Records gives
// the same records back: every group property is written, a resource's
// common properties only where they differ from its type's defaults, and
// resources keep their ids.
func Export(types []model.ResourceType, groups []model.Group, resources []model.Resource) ([]byte, error) {
	var f exportFile
	defaults := map[string]model.Properties{}
	for _, t := range types {
		defaults[t.Name] = t.Defaults
		f.ResourceTypes = append(f.ResourceTypes, ResourceType{
			Name: t.Name, Kind: t.Kind, Path: t.Path, SHA256: t.SHA256, MemoryLimitPages: t.MemoryLimitPages,
			Defaults:     propertiesOf(t.Defaults, model.DefaultProperties()),
			Capabilities: Capabilities{Commands: t.Capabilities.Commands, Dirs: t.Capabilities.Dirs},
		})
	}
	for _, g := range groups {
		var threshold *int // left out: the cluster's nodes − 1
		if g.FailoverThreshold != model.FailoverThresholdAuto {
			threshold = ptr(g.FailoverThreshold)
		}
		f.Groups = append(f.Groups, Group{
			Name: g.Name, PreferredOwners: g.PreferredOwners, FailoverThreshold: threshold,
			FailoverPeriod: ptr(g.FailoverPeriod), AutoFailback: g.AutoFailbackType,
			FailbackWindowStart: ptr(g.FailbackWindowStart), FailbackWindowEnd: ptr(g.FailbackWindowEnd),
			PersistentState: g.PersistentState, Priority: g.Priority,
		})
	}
	for _, r := range resources {
		base, ok := defaults[r.Type]
		if !ok {
			base = model.DefaultProperties()
		}
		f.Resources = append(f.Resources, Resource{
			Name: r.Name, ID: r.ID, Type: r.Type, Group: r.Group, Dependencies: r.Dependencies,
			PossibleOwners: r.PossibleOwners, RegistryCheckpoints: r.RegistryCheckpoints, CryptoCheckpoints: r.CryptoCheckpoints,
			Properties: propertiesOf(r.Properties, base), Private: tomlValues(r.Private),
		})
	}
	var b bytes.Buffer
	b.WriteString("# The cluster database as cluster.toml entries (cluster config export).\n")
	if err := toml.NewEncoder(&b).Encode(f); err != nil {
		return nil, fmt.Errorf("config: exporting the database: %w", err)
	}
	return b.Bytes(), nil
}

func ptr[T any](v T) *T { return &v }

// propertiesOf sets the properties of p that differ from base.
func propertiesOf(p, base model.Properties) Properties {
	var out Properties
	d := func(v, b model.Duration) *model.Duration {
		if v == b {
			return nil
		}
		return &v
	}
	out.PendingTimeout = d(p.PendingTimeout, base.PendingTimeout)
	out.RestartPeriod = d(p.RestartPeriod, base.RestartPeriod)
	out.RestartDelay = d(p.RestartDelay, base.RestartDelay)
	out.LooksAlivePollInterval = d(p.LooksAlivePollInterval, base.LooksAlivePollInterval)
	out.IsAlivePollInterval = d(p.IsAlivePollInterval, base.IsAlivePollInterval)
	out.RetryPeriodOnFailure = d(p.RetryPeriodOnFailure, base.RetryPeriodOnFailure)
	out.DeadlockTimeout = d(p.DeadlockTimeout, base.DeadlockTimeout)
	if p.RestartAction != base.RestartAction {
		out.RestartAction = ptr(p.RestartAction)
	}
	if p.RestartThreshold != base.RestartThreshold {
		out.RestartThreshold = ptr(p.RestartThreshold)
	}
	if p.SeparateMonitor != base.SeparateMonitor {
		out.SeparateMonitor = ptr(p.SeparateMonitor)
	}
	return out
}

// tomlValues makes private values read from JSON fit for TOML: JSON
// numbers decode as float64, and a whole one is written as an integer so
// that it reads back as it was written (as JSON, 5 and 5.0 are one value).
func tomlValues(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = tomlValue(v)
	}
	return out
}

func tomlValue(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = tomlValue(x[i])
		}
		return out
	case map[string]any:
		return tomlValues(x)
	}
	return v
}
