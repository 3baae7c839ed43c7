// Package monitor runs resources through their states and groups between
// nodes: entry-point calls with their time limits, health polling, the
// restart and failover policy, and dependency ordering. It consumes the
// plugin hosts, the checkpoint engine and the quorum through small
// interfaces of its own.
package monitor
