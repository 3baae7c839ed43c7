// Command garbage is not a plugin: it prints something that is not a
// go-plugin handshake line and waits, as a wrongly configured path would.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("hello, I am not a resource type")
	fmt.Fprintln(os.Stderr, "some diagnostics on stderr")
	_, _ = os.Stdin.Read(make([]byte, 1)) // until the host goes away
}
