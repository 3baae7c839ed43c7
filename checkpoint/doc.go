// Package checkpoint makes node-local registry subtrees and crypto key
// containers follow a resource to whichever node runs it. A Manager copies
// every change of a checkpointed subtree to etcd while the resource is online
// (a CPT, or a CPR sealed with the cluster key) and puts the copy back before
// the resource comes online anywhere, so a failover never starts an
// application on stale settings; RULES.md states rules 1–10 and README.md maps them to
// the code and its tests.
package checkpoint
