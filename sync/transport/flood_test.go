package transport

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestNetOf(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"127.1.2.3", "127.1.2.0/24"},
		{"192.0.2.200", "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
	}
	for _, tc := range tests {
		if got := netOf(netip.MustParseAddr(tc.ip)); got.String() != tc.want {
			t.Errorf("netOf(%s) = %s, want %s", tc.ip, got, tc.want)
		}
	}
}

// TestSilentFloodDoesNotLockOut: sixteen sources, each in its own /24,
// keep four silent connections open each (reopening any the listener
// closes), which fills the 64 handshake slots; an honest peer from
// another address still connects at once.
func TestSilentFloodDoesNotLockOut(t *testing.T) {
	a, b := newID(t), newID(t)
	ln := listen(t, "127.0.0.1:0", b, Options{})
	addr := PeerAddr{ID: b.ID(), HostPort: ln.Addr().String()}
	ctx := testCtx(t)
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	const sources, perSource = 16, 4
	opened := make(chan struct{}, sources*perSource)
	for i := range sources {
		src := &net.TCPAddr{IP: net.IPv4(127, 1, byte(i+1), 1)}
		for range perSource {
			wg.Go(func() {
				d := net.Dialer{LocalAddr: src}
				for first := true; fctx.Err() == nil; {
					c, err := d.DialContext(fctx, "tcp", addr.HostPort)
					if err != nil {
						return
					}
					if first {
						opened <- struct{}{}
						first = false
					}
					// Silent: wait for the listener to close it, or the end.
					go func() { <-fctx.Done(); c.Close() }()
					c.Read(make([]byte, 1))
					c.Close()
				}
			})
		}
	}
	for range sources * perSource {
		select {
		case <-opened:
		case <-ctx.Done():
			t.Fatal("flood never connected")
		}
	}
	// Wait until the listener holds every slot.
	for {
		ln.mu.Lock()
		n := ln.handshakes
		ln.mu.Unlock()
		if n >= sources*perSource {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the flood holds %d handshake slots, want %d", n, sources*perSource)
		case <-time.After(time.Millisecond):
		}
	}
	start := time.Now()
	acc := acceptAsync(ctx, ln)
	var err error
	for attempt := 1; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var c *Conn
		c, err = Dial(dctx, addr, a)
		cancel()
		if err == nil {
			c.Close()
			t.Logf("honest peer connected after %v (attempt %d) beside %d silent connections from %d networks",
				time.Since(start).Round(time.Millisecond), attempt, sources*perSource, sources)
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("honest peer locked out for %v: %v", time.Since(start).Round(time.Millisecond), err)
		}
	}
	r := <-acc
	if r.err != nil {
		t.Fatal(r.err)
	}
	r.c.Close()
}

// TestSilentClientDroppedAfterHelloTimeout: a client that sends nothing
// loses its slot after HelloTimeout, well before HandshakeTimeout.
func TestSilentClientDroppedAfterHelloTimeout(t *testing.T) {
	b := newID(t)
	ln := listen(t, "127.0.0.1:0", b, Options{HelloTimeout: 50 * time.Millisecond, HandshakeTimeout: time.Minute})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the listener sent something to a silent client")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("silent client still held after 20 s")
	}
	t.Logf("silent client dropped after %v", time.Since(start).Round(time.Millisecond))
}
