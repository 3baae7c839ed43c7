// Package readme keeps the cluster.toml snippets of the examples' READMEs
// true: tests parse them with the node's own configuration loader.
package readme

import (
	"os"
	"strings"
	"testing"

	"github.com/resmon/resmon/internal/config"
)

// Config parses the first ```toml block of the Markdown file at path as a
// cluster.toml, failing the test when there is none or it is invalid.
func Config(t testing.TB, path string) *config.Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```toml\n")
	if !ok {
		t.Fatalf("%s has no toml block", path)
	}
	snippet, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("%s: the toml block is not closed", path)
	}
	c, err := config.Parse(path, []byte(snippet))
	if err != nil {
		t.Fatalf("the cluster.toml snippet of %s does not parse:\n%v", path, err)
	}
	return c
}

// OneType parses the snippet as Config does and checks that it declares
// exactly one resource type and at least one resource, which it returns.
func OneType(t testing.TB, path string) (config.ResourceType, []config.Resource) {
	t.Helper()
	c := Config(t, path)
	if len(c.ResourceTypes) != 1 || len(c.Resources) == 0 {
		t.Fatalf("the snippet of %s should declare one resource type and its resources", path)
	}
	return c.ResourceTypes[0], c.Resources
}
