package swarm

import (
	"context"
	"errors"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/wire"
)

// Extension is a protocol that rides on the swarm's connections beside
// block exchange, such as folder sync: the swarm hands it the messages of
// the types it handles and tells it of peers coming and going; it sends
// through the Conn it is given. It knows nothing of the swarm's state, and
// the swarm nothing of its messages (Syncthing's protocol/Model split).
type Extension interface {
	// Handles reports whether messages of type t are the extension's.
	Handles(t wire.MsgType) bool
	// Connected is called once a peer's hello is through, before any of
	// its messages are handled.
	Connected(c *Conn)
	// Handle is called with each message of the extension's types from
	// c's reader, in order; while it runs, nothing more is read from that
	// peer, so it must not wait for other peers. An error closes the
	// connection, telling the peer why (wire.ErrMalformed and the like
	// as a protocol error).
	Handle(c *Conn, m wire.Message) error
	// Disconnected is called once after the connection closed.
	Disconnected(c *Conn)
}

// ErrNotConnected is returned by Conn.Send once the connection closed.
var ErrNotConnected = errors.New("peer not connected")

// Conn is one connected peer as an Extension sees it.
type Conn struct {
	p        *peer
	exporter []byte
}

// ID returns the peer's node ID, from its certificate.
func (c *Conn) ID() identity.NodeID { return c.p.id }

// Addr returns the peer's address.
func (c *Conn) Addr() string { return c.p.addr }

// ProtocolMinor returns the minor protocol version the peer's Hello
// said: messages added after it must not be sent to it.
func (c *Conn) ProtocolMinor() uint16 { return c.p.minor }

// Exporter returns the connection's TLS exporter value, which folder
// proofs bind to.
func (c *Conn) Exporter() []byte { return c.exporter }

// Send queues m for the peer; it does not wait for the network.
func (c *Conn) Send(m wire.Message) error {
	select {
	case <-c.p.done:
		return ErrNotConnected
	default:
	}
	c.p.out.push(outItem{m: msg{kind: mExt, ext: m}})
	return nil
}

// SendBulk queues m, one message of a long stream (an index of many
// records), behind control messages and taking turns with the blocks the
// peer asked for: the stream neither holds those blocks back nor is held
// back by them. While a few bulk messages wait to be written it waits,
// until ctx ends or the connection closes: call it from a goroutine of
// the stream's own, never from Handle (two peers each waiting for the
// other to read would wait for ever).
func (c *Conn) SendBulk(ctx context.Context, m wire.Message) error {
	return c.p.out.pushBulk(ctx, c.p.done, outItem{m: msg{kind: mExt, ext: m}})
}

// Fail closes the connection for err, as an error Handle returns would,
// from a goroutine of the extension's own: the peer is told why when err
// is a protocol error (wire.ErrMalformed and the like). Only the first
// call counts.
func (c *Conn) Fail(err error) {
	select {
	case c.p.failed <- err:
	default:
	}
}

// Closed is closed once the connection has closed.
func (c *Conn) Closed() <-chan struct{} { return c.p.done }

// extensionFor returns the extension that handles t, or nil.
func (s *Swarm) extensionFor(t wire.MsgType) Extension {
	for _, e := range s.opt.Extensions {
		if e.Handles(t) {
			return e
		}
	}
	return nil
}
