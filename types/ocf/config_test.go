package ocf_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/types/ocf"
)

func TestParseSpecValues(t *testing.T) {
	for _, c := range []struct {
		name  string
		props map[string]any
		want  map[string]string
		prov  string
	}{
		{"defaults to heartbeat", map[string]any{"Agent": "IPaddr2", "ip": "10.0.0.5"}, map[string]string{"ip": "10.0.0.5"}, "heartbeat"},
		{"TOML integer", map[string]any{"Agent": "IPaddr2", "cidr_netmask": int64(24)}, map[string]string{"cidr_netmask": "24"}, "heartbeat"},
		{"JSON number", map[string]any{"Agent": "IPaddr2", "cidr_netmask": float64(24)}, map[string]string{"cidr_netmask": "24"}, "heartbeat"},
		{"fraction", map[string]any{"Agent": "x", "ratio": 0.5}, map[string]string{"ratio": "0.5"}, "heartbeat"},
		{"boolean", map[string]any{"Agent": "x", "flush_routes": true}, map[string]string{"flush_routes": "true"}, "heartbeat"},
		{"null is absent", map[string]any{"Agent": "x", "nic": nil}, map[string]string{}, "heartbeat"},
		{"provider", map[string]any{"Provider": "pacemaker", "Agent": "Stateful"}, map[string]string{}, "pacemaker"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ocf.ParseSpec(sdk.OpenRequest{Name: "r", Properties: c.props})
			if err != nil {
				t.Fatal(err)
			}
			if s.Provider != c.prov || len(s.Params) != len(c.want) {
				t.Fatalf("%+v", s)
			}
			for k, v := range c.want {
				if s.Params[k] != v {
					t.Fatalf("%s = %q, want %q", k, s.Params[k], v)
				}
			}
		})
	}
	_, err := ocf.ParseSpec(sdk.OpenRequest{Name: "r", Properties: map[string]any{"Agent": "x", "ip": "a\x00b"}})
	var pe *ocf.PropertyError
	if !errors.As(err, &pe) || pe.Resource != "r" || pe.Property != "ip" || !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Fatalf("NUL in a value: %v", err)
	}
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := ocf.Config{Node: "node 2"}.WithDefaults()
	if c.Root != ocf.DefaultRoot || c.DefaultTimeout == 0 || c.MetadataTimeout == 0 || !strings.HasSuffix(c.RscTmp, "resmon-node_2") {
		t.Fatalf("defaults: %+v", c)
	}
	if os.Geteuid() == 0 && c.RscTmp != "/run/resource-agents/resmon-node_2" {
		t.Fatalf("root's HA_RSCTMP: %s", c.RscTmp)
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/bin"} {
		if !strings.Contains(":"+c.Path+":", ":"+d+":") {
			t.Fatalf("PATH %q lacks %s", c.Path, d)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ocf.Config{Root: "ocf", RscTmp: "tmp"}.WithDefaults()
	if err := bad.Validate(); !errors.Is(err, ocf.ErrConfig) || !strings.Contains(err.Error(), `OCF root "ocf"`) || !strings.Contains(err.Error(), `HA_RSCTMP "tmp"`) {
		t.Fatalf("relative paths: %v", err)
	}
	t.Setenv("OCF_ROOT", "/opt/ocf")
	t.Setenv("HA_RSCTMP", "/run/x")
	if c := ocf.ConfigFromEnv("n1"); c.Root != "/opt/ocf" || c.RscTmp != "/run/x" || c.Node != "n1" {
		t.Fatalf("from the environment: %+v", c)
	}
}

func TestExitCodeClassTable(t *testing.T) {
	want := map[int]sdk.FailureClass{0: sdk.ClassRestart, 1: sdk.ClassRestart, 2: sdk.ClassBanNode, 3: sdk.ClassBanNode,
		4: sdk.ClassBanNode, 5: sdk.ClassBanNode, 6: sdk.ClassFailEverywhere, 7: sdk.ClassRestart, 9: sdk.ClassRestart, 127: sdk.ClassRestart}
	for code, class := range want {
		if got := ocf.Class(code); got != class {
			t.Errorf("Class(%d) = %v, want %v", code, got, class)
		}
	}
}
