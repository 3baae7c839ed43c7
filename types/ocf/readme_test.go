package ocf_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/sdk/sdktest"
	"github.com/resmon/resmon/testutil/readme"
	"github.com/resmon/resmon/types/ocf"
)

// The cluster.toml snippet of README.md loads, and each resource's
// properties pass the check against its agent's real meta-data.
func TestReadmeSnippet(t *testing.T) {
	needAgents(t)
	typ, resources := readme.OneType(t, "README.md")
	if typ.Kind != "plugin" {
		t.Fatalf("kind %q", typ.Kind)
	}
	for _, r := range resources {
		spec, err := ocf.ParseSpec(sdk.OpenRequest{Name: r.Name, Properties: r.Private})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(debianRoot, "resource.d", spec.Provider, spec.Agent), "meta-data")
		cmd.Env = []string{"OCF_ROOT=" + debianRoot, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s meta-data: %v", spec.Name(), err)
		}
		m, err := ocf.ParseMetadata(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := spec.Validate(r.Name, m); err != nil {
			t.Error(err)
		}
	}
}

// The error messages README.md shows are the type's, word for word.
func TestReadmeErrorMessages(t *testing.T) {
	needAgents(t)
	typ := &ocf.Type{Config: ocf.Config{RscTmp: t.TempDir()}}
	req := openReq("Cluster IP", map[string]any{"Agent": "IPaddr2", "ipp": "10.0.0.50", "arp_count": "five"})
	_, err := typ.Open(ctxT(t), sdktest.NewHost(req.ID), req)
	if err == nil {
		t.Fatal("opened")
	}
	doc := readFile(t, "README.md")
	for _, line := range strings.Split(err.Error(), "\n") {
		if i := strings.Index(line, "; it takes "); i >= 0 {
			line = line[:i+len("; it takes ")] // the list of parameters is long
		}
		if !strings.Contains(doc, "    "+line) {
			t.Errorf("README.md does not show %q", line)
		}
	}
}
