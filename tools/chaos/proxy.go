package chaos

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// proxy forwards one node's etcd connections to one etcd member. Cutting it
// drops the node off the quorum without root: open connections are closed
// and new ones are refused until it heals, which to the node looks like a
// network partition.
type proxy struct {
	ln     net.Listener
	target string // host:port of the etcd member

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: proxy listen: %w", err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// URL is the endpoint a node is configured with. The proxy passes bytes
// only, so the node's TLS session is with etcd itself.
func (p *proxy) URL() string { return "https://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.pipe(c)
	}
}

// track registers c unless the proxy is cut.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *proxy) pipe(c net.Conn) {
	defer p.wg.Done()
	d, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil || !p.track(d) {
		if d != nil {
			d.Close()
		}
		p.untrack(c)
		return
	}
	done := make(chan struct{})
	go func() {
		io.Copy(d, c)
		close(done)
	}()
	io.Copy(c, d)
	// Either side ending ends both, so the other copy returns too.
	p.untrack(c, d)
	<-done
}

// Cut closes every open connection and refuses new ones.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Heal lets connections through again.
func (p *proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Close stops the proxy and waits for its goroutines.
func (p *proxy) Close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
