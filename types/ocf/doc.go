// Package ocf is the OCF Agent resource type: it runs Pacemaker's resource
// agents (the Open Cluster Framework scripts of Debian's resource-agents
// package, such as ocf:heartbeat:IPaddr2) as resmon resources. Online runs
// the agent's start, Offline its stop, LooksAlive and IsAlive its monitor
// at OCF_CHECK_LEVEL 0 and at the deepest level it declares; Open runs
// meta-data, checks the parameters against it and runs validate-all.
// Exit codes become failure classes the monitor acts on (see Class).
//
// The type ships as the go-plugin executable cmd/ocf. See README.md.
package ocf
