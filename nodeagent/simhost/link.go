package simhost

import (
	"io"
	"net"
	"sync"
)

// Link is a simulated host's network link to the API server: a TCP proxy
// its kubelet-lite and agent reach the API server through, so that the host
// can be cut off (a partition) and healed: while cut, open connections are
// closed and new ones are dropped at once. The host's servers go on
// running.
type Link struct {
	// Allow, when set, decides per connection whether it gets through, by
	// the address it comes from (a simulated host's own loopback address):
	// a partition between hosts. Set by NewFilteredLink; call Drop when its
	// answer changes.
	Allow func(from net.Addr) bool

	l      net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

// NewLink listens on a port of 127.0.0.1 and relays to target.
func NewLink(target string) (*Link, error) { return NewFilteredLink(target, nil) }

// NewFilteredLink is NewLink with Allow set before any traffic.
func NewFilteredLink(target string, allow func(from net.Addr) bool) (*Link, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Link{Allow: allow, l: l, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

// Addr is the address the host's processes reach the API server at.
func (p *Link) Addr() string { return p.l.Addr().String() }

func (p *Link) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut || (p.Allow != nil && !p.Allow(c.RemoteAddr()))
		p.mu.Unlock()
		if cut {
			_ = c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *Link) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// SetCut cuts (true) or heals (false) the host's link.
func (p *Link) SetCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

// Drop closes the connections open now (the partition changed); new
// ones are let through or not by Allow.
func (p *Link) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

// Close ends the link.
func (p *Link) Close() { _ = p.l.Close(); p.SetCut(true) }
