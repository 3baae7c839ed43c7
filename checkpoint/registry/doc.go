// Package registry is the node-local registry: a persistent tree of
// case-insensitive, case-preserving keys holding typed values, stored in one
// bbolt file so a crash never leaves half a write behind. Besides the
// sdk.Registry calls a resource makes, it gives the checkpoint manager what it
// needs: consistent snapshots and atomic replacement of a subtree, change
// notifications, and import/export as Windows .reg text.
//
// # Limits
//
// The limits follow Windows where that is practical and are enforced on every
// write (and on every imported or restored tree) with an error naming the key
// or value; errors.Is(err, sdk.ErrInvalidParameter) holds for all of them:
//
//	key name      1..255 characters, no '\', no control characters
//	value name    0..16,383 bytes of UTF-8 ("" is the default value), no control characters
//	value data    at most 1 MiB (strings: UTF-8 bytes; multi-strings: bytes plus one per element)
//	depth         at most 512 keys below the root
//	strings       valid UTF-8 without NUL; multi-string elements must not be empty
//	              (an empty element ends a REG_MULTI_SZ in Windows)
//
// Paths are written with backslashes relative to the machine root
// ("SOFTWARE\Onyone"); a leading "HKEY_LOCAL_MACHINE\" or "HKLM\" and a
// leading or trailing backslash are accepted and dropped.
package registry
