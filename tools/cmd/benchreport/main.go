// Command benchreport runs every benchmark report of the repository and
// writes ours beside the floors, with failover-time histograms, into a
// report folder; see tools/benchreport.
package main

import (
	"os"

	"github.com/resmon/resmon/tools/benchreport"
)

func main() { os.Exit(benchreport.Main(os.Args[1:])) }
