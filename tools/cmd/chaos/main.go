// Command chaos injects seeded faults into a local resmon cluster and checks
// its invariants; see tools/chaos.
package main

import (
	"os"

	"github.com/resmon/resmon/tools/chaos"
)

func main() { os.Exit(chaos.Main(os.Args[1:])) }
