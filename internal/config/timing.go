package config

import (
	"fmt"
	"time"

	"github.com/resmon/resmon/quorum"
)

// The lease timing rules. A node renews its lease every keepalive_interval
// and fences itself when no renewal was answered by lease_ttl −
// fence_margin after the last answered one was sent. Two kinds of outage
// must fit in that budget after a full interval:
//
//   - a renewal lost whole: keepalive_interval + 2 × keepalive_timeout ≤
//     lease_ttl − fence_margin (checked by Validate: a breach fences a
//     healthy node at the first slow renewal);
//   - an etcd leader election, during which no renewal is answered; etcd
//     gives each follower an election timeout between one and two times
//     the configured one, so an election takes up to two, and a split
//     vote (two candidates at once) one more: keepalive_interval + 3 ×
//     election ≤ lease_ttl − fence_margin (reported by Warnings: a breach
//     fences nodes that survive the crash of the node, or the etcd member,
//     that led; the benchmark report's leader-crash rows measure it).
//
// The default lease_ttl is the shortest whole number of seconds that keeps
// both with the default margin and keepalives, that etcd grants, and that
// is at least quorum.DefaultMemberTTL, the shortest that showed no
// spurious fence in the soak of the benchmark report.

// LeaderElection is how long an etcd leader election may leave this
// node's renewals unanswered: three election timeouts of its etcd (two
// for the election, one more for a split vote; embedded: of the members,
// when there are peers; external: quorum.external.election), or 0 when
// its etcd is a single member, which never elects.
func (c *Config) LeaderElection() time.Duration {
	q := &c.Quorum
	if q.Mode == ModeExternal {
		return 3 * q.External.Election.D()
	}
	if len(q.Embedded.Peers) > 1 || q.Embedded.Join {
		return 3 * q.Embedded.Election.D()
	}
	return 0
}

// DefaultLeaseTTL is the lease_ttl used when the file sets none (see the
// rules above).
func (c *Config) DefaultLeaseTTL() time.Duration {
	q := &c.Quorum
	floor := quorum.DefaultMemberTTL
	if q.Mode != ModeExternal {
		floor = max(floor, EtcdMinLease(q.Embedded.Heartbeat.D(), q.Embedded.Election.D()))
	}
	for ttl := floor; ttl < time.Minute; ttl += time.Second {
		if c.electionShortfall(ttl) <= 0 {
			return ttl
		}
	}
	return time.Minute
}

// electionShortfall is how much a leader election overruns the renewal
// budget at lease ttl, with the file's margin and interval or their
// defaults.
func (c *Config) electionShortfall(ttl time.Duration) time.Duration {
	q := &c.Quorum
	margin := q.FenceMargin.D()
	if margin <= 0 {
		margin = defaultFenceMargin(ttl)
	}
	iv := q.KeepaliveInterval.D()
	if iv <= 0 {
		iv = max((ttl-margin)/3, 10*time.Millisecond)
	}
	return iv + c.LeaderElection() - (ttl - margin)
}

func defaultFenceMargin(ttl time.Duration) time.Duration {
	return max(ttl/5, minFenceMargin)
}

// Warnings lists settings that load but put the cluster's availability at
// risk; clusterd logs each at start.
func (c *Config) Warnings() []string {
	var ws []string
	q := &c.Quorum
	if over := c.electionShortfall(q.LeaseTTL.D()); c.LeaderElection() > 0 && over > 0 {
		src := "quorum.embedded election " + q.Embedded.Election.D().String()
		if q.Mode == ModeExternal {
			src = "quorum.external election " + q.External.Election.D().String()
		}
		d := &Config{Quorum: c.Quorum}
		d.Quorum.FenceMargin, d.Quorum.KeepaliveInterval, d.Quorum.KeepaliveTimeout = 0, 0, 0
		want := d.DefaultLeaseTTL()
		ws = append(ws, fmt.Sprintf("quorum: lease_ttl: keepalive_interval %s + an etcd leader election of up to %s (3 × %s) is more than lease_ttl %s − fence_margin %s = %s: when the node or member leading etcd dies, this node can fence itself too while etcd elects another; raise lease_ttl to %s (with the default fence_margin and keepalives) or lower the election timeout",
			q.KeepaliveInterval.D(), c.LeaderElection(), src, q.LeaseTTL.D(), q.FenceMargin.D(), c.FenceBudget(), want))
	}
	return ws
}
