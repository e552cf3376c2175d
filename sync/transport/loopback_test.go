package transport

import (
	"net"
	"testing"
)

// TestTrustLoopback: with TrustLoopback, connections from 127.0.0.1 pass
// the per-IP bounds (several daemons on one host), handshakes in progress
// and established connections alike; without it the same dials are
// refused (TestPerIPConnectionLimit, TestHandshakeLimits).
func TestTrustLoopback(t *testing.T) {
	a, b := newID(t), newID(t)
	ln := listen(t, "127.0.0.1:0", b, Options{MaxConnsPerIP: 2, MaxHandshakesPerIP: 1, MaxHandshakesPerNet: 1, TrustLoopback: true})
	addr := PeerAddr{ID: b.ID(), HostPort: ln.Addr().String()}
	var d net.Dialer
	for range 2 { // silent: they hold handshake slots
		c, err := d.DialContext(testCtx(t), "tcp", addr.HostPort)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for i := range 4 {
		if _, s := dialAccept(t, ln, addr, a); s.RemoteID() != a.ID() {
			t.Fatalf("connection %d: accepted %s", i, s.RemoteID())
		}
	}
}
