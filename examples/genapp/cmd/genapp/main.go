// Command genapp is the Generic Application resource type built as a
// go-plugin executable for clusterd (kind "plugin"):
//
//	go build -o bin/ ./examples/genapp/cmd/genapp
package main

import (
	"github.com/resmon/resmon/examples/genapp"
	"github.com/resmon/resmon/sdk/plugin"
)

func main() { plugin.Serve(genapp.Type{}) }
