// Command ocf is the OCF Agent resource type of resmon as a go-plugin
// executable (kind "plugin" in cluster.toml): it runs Pacemaker resource
// agents. OCF_ROOT and HA_RSCTMP in clusterd's environment override where
// agents live and keep their state.
package main

import (
	"github.com/resmon/resmon/sdk/plugin"
	"github.com/resmon/resmon/types/ocf"
)

func main() {
	plugin.Serve(&ocf.Type{Config: ocf.ConfigFromEnv(plugin.Node())})
}
