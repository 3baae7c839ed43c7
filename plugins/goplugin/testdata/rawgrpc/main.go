// Command rawgrpc is the floor of the go-plugin benchmarks: the same
// ResourceType service, LooksAlive answering true, served by plain gRPC on
// a unix socket (no go-plugin, no TLS, no resmon host stack). It listens
// on the path given as its argument, prints "ready" and serves until its
// stdin closes.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"google.golang.org/grpc"

	"github.com/resmon/resmon/internal/pluginproto"
)

type server struct {
	pluginproto.UnimplementedResourceTypeServer
}

func (server) LooksAlive(context.Context, *pluginproto.Call) (*pluginproto.HealthReply, error) {
	return &pluginproto.HealthReply{Alive: true}, nil
}

func main() {
	lis, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	pluginproto.RegisterResourceTypeServer(s, server{})
	go func() { _ = s.Serve(lis) }()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	s.Stop()
}
