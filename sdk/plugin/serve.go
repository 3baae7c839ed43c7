// Package plugin turns a resource type into a go-plugin executable that
// clusterd loads for resource types of kind "plugin":
//
//	func main() { plugin.Serve(mytype.Type{}) }
//
// The executable speaks gRPC over go-plugin's handshake (protocol version
// pluginproto.ProtocolVersion, AutoMTLS when the host asks for it). The
// resource type's entry points are served to the host; the sdk.Host each
// resource gets calls back into clusterd over a unix socket the host owns.
// Importing this package pulls go-plugin and gRPC into the executable; the
// sdk package itself does not.
//
// The host hands the plugin the node's self-fencing deadline at every
// lease renewal. If it passes unrenewed (clusterd stopped, cut off from
// etcd, or dead), the plugin calls Terminate on every resource by itself
// and refuses Online with sdk.ErrFenced until a later deadline comes: keep
// Terminate quick and thorough, since another node may start the same
// application a margin later.
package plugin

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/resmon/resmon/internal/pluginproto"
	"github.com/resmon/resmon/sdk"
)

// Serve serves t to the clusterd that started this executable and returns
// when the host shuts the plugin down. Run by hand, without the handshake
// cookie, it explains that it is a plugin and exits with status 1.
//
// Anything the type writes to standard error reaches the node's log; lines
// in hclog's JSON format keep their level and fields.
func Serve(t sdk.ResourceType) {
	srv := newServer(t, nil)
	if os.Getenv(pluginproto.EnvExitWithHost) == "1" {
		go exitWithHost(os.Stdin, srv)
	}
	// os.Stderr is the pipe to the host here; go-plugin swaps it for its
	// stdio stream once serving starts, so capture it first.
	logger := hclog.New(&hclog.LoggerOptions{
		Output:     os.Stderr,
		JSONFormat: true,
		Level:      hclog.Trace,
	})
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: pluginproto.Handshake,
		Plugins:         goplugin.PluginSet{pluginproto.PluginName: &grpcPlugin{srv: srv.withLog(logger)}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(pluginproto.MaxMessageSize))...)
		},
		Logger: logger,
	})
}

// Node is the name of the node whose clusterd started this plugin process
// ("" when run otherwise). Several nodes may share a machine (a test, a
// walk-through): a type that keeps state in files of its own keeps each
// node's apart with it.
func Node() string { return os.Getenv(pluginproto.EnvNode) }

// exitWithHost ends the process once the host is gone: the host holds the
// write end of our stdin for as long as it runs, so EOF means it exited,
// however it died. Every open resource is terminated first: another node
// is about to take its group over, and what the resource runs (a child
// process, a listener) must not outlive the host that owned it.
func exitWithHost(stdin io.Reader, srv *server) {
	_, _ = io.Copy(io.Discard, stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.terminateAll(ctx)
	cancel()
	os.Exit(0)
}

// grpcPlugin is the go-plugin glue on the plugin side: it registers the
// ResourceType server and has no client half.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	srv *server
}

var _ goplugin.GRPCPlugin = (*grpcPlugin)(nil)

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginproto.RegisterResourceTypeServer(s, p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("resmon plugin: the client half lives in the host (plugins/goplugin)")
}
