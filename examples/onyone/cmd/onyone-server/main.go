// Command onyone-server is the server half of the Onyone walk-through: a
// TCP service whose settings live in the node-local registry under
// SOFTWARE\Microsoft\onyone and SOFTWARE\Microsoft\onyone2. It reads them
// through the admin API of the node that started it (clusterd exports
// RESMON_ADMIN and RESMON_NODE to the applications its resources run), at
// every connection, so a change shows at once, and answers each client
// with one line built from them. With -http it answers GET requests with
// the same line instead, as a small web server.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/resmon/resmon/admin"
)

// The registry keys and values the application reads.
const (
	SettingsKey = `SOFTWARE\Microsoft\onyone`  // Greeting (string)
	ExtraKey    = `SOFTWARE\Microsoft\onyone2` // Color (string)
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7000", "address to serve on")
	web := flag.Bool("http", false, "serve HTTP: GET / answers with the line")
	flag.Parse()
	addr, node := os.Getenv("RESMON_ADMIN"), os.Getenv("RESMON_NODE")
	if addr == "" {
		log.Fatal("onyone-server: RESMON_ADMIN is not set: run me as a resource of clusterd")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("onyone-server: %v", err)
	}
	log.Printf("onyone-server on %s serving %s", node, ln.Addr())
	if *web {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, line(r.Context(), addr, node))
		})
		log.Fatal((&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}).Serve(ln))
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatalf("onyone-server: %v", err)
		}
		go serve(conn, addr, node)
	}
}

func serve(conn net.Conn, addr, node string) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	io.WriteString(w, line(context.Background(), addr, node))
	w.Flush()
}

// line is the answer: the settings as the node's registry holds them now.
func line(ctx context.Context, addr, node string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	greeting, color := "(no greeting set)", "(no color set)"
	if c, err := admin.Dial(ctx, addr, nil); err == nil {
		defer c.Close()
		if v, err := c.GetValue(ctx, SettingsKey, "Greeting"); err == nil {
			greeting = v.Str
		}
		if v, err := c.GetValue(ctx, ExtraKey, "Color"); err == nil {
			color = v.Str
		}
	} else {
		log.Printf("onyone-server: reading settings: %v", err)
	}
	return fmt.Sprintf("%s (color %s) from %s\n", greeting, color, node)
}
