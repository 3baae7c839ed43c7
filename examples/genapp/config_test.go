package genapp_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/resmon/resmon/examples/genapp"
	"github.com/resmon/resmon/sdk"
	"github.com/resmon/resmon/testutil/readme"
)

func TestParseConfigDefaultsAndForms(t *testing.T) {
	for _, c := range []struct {
		name  string
		props map[string]any
		check func(*genapp.Config) bool
	}{
		{"Defaults", map[string]any{"CommandLine": "app"}, func(c *genapp.Config) bool {
			return c.StopSignal == "TERM" && c.StopTimeout == 10*time.Second && !c.HasProbe() && c.Dir == "" && c.Env == nil
		}},
		{"SignalSpellings", map[string]any{"CommandLine": "app", "StopSignal": " sigint "}, func(c *genapp.Config) bool {
			return c.StopSignal == "INT"
		}},
		{"TimeoutAsSeconds", map[string]any{"CommandLine": "app", "StopTimeout": int64(3)}, func(c *genapp.Config) bool {
			return c.StopTimeout == 3*time.Second
		}},
		{"TimeoutAsString", map[string]any{"CommandLine": "app", "StopTimeout": "1m30s"}, func(c *genapp.Config) bool {
			return c.StopTimeout == 90*time.Second
		}},
		{"EnvironmentTableSorted", map[string]any{"CommandLine": "app", "Environment": map[string]any{"B": true, "A": 1.5}}, func(c *genapp.Config) bool {
			return slices.Equal(c.Env, []string{"A=1.5", "B=true"})
		}},
		{"EnvironmentStringSlice", map[string]any{"CommandLine": "app", "Environment": []string{"A=x=y"}}, func(c *genapp.Config) bool {
			return slices.Equal(c.Env, []string{"A=x=y"})
		}},
		{"NullsAreAbsent", map[string]any{"CommandLine": "app", "StopSignal": nil, "HealthCommand": nil}, func(c *genapp.Config) bool {
			return c.StopSignal == "TERM" && !c.HasProbe()
		}},
		{"HealthCommandSplit", map[string]any{"CommandLine": "app", "HealthCommand": `curl -f "http://127.0.0.1/a b"`}, func(c *genapp.Config) bool {
			return slices.Equal(c.HealthCommand, []string{"curl", "-f", "http://127.0.0.1/a b"}) && c.HasProbe()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := genapp.ParseConfig(sdk.OpenRequest{Name: "web", Properties: c.props})
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Fatalf("unexpected config %+v", cfg)
			}
		})
	}
}

func TestParseConfigErrorNamesResourceAndProperty(t *testing.T) {
	_, err := genapp.ParseConfig(sdk.OpenRequest{Name: "web", Properties: map[string]any{"CommandLine": "app", "Environment": []any{"=x"}}})
	var pe *genapp.PropertyError
	if !errors.As(err, &pe) || pe.Resource != "web" || pe.Property != "Environment" || !errors.Is(err, sdk.ErrInvalidParameter) {
		t.Fatalf("got %v", err)
	}
	if want := `genapp: resource "web": property Environment: entry 1: "=x" has an empty name`; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

// The cluster.toml snippet of README.md loads, and its resource opens.
func TestReadmeSnippet(t *testing.T) {
	c := readme.Config(t, "README.md")
	if len(c.Resources) == 0 {
		t.Fatal("the snippet has no resource")
	}
	for _, r := range c.Resources {
		if _, err := genapp.ParseConfig(sdk.OpenRequest{Name: r.Name, Properties: r.Private}); err != nil {
			t.Error(err)
		}
	}
}
