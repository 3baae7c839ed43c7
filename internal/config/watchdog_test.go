package config

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestWatchdogTimingRule: the watchdog's timeout must be shorter than
// lease_ttl − fence_margin (the machine resets before its lease can
// expire) and longer than the keepalive interval (a healthy node is not
// reset between two renewals); every problem is named at once.
func TestWatchdogTimingRule(t *testing.T) {
	const node = "[node]\nname = \"n\"\n"
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"default timeout", node + "watchdog = \"/dev/watchdog\"\n", nil},
		{"required", node + "watchdog = \"/dev/watchdog\"\nwatchdog_mode = \"required\"\nwatchdog_timeout = \"5s\"\n[quorum]\nlease_ttl = \"10s\"\n", nil},
		{"too long", node + "watchdog = \"/dev/watchdog\"\nwatchdog_timeout = \"8s\"\n[quorum]\nlease_ttl = \"10s\"\n", []string{
			`cluster.toml: node: watchdog_timeout: 8s must be shorter than lease_ttl 10s − fence_margin 2s = 8s: the machine must reset before its lease can expire`,
		}},
		{"too short", node + "watchdog = \"/dev/watchdog\"\nwatchdog_timeout = \"2s\"\n[quorum]\nlease_ttl = \"10s\"\n", []string{
			`cluster.toml: node: watchdog_timeout: 2s must be longer than the keepalive interval 2.667s, or a healthy node resets between two renewals`,
		}},
		{"fraction", node + "watchdog = \"/dev/watchdog\"\nwatchdog_timeout = \"4500ms\"\n", []string{
			`cluster.toml: node: watchdog_timeout: must be a whole number of seconds, at least 1s (watchdogs count seconds), got 4.5s`,
		}},
		{"lease too short", node + "watchdog = \"/dev/watchdog\"\n[quorum]\nlease_ttl = \"1s\"\n[quorum.embedded]\nelection = \"600ms\"\n", []string{
			`cluster.toml: node: watchdog_timeout: lease_ttl 1s − fence_margin 200ms leaves 800ms, less than the watchdog's smallest timeout (1s) above the keepalive interval: raise lease_ttl`,
		}},
		{"every problem at once", node + "watchdog = \"dev/watchdog\"\nwatchdog_mode = \"always\"\nwatchdog_timeout = \"9s\"\n[quorum]\nlease_ttl = \"10s\"\n", []string{
			`cluster.toml: node: watchdog: "dev/watchdog": must be an absolute path, such as /dev/watchdog`,
			`cluster.toml: node: watchdog_mode: must be optional or required, got "always"`,
			`cluster.toml: node: watchdog_timeout: 9s must be shorter than lease_ttl 10s − fence_margin 2s = 8s: the machine must reset before its lease can expire`,
		}},
		{"without a device", node + "watchdog_mode = \"required\"\nwatchdog_timeout = \"5s\"\n", []string{
			`cluster.toml: node: watchdog_mode: is set, but node.watchdog names no device`,
			`cluster.toml: node: watchdog_timeout: is set, but node.watchdog names no device`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.toml, tt.want) })
	}
}

// TestWatchdogDefaults: the mode defaults to optional and the timeout to
// the longest whole number of seconds below lease_ttl − fence_margin.
func TestWatchdogDefaults(t *testing.T) {
	for _, tt := range []struct {
		lease string
		want  time.Duration
	}{{"10s", 7 * time.Second}, {"3s", 2 * time.Second}, {"2s", time.Second}} {
		c, err := Parse("cluster.toml", []byte("[node]\nname = \"n\"\nwatchdog = \"/dev/watchdog\"\n[quorum]\nlease_ttl = \""+tt.lease+"\"\n"))
		if err != nil {
			t.Fatalf("lease %s: %v", tt.lease, err)
		}
		if c.Node.WatchdogMode != WatchdogOptional || c.Node.WatchdogTimeout.D() != tt.want {
			t.Errorf("lease %s: mode %q timeout %s, want optional %s", tt.lease, c.Node.WatchdogMode, c.Node.WatchdogTimeout.D(), tt.want)
		}
	}
}

