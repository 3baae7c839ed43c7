package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra/doc"
)

// WriteManPages writes a man page for every command into dir (section 1),
// generated from the command tree so that they never drift from -h.
func WriteManPages(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := newRoot(&env{out: io.Discard, err: io.Discard})
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Title: "CLUSTER", Section: "1", Source: "resmon", Manual: "resmon manual"}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		return fmt.Errorf("writing man pages into %s: %w", dir, err)
	}
	return nil
}
