// Command onyone-client is the client half of the Onyone walk-through: it
// connects to the server, prints its one-line answer and exits.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	server := flag.String("server", "127.0.0.1:7000", "onyone-server address")
	flag.Parse()
	conn, err := net.DialTimeout("tcp", *server, 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "onyone-client: %v\n", err)
		os.Exit(1)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		fmt.Fprintf(os.Stderr, "onyone-client: %v\n", err)
		os.Exit(1)
	}
	fmt.Print(line)
}
