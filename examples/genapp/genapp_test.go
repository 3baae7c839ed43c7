package genapp_test

import (
	"testing"

	"github.com/resmon/resmon/examples/genapp"
	"github.com/resmon/resmon/examples/genapp/genapptest"
	"github.com/resmon/resmon/plugins"
	"github.com/resmon/resmon/plugins/goplugin"
	"github.com/resmon/resmon/plugins/goplugin/goplugintest"
	"github.com/resmon/resmon/sdk/sdktest"
	"github.com/resmon/resmon/testutil/testbin"
)

// The type called in-process.
func TestDirect(t *testing.T) {
	t.Parallel()
	genapptest.Run(t, func(*testing.T) sdktest.Target { return sdktest.Direct(genapp.Type{}) }, genapptest.Options{Full: true})
}

// The go-plugin executable cmd/genapp, started by the real go-plugin host.
func TestGoPlugin(t *testing.T) {
	t.Parallel()
	bin := testbin.Build(t, "github.com/resmon/resmon/examples/genapp/cmd/genapp")
	genapptest.Run(t, func(*testing.T) sdktest.Target {
		return goplugintest.Target(plugins.TypeSpec{Name: "genapp", Kind: goplugin.Kind, Path: bin}, goplugintest.Options{})
	}, genapptest.Options{Full: true})
}
