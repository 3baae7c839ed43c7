// Package checkpoint makes node-local registry subtrees and crypto key
// containers follow a resource to whichever node runs it: a Manager copies
// every change of a checkpointed subtree to etcd while the resource is
// online (CPT, or CPR encrypted under the cluster key) and puts the copy back
// before the resource comes online anywhere. The node-local registry itself
// is package checkpoint/registry.
//
// # Lifecycle
//
// The monitor calls, for each resource it brings online on this node:
//
//	Restore(ctx, res, fence)      before Online: replace each checkpointed subtree with its CPT
//	StartOnline(ctx, res, fence)  then store every change, coalesced, fenced by the group's token
//	Offline(ctx, res)             after Offline (or a failure): a last copy, then stop watching
//
// and DeleteResource when a resource is deleted. The six checkpoint control
// codes arrive through Control, which a resource may call from inside any
// entry point: the manager never calls into a resource. Serve answers
// recovery requests (Recover) addressed to this node and follows checkpoint
// lists changed by operators while a resource is online.
//
// # Rules
//
// The rules of DESIGN.md §2 and where they are kept:
//
//  1. a change while online is stored in etcd: the saver of each checkpoint (saver.go)
//  2. a change while offline is overwritten at the next Online: Restore replaces the subtree
//  3. a move restores before Online: Restore runs on the new node before StartOnline
//  4. deleting the resource deletes its checkpoints, not the registry: DeleteResource
//  5. backups carry checkpoints; restored ones are listed by StaleCheckpoints until saved again
//  6. crypto key containers (Keystore) are checkpointed as CPR, sealed with AES-256-GCM
//  7. overlapping checkpoints are refused: quorum.Store.AddCheckpoint, one etcd Txn
//  8. control codes are answered by the host: Control
//  9. Offline saves a last copy while the node still owns the group
//  10. Recover re-creates CPT/CPR from the owner's registry; corrupt data is never restored
package checkpoint
