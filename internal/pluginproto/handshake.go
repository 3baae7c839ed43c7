package pluginproto

import (
	goplugin "github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the version of the ResourceType and Host services. The
// go-plugin handshake refuses a plugin built against another version.
const ProtocolVersion = 1

// PluginName is the name of the one plugin a resmon plugin executable serves.
const PluginName = "resource_type"

// Handshake is the go-plugin handshake of resmon resource types. The magic
// cookie only tells a plugin that it was started by clusterd (a plugin run
// by hand explains itself and exits); it is no security measure.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "RESMON_RESOURCE_TYPE_PLUGIN",
	MagicCookieValue: "d7c3b0a4-resmon-resource-type-v1",
}

// EnvExitWithHost, set to "1" by the host, asks the plugin to exit as soon
// as its standard input reaches end of file: the host keeps the write end
// of that pipe open for the plugin's whole life, so the plugin cannot
// outlive the host however the host dies.
const EnvExitWithHost = "RESMON_PLUGIN_EXIT_WITH_HOST"

// EnvNode is set by the host to the name of the node the plugin runs on
// (sdk/plugin.Node reads it): a type that keeps node-local state apart, or
// tells a program where it runs, needs it when several nodes share a
// machine.
const EnvNode = "RESMON_NODE"

// gRPC metadata keys every Host call carries.
const (
	MetaResourceID    = "resmon-resource-id"
	MetaResourceToken = "resmon-resource-token"
)
