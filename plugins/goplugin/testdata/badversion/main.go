// Command badversion is a resmon plugin built against another protocol
// version: the handshake must refuse it.
package main

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/resmon/resmon/internal/pluginproto"
)

type stub struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (stub) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error { return nil }

func (stub) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	hs := pluginproto.Handshake
	hs.ProtocolVersion = pluginproto.ProtocolVersion + 98
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         goplugin.PluginSet{pluginproto.PluginName: stub{}},
		GRPCServer:      goplugin.DefaultGRPCServer,
	})
}
