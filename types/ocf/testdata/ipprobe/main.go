// Command ipprobe is the service and the client of the floating-address
// tests. "serve" answers every TCP connection with its name and a newline;
// "probe" connects to an address over and over and prints one line per
// attempt, "<unix nanoseconds> <answer>" or "<unix nanoseconds> ERR
// <error>", so a test sees which node holds the address and for how long
// nobody did. "leasefloor" measures the floor of a crash failover from
// inside the namespaces: a bare etcd lease of the nodes' TTL, kept alive
// once and abandoned, and the time until a watcher sees its key deleted.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"

	"github.com/resmon/resmon/quorum"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: ipprobe serve -listen ADDR -name NAME | probe -addr ADDR [-every D] [-timeout D]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", ":7070", "serve: the address to listen on")
	name := fs.String("name", "", "serve: the answer")
	addr := fs.String("addr", "", "probe: the address to connect to")
	every := fs.Duration("every", 50*time.Millisecond, "probe: time between attempts")
	timeout := fs.Duration("timeout", 300*time.Millisecond, "probe: bound of one attempt")
	endpoint := fs.String("endpoint", "", "leasefloor: etcd's client URL")
	cluster := fs.String("cluster", "", "leasefloor: the cluster name (keys go under its prefix)")
	ttl := fs.Int64("ttl", 2, "leasefloor: the lease TTL in seconds")
	interval := fs.Duration("interval", 500*time.Millisecond, "leasefloor: the nodes' keepalive interval")
	ca := fs.String("cacert", "", "leasefloor: CA file")
	cert := fs.String("cert", "", "leasefloor: operator certificate")
	key := fs.String("key", "", "leasefloor: operator key")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			log.Fatal(err)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			fmt.Fprintf(c, "%s\n", *name)
			c.Close()
		}
	case "probe":
		w := bufio.NewWriter(os.Stdout)
		for {
			start := time.Now()
			fmt.Fprintf(w, "%d %s\n", start.UnixNano(), once(*addr, *timeout))
			w.Flush()
			time.Sleep(time.Until(start.Add(*every)))
		}
	case "leasefloor":
		d, err := leaseFloor(*endpoint, *cluster, *ca, *cert, *key, *ttl, *interval)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(d.Nanoseconds())
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

func once(addr string, timeout time.Duration) string {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "ERR " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "ERR " + err.Error()
	}
	return strings.TrimSpace(line)
}

func leaseFloor(endpoint, cluster, ca, cert, key string, ttl int64, interval time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := quorum.Connect(ctx, quorum.ClientConfig{Endpoints: []string{endpoint}, CAFile: ca, CertFile: cert, KeyFile: key,
		Prefix: quorum.NewKeys(cluster).Prefix()})
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	g, err := cli.Grant(ctx, ttl)
	if err != nil {
		return 0, err
	}
	k := fmt.Sprintf("%sbench/floor/%x", quorum.NewKeys(cluster).Prefix(), g.ID)
	if _, err := cli.Put(ctx, k, "x", clientv3.WithLease(g.ID)); err != nil {
		return 0, err
	}
	w := cli.Watch(ctx, k)
	// Decorrelate from etcd's expiry tick, keep the lease alive once, and
	// abandon it somewhere within a keepalive interval, as a node killed
	// between two keepalives.
	time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
	if _, err := cli.KeepAliveOnce(ctx, g.ID); err != nil {
		return 0, err
	}
	time.Sleep(time.Duration(rand.Int64N(int64(interval))))
	t0 := time.Now()
	for wr := range w {
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return time.Since(t0), nil
			}
		}
	}
	return 0, fmt.Errorf("the watch of %s ended: %v", k, ctx.Err())
}