// TestKeepaliveTimingRule: keepalive_interval + 2 × keepalive_timeout must
// not exceed lease_ttl − fence_margin, so one renewal can be lost whole
// and the next still lands before the node must fence itself; the default
// (a third of lease_ttl − fence_margin for both) keeps it exactly.
func TestKeepaliveTimingRule(t *testing.T) {
	const q = "[node]\nname = \"n\"\n[quorum]\n"
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"defaults", q, nil},
		{"defaults at 1s", q + "lease_ttl = \"1s\"\n[quorum.embedded]\nelection = \"600ms\"\n", nil},
		{"exactly the budget", q + "lease_ttl = \"10s\"\nkeepalive_interval = \"2s\"\nkeepalive_timeout = \"3s\"\n", nil},
		{"shorter interval", q + "lease_ttl = \"3s\"\nkeepalive_interval = \"200ms\"\n", nil},
		{"interval too long", q + "lease_ttl = \"10s\"\nkeepalive_interval = \"5s\"\n", []string{
			`cluster.toml: quorum: keepalive_interval: keepalive_interval 5s + 2 × keepalive_timeout 2.666666666s = 10.333333332s is more than lease_ttl 10s − fence_margin 2s = 8s: one slow renewal would fence a healthy node; shorten them or raise lease_ttl`,
		}},
		{"timeout too long", q + "lease_ttl = \"2s\"\nkeepalive_interval = \"100ms\"\nkeepalive_timeout = \"1s\"\n", []string{
			`cluster.toml: quorum: keepalive_interval: keepalive_interval 100ms + 2 × keepalive_timeout 1s = 2.1s is more than lease_ttl 2s − fence_margin 400ms = 1.6s: one slow renewal would fence a healthy node; shorten them or raise lease_ttl`,
		}},
		{"external election out of range", q + "mode = \"external\"\n[quorum.external]\nendpoints = [\"https://e1:2379\"]\nelection = \"90s\"\n", []string{
			`cluster.toml: quorum.external: election: must be the etcd cluster's election timeout, 0 to 50s (0 for a single member), got 1m30s`,
		}},
		{"too small", q + "keepalive_interval = \"1ms\"\nkeepalive_timeout = \"5ms\"\n", []string{
			`cluster.toml: quorum: keepalive_interval: must be at least 10ms, got 1ms`,
			`cluster.toml: quorum: keepalive_timeout: must be at least 10ms, got 5ms`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.toml, tt.want) })
	}
}

// TestLeaseShorterThanEtcdGrants: in embedded mode a lease_ttl shorter
// than etcd grants (1.5 election timeouts, whole seconds) is refused with
// the election that would grant it, instead of running with a longer
// lease than the file says.
func TestLeaseShorterThanEtcdGrants(t *testing.T) {
	const q = "[node]\nname = \"n\"\n[quorum]\n"
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"1s at etcd's default election", q + "lease_ttl = \"1s\"\n[quorum.embedded]\nheartbeat = \"100ms\"\nelection = \"1s\"\n", []string{
			`cluster.toml: quorum: lease_ttl: 1s is shorter than the 2s etcd grants with quorum.embedded election 1s (leases last at least 1.5 election timeouts): raise lease_ttl or lower election to 700ms or less`,
		}},
		{"1s at 600ms", q + "lease_ttl = \"1s\"\n[quorum.embedded]\nelection = \"600ms\"\n", nil},
		{"2s at the default election", q + "lease_ttl = \"2s\"\n", nil},
		{"2s at 2s", q + "lease_ttl = \"2s\"\n[quorum.embedded]\nheartbeat = \"100ms\"\nelection = \"2s\"\n", []string{
			`cluster.toml: quorum: lease_ttl: 2s is shorter than the 3s etcd grants with quorum.embedded election 2s (leases last at least 1.5 election timeouts): raise lease_ttl or lower election to 1.3s or less`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.toml, tt.want) })
	}
	for _, tt := range []struct{ hb, el, want time.Duration }{
		{100 * time.Millisecond, time.Second, 2 * time.Second},
		{100 * time.Millisecond, 600 * time.Millisecond, time.Second},
		{100 * time.Millisecond, 700 * time.Millisecond, time.Second},
		{100 * time.Millisecond, 800 * time.Millisecond, 2 * time.Second},
		{10 * time.Millisecond, 100 * time.Millisecond, time.Second},
		{100 * time.Millisecond, 2 * time.Second, 3 * time.Second},
	} {
		if got := EtcdMinLease(tt.hb, tt.el); got != tt.want {
			t.Errorf("EtcdMinLease(%s, %s) = %s, want %s", tt.hb, tt.el, got, tt.want)
		}
	}
}

