// Package chaos is a fault-injection runner for resmon: it starts etcd and
// real clusterd processes hosting the go-plugin test type, injects seeded
// faults from outside the nodes (kills, stops, partitions, plugin crashes,
// failing resources, damaged checkpoints, etcd member restarts) and checks
// invariants on what the nodes did: no dual online, no lost checkpoint,
// and liveness once the faults stop.
package chaos

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Kind names a fault.
type Kind string

// The fault kinds.
const (
	KindKill    Kind = "kill"    // kill -9 a node's clusterd, restart it once the groups moved
	KindStop    Kind = "stop"    // SIGSTOP a node past its lease, then SIGCONT
	KindCut     Kind = "cut"     // blackhole a node's etcd traffic past its lease, then heal
	KindRestart Kind = "restart" // SIGTERM (drain) a node and start it again
	KindBounce  Kind = "bounce"  // kill -9 a node and start it again at once, resources running
	KindPlugin  Kind = "plugin"  // kill -9 a go-plugin host process of a node
	KindFail    Kind = "fail"    // make a resource fail its health checks (LooksAlive, IsAlive)
	KindTrap    Kind = "trap"    // make a WASM resource trap in LooksAlive
	KindHang    Kind = "hang"    // make a WASM resource spin in LooksAlive until interrupted
	KindDelete  Kind = "delete"  // delete a resource's CPT in etcd, recover it from the owner
	KindCorrupt Kind = "corrupt" // corrupt a CPT, force a restore elsewhere, expect detection
	KindLost    Kind = "lost"    // kill the owner, delete a resource's CPT keys by hand, expect a hold, recover
	KindRestore Kind = "restore" // back up, then force a restore while every group runs
	KindEdit    Kind = "edit"    // break a resource's private properties so it fails, fix them while it fails
	KindOrphan  Kind = "orphan"  // kill -9 a node running WASM children (every other time its keeper too), restart it, look for survivors
	KindMember  Kind = "member"  // stop an etcd follower and restart it (3 members only)
	KindLeader  Kind = "leader"  // stop the etcd leader and restart it (3 members only)
)

// AllKinds are the fault kinds in the order the summary lists them.
var AllKinds = []Kind{KindKill, KindStop, KindCut, KindRestart, KindBounce, KindPlugin, KindFail, KindTrap, KindHang, KindDelete, KindCorrupt, KindLost, KindRestore, KindEdit, KindOrphan, KindMember, KindLeader}

// needs says what a kind needs to apply: 3 etcd members, a WASM group.
func (k Kind) needs() (members3, wasm bool) {
	switch k {
	case KindMember, KindLeader:
		return true, false
	case KindTrap, KindHang, KindOrphan:
		return false, true
	}
	return false, false
}

// ParseKinds parses a comma-separated list of kinds ("" is every kind).
func ParseKinds(s string) ([]Kind, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(f))
		ok := false
		for _, a := range AllKinds {
			ok = ok || a == k
		}
		if !ok {
			return nil, fmt.Errorf("chaos: unknown fault kind %q (known: %v)", k, AllKinds)
		}
		out = append(out, k)
	}
	return out, nil
}

// Config says what to run.
type Config struct {
	Rounds       int
	Seed         uint64
	Nodes        int           // clusterd processes, at least 2 (default 3)
	Groups       int           // go-plugin groups of the test type (default 3)
	WasmGroups   int           // WASM groups of the test type (0: none)
	EtcdMembers  int           // 1 or 3 (default 1)
	Lease        time.Duration // node lease TTL, whole seconds (default 1s)
	Kinds        []Kind        // nil: every kind that applies
	Out          string        // run directory for logs, configs, witness files; "" = a new temp dir
	Clusterd     string        // clusterd binary; "" = go build it
	Testtype     string        // testtype-plugin binary; "" = go build it
	TesttypeWASM string        // testtype-wasm module; "" = go build it (when WasmGroups > 0)
	App          string        // applife-app, the application every resource runs; "" = go build it
	// Settle bounds the wait for every group to be online after a fault;
	// Liveness the final wait once the faults stop (both default 30s).
	Settle   time.Duration
	Liveness time.Duration
	Log      io.Writer // one line per round; nil discards
}

func (c *Config) defaults() error {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Groups == 0 {
		c.Groups = 3
	}
	if c.EtcdMembers == 0 {
		c.EtcdMembers = 1
	}
	if c.Lease == 0 {
		c.Lease = time.Second
	}
	if c.Settle == 0 {
		c.Settle = 30 * time.Second
	}
	if c.Liveness == 0 {
		c.Liveness = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	switch {
	case c.Nodes < 2:
		return fmt.Errorf("chaos: %d nodes: need at least 2 for a failover", c.Nodes)
	case c.EtcdMembers != 1 && c.EtcdMembers != 3:
		return fmt.Errorf("chaos: %d etcd members: want 1 or 3", c.EtcdMembers)
	case c.Lease < time.Second || c.Lease%time.Second != 0:
		return fmt.Errorf("chaos: lease %s: whole seconds, at least 1s", c.Lease)
	case c.Rounds < 0:
		return fmt.Errorf("chaos: %d rounds", c.Rounds)
	case c.WasmGroups < 0:
		return fmt.Errorf("chaos: %d WASM groups", c.WasmGroups)
	}
	applies := func(k Kind) error {
		m3, wasm := k.needs()
		switch {
		case m3 && c.EtcdMembers != 3:
			return fmt.Errorf("chaos: fault kind %q needs -etcd-members 3", k)
		case wasm && c.WasmGroups == 0:
			return fmt.Errorf("chaos: fault kind %q needs a WASM group (-wasm-groups 1)", k)
		}
		return nil
	}
	if len(c.Kinds) == 0 {
		for _, k := range AllKinds {
			if applies(k) == nil {
				c.Kinds = append(c.Kinds, k)
			}
		}
	}
	for _, k := range c.Kinds {
		if err := applies(k); err != nil {
			return err
		}
	}
	return nil
}

// CheckOneCopy is the check that no application runs on two nodes at
// once: a new tenure's first process starts after the old tenure's last
// one ended.
const CheckOneCopy = "one application copy"

// Violation is one broken invariant.
type Violation struct {
	Round  int // 0: found after the rounds
	Check  string
	Detail string
}

func (v Violation) String() string {
	if v.Round == 0 {
		return fmt.Sprintf("%s: %s", v.Check, v.Detail)
	}
	return fmt.Sprintf("round %d: %s: %s", v.Round, v.Check, v.Detail)
}

// Report is the outcome of a run.
type Report struct {
	Seed        uint64
	Requested   int // rounds asked for
	Rounds      int // rounds run
	EtcdMembers int
	Dir         string
	Faults      map[Kind]int
	Failovers   map[Kind]int
	// Times are failover times by kind: from the fault to the witnessed
	// Online of the group's new tenure.
	Times     map[Kind][]time.Duration
	Probes    int // stale-token writes tried, each refused with ErrFenced
	Confirmed int // counter values the hosts confirmed stored (FLUSH_CHECKPOINTS)
	Restored  int // Onlines whose restored counter was checked against them
	Detected  int // corrupt checkpoints detected
	Tolerated int // overlaps of a fenced stale tenure and its successor
	// Apps counts the application processes the resources ran, seen from
	// outside (their own start, their end through a pidfd); Gaps are, for
	// each handover of a group between tenures, the time from the old
	// tenure's last application process ending to the new one's first
	// starting (negative would be an overlap, a violation).
	Apps       int
	Gaps       []time.Duration
	Orphans    int // orphan rounds checked
	Violations []Violation
	Elapsed    time.Duration
}
