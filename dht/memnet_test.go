package dht

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// memNet is a lossless in-memory datagram network for tests in fake time
// (testing/synctest needs goroutines blocked on channels, not sockets).
type memNet struct {
	mu    sync.Mutex
	conns map[netip.AddrPort]*memConn
	next  uint16
}

type memPacket struct {
	b    []byte
	from netip.AddrPort
}

type memConn struct {
	net  *memNet
	addr netip.AddrPort
	in   chan memPacket
	done chan struct{}
	once sync.Once
}

func newMemNet() *memNet { return &memNet{conns: map[netip.AddrPort]*memConn{}, next: 10000} }

func (n *memNet) listen() *memConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	c := &memConn{net: n, addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), n.next),
		in: make(chan memPacket, 1024), done: make(chan struct{})}
	n.conns[c.addr] = c
	return c
}

func (c *memConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p.b), net.UDPAddrFromAddrPort(p.from), nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *memConn) WriteTo(b []byte, to net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	c.net.mu.Lock()
	dst := c.net.conns[to.(*net.UDPAddr).AddrPort()]
	c.net.mu.Unlock()
	if dst != nil {
		select {
		case dst.in <- memPacket{append([]byte(nil), b...), c.addr}:
		default: // queue full: dropped, as UDP would
		}
	}
	return len(b), nil
}

func (c *memConn) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.net.mu.Lock()
		delete(c.net.conns, c.addr)
		c.net.mu.Unlock()
	})
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return net.UDPAddrFromAddrPort(c.addr) }
func (c *memConn) SetDeadline(time.Time) error      { return os.ErrNoDeadline }
func (c *memConn) SetReadDeadline(time.Time) error  { return os.ErrNoDeadline }
func (c *memConn) SetWriteDeadline(time.Time) error { return os.ErrNoDeadline }

// startMem runs a server on the in-memory network; stop ends it and waits.
func startMem(t *testing.T, n *memNet, cfg Config) (s *Server, stop func()) {
	t.Helper()
	cfg.Conn = n.listen()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx)
	}()
	return s, func() { cancel(); <-done }
}
