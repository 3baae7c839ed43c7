// Package registry is the node-local registry: a tree of case-insensitive,
// case-preserving keys holding typed values, kept in one bbolt file so that a
// crash never leaves half a write behind. Besides the sdk.Registry calls a
// resource makes, it gives the checkpoint manager consistent snapshots,
// atomic subtree replacement and change notifications, and operators the
// Windows .reg text format.
package registry
