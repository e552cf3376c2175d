package swarm

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// echoExt answers every FolderProof with a FolderProof of the reversed
// bytes and reports what it sees on channels.
type echoExt struct {
	connected, disconnected chan *Conn
	got                     chan wire.FolderProof
	fail                    atomic.Bool // Handle returns a protocol error
}

func newEchoExt() *echoExt {
	return &echoExt{connected: make(chan *Conn, 4), disconnected: make(chan *Conn, 4), got: make(chan wire.FolderProof, 16)}
}

func (e *echoExt) Handles(t wire.MsgType) bool { return t == wire.TypeFolderProof }
func (e *echoExt) Connected(c *Conn)           { e.connected <- c }
func (e *echoExt) Disconnected(c *Conn)        { e.disconnected <- c }
func (e *echoExt) Handle(c *Conn, m wire.Message) error {
	p := m.(wire.FolderProof)
	e.got <- p
	if e.fail.Load() {
		return wire.ErrMalformed
	}
	if p.Proof[0] == 1 {
		r := bytes.Clone(p.Proof)
		r[0] = 2
		return c.Send(wire.FolderProof{Proof: r})
	}
	return nil
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting")
	}
	var zero T
	return zero
}

func TestExtensionMessages(t *testing.T) {
	a, b := newEchoExt(), newEchoExt()
	exts := []*echoExt{a, b}
	c := newTestCluster(t, memStores(2), func(i int) Options { return Options{ServeAll: true, Extensions: []Extension{exts[i]}} })
	if err := c.connect(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	ca, cb := recv(t, a.connected), recv(t, b.connected)
	if ca.ID() != c.nodes[1].id.ID() || cb.ID() != c.nodes[0].id.ID() {
		t.Fatal("Conn IDs are not the peers' node IDs")
	}
	if ca.ProtocolMinor() != wire.ProtocolMinor || cb.ProtocolMinor() != wire.ProtocolMinor {
		t.Fatalf("minor versions %d and %d, want %d", ca.ProtocolMinor(), cb.ProtocolMinor(), wire.ProtocolMinor)
	}
	if len(ca.Exporter()) != 32 || !bytes.Equal(ca.Exporter(), cb.Exporter()) {
		t.Fatal("the two ends see different exporter values")
	}
	proof := bytes.Repeat([]byte{1}, 32)
	if err := ca.Send(wire.FolderProof{Proof: proof}); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, b.got); !bytes.Equal(got.Proof, proof) {
		t.Fatalf("b got %x", got.Proof)
	}
	if got := recv(t, a.got); got.Proof[0] != 2 {
		t.Fatalf("a got %x, want the echo", got.Proof)
	}

	// A Handle error closes the connection; both sides hear of it.
	b.fail.Store(true)
	if err := ca.Send(wire.FolderProof{Proof: bytes.Repeat([]byte{3}, 32)}); err != nil {
		t.Fatal(err)
	}
	recv(t, b.got)
	recv(t, a.disconnected)
	recv(t, b.disconnected)
	if err := ca.Send(wire.FolderProof{Proof: proof}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send after close = %v", err)
	}
}

// TestOlderPeerMinor: a peer whose Hello says an older minor version is
// seen as such, so that messages added since are not sent to it.
func TestOlderPeerMinor(t *testing.T) {
	ext := newEchoExt()
	sw := newTestCluster(t, memStores(1), func(int) Options { return Options{ServeAll: true, Extensions: []Extension{ext}} }).nodes[0].swarm
	ctx := context.Background()
	ours, theirs, err := transport.LoopbackPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { theirs.Close() })
	old := wire.NewHello(nil, "shoal", "0.1", nil)
	old.Minor = 0
	if err := wire.WriteMessage(theirs, old, 0); err != nil {
		t.Fatal(err)
	}
	if err := sw.AddConn(ours); err != nil {
		t.Fatal(err)
	}
	if c := recv(t, ext.connected); c.ProtocolMinor() != 0 {
		t.Fatalf("an older peer's minor version reads %d", c.ProtocolMinor())
	}
}
