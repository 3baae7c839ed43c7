package model

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that reads and writes as a Go duration string
// ("5s", "1h30m") in JSON and TOML, so stored records stay readable with etcdctl.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. Only duration strings are
// accepted: a bare number is ambiguous (seconds? nanoseconds?) and is refused.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a string such as \"5s\" or \"500ms\")", b)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", b)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON accepts the JSON string form only.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("invalid duration %s (want a string such as \"5s\")", b)
	}
	return d.UnmarshalText([]byte(s))
}

// Resource type kinds.
const (
	KindPlugin = "plugin" // a hashicorp/go-plugin executable
	KindWASM   = "wasm"   // a WebAssembly module run by the node's wazero runtime
)

// RestartAction values, with the Windows numbers.
const (
	RestartNone         = 0 // leave the resource failed
	RestartOnly         = 1 // restart, never fail the group over
	RestartThenFailover = 2 // restart, then fail the group over past the threshold
)

// AutoFailbackType values.
const (
	FailbackPrevent = "prevent"
	FailbackAllow   = "allow"
)

// FailoverThresholdAuto stored in Group.FailoverThreshold means "number of
// nodes in the cluster minus one", evaluated when the group fails over.
const FailoverThresholdAuto = -1

// Properties are the common properties of a resource, with the Windows
// defaults of DefaultProperties.
type Properties struct {
	PendingTimeout         Duration `json:"pending_timeout"`
	RestartAction          int      `json:"restart_action"`
	RestartThreshold       int      `json:"restart_threshold"`
	RestartPeriod          Duration `json:"restart_period"`
	RestartDelay           Duration `json:"restart_delay"`
	LooksAlivePollInterval Duration `json:"looks_alive_poll_interval"`
	IsAlivePollInterval    Duration `json:"is_alive_poll_interval"`
	RetryPeriodOnFailure   Duration `json:"retry_period_on_failure"`
	SeparateMonitor        bool     `json:"separate_monitor"`
	DeadlockTimeout        Duration `json:"deadlock_timeout"`
}

// DefaultProperties returns the Windows Failover Cluster defaults.
func DefaultProperties() Properties {
	return Properties{
		PendingTimeout:         Duration(180 * time.Second),
		RestartAction:          RestartThenFailover,
		RestartThreshold:       3,
		RestartPeriod:          Duration(900 * time.Second),
		RestartDelay:           Duration(500 * time.Millisecond),
		LooksAlivePollInterval: Duration(5 * time.Second),
		IsAlivePollInterval:    Duration(60 * time.Second),
		RetryPeriodOnFailure:   Duration(time.Hour),
		SeparateMonitor:        false,
		DeadlockTimeout:        Duration(300 * time.Second),
	}
}

// ResourceType is a loadable resource type ("resource DLL").
type ResourceType struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // KindPlugin or KindWASM
	Path string `json:"path"`
	// SHA256 pins the binary or module; empty means not pinned.
	SHA256 string `json:"sha256,omitempty"`
	// Defaults are the common properties a resource of this type starts from.
	Defaults Properties `json:"defaults"`
	// Capabilities granted to WASM guests (ignored for plugins).
	Capabilities Capabilities `json:"capabilities"`
	// MemoryLimitPages bounds a WASM instance's memory (64 KiB pages; 0 = the
	// driver's default, 64 MiB).
	MemoryLimitPages uint32 `json:"memory_limit_pages,omitempty"`
}

// Capabilities are what a WASM resource type may reach outside its sandbox.
type Capabilities struct {
	// Commands a guest may start as child processes (absolute paths or names).
	Commands []string `json:"commands,omitempty"`
	// Dirs are host directories a guest may open (WASI preopens).
	Dirs []string `json:"dirs,omitempty"`
}

// Group is a unit of failover: its resources are online on one node at a time.
type Group struct {
	Name              string   `json:"name"`
	PreferredOwners   []string `json:"preferred_owners"`
	FailoverThreshold int      `json:"failover_threshold"` // FailoverThresholdAuto = nodes-1
	FailoverPeriod    Duration `json:"failover_period"`
	AutoFailbackType  string   `json:"auto_failback_type"`
	// FailbackWindowStart and FailbackWindowEnd are hours 0-23; -1 means none.
	FailbackWindowStart int  `json:"failback_window_start"`
	FailbackWindowEnd   int  `json:"failback_window_end"`
	PersistentState     bool `json:"persistent_state"`
	Priority            int  `json:"priority"`
}

// DefaultGroup returns a group with the Windows defaults.
func DefaultGroup(name string) Group {
	return Group{
		Name:                name,
		FailoverThreshold:   FailoverThresholdAuto,
		FailoverPeriod:      Duration(6 * time.Hour),
		AutoFailbackType:    FailbackPrevent,
		FailbackWindowStart: -1,
		FailbackWindowEnd:   -1,
	}
}

// EffectiveFailoverThreshold resolves FailoverThresholdAuto for a cluster of n nodes.
func (g Group) EffectiveFailoverThreshold(nodes int) int {
	if g.FailoverThreshold != FailoverThresholdAuto {
		return g.FailoverThreshold
	}
	if nodes <= 1 {
		return 1
	}
	return nodes - 1
}

// Resource is one managed instance of a resource type.
type Resource struct {
	ID    string `json:"id"` // a GUID, fixed for the resource's lifetime
	Name  string `json:"name"`
	Type  string `json:"type"`
	Group string `json:"group"`
	// Dependencies is an AND of OR-groups of resource names in the same group:
	// [["Disk P"], ["IP A", "IP B"]] means Disk P and (IP A or IP B).
	Dependencies   [][]string     `json:"dependencies,omitempty"`
	PossibleOwners []string       `json:"possible_owners,omitempty"` // empty: every node
	Properties     Properties     `json:"properties"`
	Private        map[string]any `json:"private,omitempty"`
	// RegistryCheckpoints are registry subtrees (backslash paths) that follow the resource.
	RegistryCheckpoints []string `json:"registry_checkpoints,omitempty"`
	// CryptoCheckpoints are key containers named Type\Provider\Container.
	CryptoCheckpoints []string `json:"crypto_checkpoints,omitempty"`
}

// CheckpointList is the resource's list of checkpoints of one kind.
func (r Resource) CheckpointList(kind CheckpointKind) []string {
	if kind == CryptoCheckpoint {
		return r.CryptoCheckpoints
	}
	return r.RegistryCheckpoints
}

// SetCheckpointList replaces the resource's list of checkpoints of one kind.
func (r *Resource) SetCheckpointList(kind CheckpointKind, l []string) {
	if len(l) == 0 {
		l = nil
	}
	if kind == CryptoCheckpoint {
		r.CryptoCheckpoints = l
	} else {
		r.RegistryCheckpoints = l
	}
}

// Ref names a resource to the parts that host it (plugin hosts, the
// checkpoint engine): its GUID and its name.
type Ref struct {
	ID   string
	Name string
}