// TestDefaultLeaseTTL: without lease_ttl in the file the lease is the
// shortest whole number of seconds, from quorum.DefaultMemberTTL up, that
// etcd grants and that rides through an etcd leader election (three
// election timeouts: two, and one more for a split vote) after a full
// keepalive interval, with the default margin and keepalives.
func TestDefaultLeaseTTL(t *testing.T) {
	const node = "[node]\nname = \"n1\"\n"
	const peers = "[quorum.embedded.peers]\nn1 = \"https://10.0.0.1:2380\"\nn2 = \"https://10.0.0.2:2380\"\nn3 = \"https://10.0.0.3:2380\"\n"
	tests := []struct {
		name, toml string
		want       time.Duration
	}{
		{"single member", node, 2 * time.Second},
		{"single member, long election", node + "[quorum.embedded]\nelection = \"2s\"\n", 3 * time.Second},
		{"three members", node + "[quorum.embedded]\n" + peers, 3 * time.Second},
		{"three members, etcd's default election", node + "[quorum.embedded]\nheartbeat = \"100ms\"\nelection = \"1s\"\n" + peers, 6 * time.Second},
		{"three members, election 700ms", node + "[quorum.embedded]\nelection = \"700ms\"\n" + peers, 4 * time.Second},
		{"three members, election 300ms", node + "[quorum.embedded]\nelection = \"300ms\"\n" + peers, 2 * time.Second},
		{"three members, wide margin", node + "[quorum]\nfence_margin = \"2s\"\n[quorum.embedded]\nelection = \"1s\"\n" + peers, 7 * time.Second},
		{"external, etcd's default election", node + "[quorum]\nmode = \"external\"\n[quorum.external]\nendpoints = [\"https://e1:2379\"]\n", 6 * time.Second},
		{"external, one member", node + "[quorum]\nmode = \"external\"\n[quorum.external]\nendpoints = [\"https://e1:2379\"]\nelection = \"0s\"\n", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("cluster.toml", []byte(tt.toml))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Quorum.LeaseTTL.D(); got != tt.want {
				t.Errorf("lease_ttl = %s, want %s", got, tt.want)
			}
			if w := c.Warnings(); len(w) != 0 {
				t.Errorf("the default warns: %q", w)
			}
		})
	}
}

// TestLeaderElectionWarning: a lease that an etcd leader election can
// outlast loads (the benchmark report measures what it costs) but warns,
// naming the election and the lease that would ride through it.
func TestLeaderElectionWarning(t *testing.T) {
	const node = "[node]\nname = \"n1\"\n"
	const peers = "[quorum.embedded.peers]\nn1 = \"https://10.0.0.1:2380\"\nn2 = \"https://10.0.0.2:2380\"\nn3 = \"https://10.0.0.3:2380\"\n"
	tests := []struct {
		name, toml string
		want       []string
	}{
		{"three members at 2s, election 1s", node + "[quorum]\nlease_ttl = \"2s\"\n[quorum.embedded]\nelection = \"1s\"\n" + peers, []string{
			"quorum: lease_ttl: keepalive_interval 533.333333ms + an etcd leader election of up to 3s (3 × quorum.embedded election 1s) is more than lease_ttl 2s − fence_margin 400ms = 1.6s: when the node or member leading etcd dies, this node can fence itself too while etcd elects another; raise lease_ttl to 6s (with the default fence_margin and keepalives) or lower the election timeout",
		}},
		{"external at 3s", node + "[quorum]\nmode = \"external\"\nlease_ttl = \"3s\"\n[quorum.external]\nendpoints = [\"https://e1:2379\"]\n", []string{
			"quorum: lease_ttl: keepalive_interval 800ms + an etcd leader election of up to 3s (3 × quorum.external election 1s) is more than lease_ttl 3s − fence_margin 600ms = 2.4s: when the node or member leading etcd dies, this node can fence itself too while etcd elects another; raise lease_ttl to 6s (with the default fence_margin and keepalives) or lower the election timeout",
		}},
		{"three members at 6s, election 1s", node + "[quorum]\nlease_ttl = \"6s\"\n[quorum.embedded]\nelection = \"1s\"\n" + peers, nil},
		{"three members at 2s", node + "[quorum]\nlease_ttl = \"2s\"\n[quorum.embedded]\n" + peers, []string{
			"quorum: lease_ttl: keepalive_interval 533.333333ms + an etcd leader election of up to 1.5s (3 × quorum.embedded election 500ms) is more than lease_ttl 2s − fence_margin 400ms = 1.6s: when the node or member leading etcd dies, this node can fence itself too while etcd elects another; raise lease_ttl to 3s (with the default fence_margin and keepalives) or lower the election timeout",
		}},
		{"three members at 3s", node + "[quorum]\nlease_ttl = \"3s\"\n[quorum.embedded]\n" + peers, nil},
		{"single member at 2s", node + "[quorum]\nlease_ttl = \"2s\"\n", nil},
		{"external single member at 1s", node + "[quorum]\nmode = \"external\"\nlease_ttl = \"1s\"\n[quorum.external]\nendpoints = [\"https://e1:2379\"]\nelection = \"0s\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("cluster.toml", []byte(tt.toml))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Warnings(); !slices.Equal(got, tt.want) {
				t.Errorf("warnings:\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestShippedConfigsDoNotWarn: the files the project ships and its README
// runs load without a warning: their leases ride through an etcd leader
// election.
func TestShippedConfigsDoNotWarn(t *testing.T) {
	files, err := filepath.Glob("../../examples/*/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d example files: %q", len(files), files)
	}
	files = append(files, "../../cluster.toml", "../../dist/cluster.toml")
	for _, f := range files {
		c, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if w := c.Warnings(); len(w) != 0 {
			t.Errorf("%s warns: %q", f, w)
		}
	}
}
