// Command cluster is the resmon admin CLI. See README.md.
package main

import (
	"os"

	"github.com/resmon/resmon/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
