package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/resmon/resmon/internal/config"
)

// TestReadmeExampleParses keeps the commented example of README.md true.
func TestReadmeExampleParses(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "A commented example with every key")
	if !ok {
		t.Fatal("README.md lost its commented cluster.toml example")
	}
	_, rest, _ = strings.Cut(rest, "```toml\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README.md example is not closed")
	}
	if _, err := config.Parse("README.md", []byte(example)); err != nil {
		t.Fatalf("README example does not parse:\n%v", err)
	}
}

// TestRootClusterTomlParses keeps the file of the README's run command valid.
func TestRootClusterTomlParses(t *testing.T) {
	if _, err := config.Load("../../cluster.toml"); err != nil {
		t.Fatal(err)
	}
}
