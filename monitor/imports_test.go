package monitor

import (
	"os/exec"
	"strings"
	"testing"
)

// The monitor decides from the interfaces it declares: it pulls in no
// etcd, gRPC, go-plugin or wazero, so its decisions are tested without
// them; and the domain model pulls in nothing of the storage layer.
func TestMonitorAndModelImportNoStorageOrTransport(t *testing.T) {
	for _, pkg := range []string{"github.com/resmon/resmon/monitor", "github.com/resmon/resmon/model"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, banned := range []string{"go.etcd.io/", "google.golang.org/grpc", "github.com/hashicorp/go-plugin",
				"github.com/tetratelabs/wazero", "github.com/resmon/resmon/quorum", "github.com/resmon/resmon/checkpoint"} {
				if strings.HasPrefix(dep, banned) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
