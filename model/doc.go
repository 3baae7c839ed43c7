// Package model is resmon's domain: resource types, groups and resources as
// the cluster database stores them, their states with the Windows numbers,
// what owners publish and operators request, and the fence that guards a
// tenure. It does no I/O; the storage layer (quorum), the monitor, the
// configuration and the CLI all speak it.
package model
