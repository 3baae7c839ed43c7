// Command testtype-plugin is testutil/testtype built as a go-plugin
// resource type (the same code is built as a WASM module elsewhere).
package main

import (
	"github.com/resmon/resmon/sdk/plugin"
	"github.com/resmon/resmon/testutil/testtype"
)

func main() { plugin.Serve(testtype.Type{}) }
