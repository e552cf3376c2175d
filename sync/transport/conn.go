package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// DefaultHandshakeTimeout bounds a TLS handshake when no shorter deadline is given.
const DefaultHandshakeTimeout = 10 * time.Second

// Conn is an established, authenticated connection to a peer. It is a
// net.Conn; Read and Write may be called from different goroutines, but
// concurrent Writes must be serialized by the caller to keep frames whole.
type Conn struct {
	tc       *tls.Conn
	bc       *batchConn   // under tc: gathers records into fewer writes
	writes   atomic.Int32 // Writes under way
	remote   identity.NodeID
	outbound bool
	exporter []byte

	closeOnce sync.Once
	closeErr  error
	onClose   func()
}

var _ net.Conn = (*Conn)(nil)

// newConn wraps a completed TLS handshake over bc, and turns on bc's
// batching.
func newConn(tc *tls.Conn, bc *batchConn, outbound bool, onClose func()) (*Conn, error) {
	cs := tc.ConnectionState()
	remote, err := peerID(cs)
	if err != nil {
		return nil, err
	}
	exp, err := cs.ExportKeyingMaterial(ExporterLabel, nil, ExporterLen)
	if err != nil {
		return nil, fmt.Errorf("export keying material: %w", err)
	}
	bc.on.Store(true)
	return &Conn{tc: tc, bc: bc, remote: remote, outbound: outbound, exporter: exp, onClose: onClose}, nil
}

// RemoteID returns the peer's NodeID, taken from its certificate.
func (c *Conn) RemoteID() identity.NodeID { return c.remote }

// Outbound reports whether this side dialed the connection.
func (c *Conn) Outbound() bool { return c.outbound }

// Exporter returns a copy of the connection's TLS exporter value for
// ExporterLabel (32 bytes), the same on both ends and unique to this
// connection: folder proofs bind to it.
func (c *Conn) Exporter() []byte { return append([]byte(nil), c.exporter...) }

// ExportKeyingMaterial returns TLS exporter material for another label (RFC 8446 §7.5).
func (c *Conn) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	cs := c.tc.ConnectionState()
	return cs.ExportKeyingMaterial(label, context, length)
}

// Read reads decrypted bytes from the peer.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.tc.Read(p)
	// A record TLS queued by itself while reading (a key update, an
	// alert) goes out in the background: a read never waits for a write,
	// which may be waiting for the peer, which may be waiting for this
	// read. With a Write under way, its flush sends the record.
	if c.writes.Load() == 0 && c.bc.pending() {
		go c.bc.Flush()
	}
	return n, err
}

// Write sends bytes to the peer: their TLS records go to the socket in as
// few writes as fit.
func (c *Conn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	defer c.writes.Add(-1)
	n, err := c.tc.Write(p)
	if ferr := c.bc.Flush(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

// Close closes the connection; it is safe to call more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.tc.Close()
		if c.onClose != nil {
			c.onClose()
		}
	})
	return c.closeErr
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.tc.LocalAddr() }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.tc.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.tc.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.tc.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.tc.SetWriteDeadline(t) }

// String names the peer and direction, for logs.
func (c *Conn) String() string {
	dir := "in"
	if c.outbound {
		dir = "out"
	}
	return fmt.Sprintf("%s@%s(%s)", c.remote.Short(), c.tc.RemoteAddr(), dir)
}

// Dial connects to addr and authenticates both sides as id and the peer.
// When addr.ID is set, any other certificate is refused (ErrPeerIDMismatch).
// The handshake ends with ctx or after DefaultHandshakeTimeout.
func Dial(ctx context.Context, addr PeerAddr, id *identity.Identity) (*Conn, error) {
	cert, err := certificate(id)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, DefaultHandshakeTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(hctx, "tcp", addr.HostPort)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	bc := &batchConn{Conn: raw}
	tc := tls.Client(bc, tlsConfig(cert, id.ID(), addr.ID))
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	c, err := newConn(tc, bc, true, nil)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	return c, nil
}
