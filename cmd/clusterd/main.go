// Command clusterd is the resmon node monitor. See README.md.
package main

import (
	"os"

	"github.com/resmon/resmon/internal/daemon"
)

func main() { os.Exit(daemon.Main(os.Args[1:], os.Stderr)) }
