package plugin_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The sdk package an author imports for the contract pulls in no transport:
// go-plugin and gRPC come only with sdk/plugin.
func TestSDKStaysFreeOfTransports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/resmon/resmon/sdk").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"google.golang.org/grpc", "github.com/hashicorp/go-plugin", "github.com/tetratelabs/wazero", "go.etcd.io/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("sdk depends on %s", dep)
			}
		}
	}
}
