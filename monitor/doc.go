// Package monitor runs a node's share of the cluster: for every group it
// decides, from facts read out of the shared state, whether this node should
// own it and what its resources need next, and then does it — entry-point
// calls with their time limits, health polling, the restart and failover
// policy, dependency ordering, operator requests.
//
// The parts, each in its own file:
//
//   - cluster.go: what the monitor needs of the outside (Cluster, Session,
//     Tenure, Checkpoints), with their concurrency rules;
//   - facts.go and decide.go, requests.go, placement.go, policy.go, deps.go:
//     the decision, a pure function from Facts to the next Action, tested
//     table-driven without etcd;
//   - executor.go: one goroutine per group that gathers the facts and
//     carries out actions; it alone owns the group's tenure state, whose
//     life is in tenure.go, effects on resources in resources.go and
//     publishing in status.go;
//   - resource.go: one resource's state machine on this node;
//   - hosted.go: the node's register of hosted resources, through which a
//     fence terminates everything at once and host services find a resource;
//   - monitor.go: the node-wide loop that follows the cluster's changes
//     (reading only the database records a change names), starts and stops
//     the executors, wakes those a change concerns, and reads together the
//     views of groups this node does not own that executors ask for at once.
package monitor
