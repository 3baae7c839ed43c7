// Command mkdeb builds resmon's Debian package (see tools/deb and
// dist/nfpm.yaml): go run ./tools/cmd/mkdeb -out dist/out -version 1.0.0
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/resmon/resmon/tools/deb"
)

func main() {
	out := flag.String("out", "dist/out", "directory for the .deb")
	version := flag.String("version", "", "package version (default 0.0.0~dev)")
	arch := flag.String("arch", "", "Debian architecture (default: this machine's)")
	flag.Parse()
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	path, err := deb.Build(context.Background(), deb.Options{Root: root, OutDir: *out, Version: *version, Arch: *arch})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
