// Command hello-plugin is the hello resource type as a go-plugin
// executable (kind "plugin").
package main

import (
	"github.com/resmon/resmon/examples/hello"
	"github.com/resmon/resmon/sdk/plugin"
)

func main() { plugin.Serve(hello.Type{}) }
