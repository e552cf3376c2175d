package swarm

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// TestBadFrames: a peer that breaks the protocol gets an Error frame
// saying why and is disconnected; the swarm keeps running.
func TestBadFrames(t *testing.T) {
	tests := []struct {
		name  string
		frame wire.Frame
		code  uint16
	}{
		{"malformed CBOR", wire.Frame{Type: wire.TypeWantHave, Payload: []byte{0xff, 0x00}}, wire.CodeProtocol},
		{"bad CID", wire.Frame{Type: wire.TypeHave, Payload: mustEncode(t, wire.Have{CIDs: [][]byte{{1, 2, 3}}})}, wire.CodeProtocol},
		{"unknown type", wire.Frame{Type: 0x7f}, wire.CodeProtocol},
		{"second hello", wire.Frame{Type: wire.TypeHello, Payload: mustEncode(t, wire.NewHello(nil, "x", "", nil))}, wire.CodeProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			sw, err := New(Options{Store: memstore.New(memstore.Options{}), ServeAll: true})
			if err != nil {
				t.Fatal(err)
			}
			defer sw.Close()
			theirs, r := rawPeer(t, ctx, sw)
			if err := wire.WriteFrame(theirs, tt.frame); err != nil {
				t.Fatal(err)
			}
			got := readError(t, r)
			if got.Code != tt.code {
				t.Errorf("error code %d (%s), want %d", got.Code, got.Message, tt.code)
			}
			if _, err := wire.ReadFrame(r); !errors.Is(err, io.EOF) && err == nil {
				t.Errorf("connection still open after the error")
			}
			// The swarm forgets the peer.
			for deadline := time.Now().Add(5 * time.Second); len(sw.Peers()) > 0; {
				if time.Now().After(deadline) {
					t.Fatal("peer still listed after disconnect")
				}
				select {
				case <-time.After(10 * time.Millisecond):
				case <-ctx.Done():
					t.Fatal(ctx.Err())
				}
			}
		})
	}
}

func mustEncode(t *testing.T, m wire.Message) []byte {
	t.Helper()
	f, err := wire.Encode(m, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f.Payload
}

// TestPinPolicy: without ServeAll, only pinned content is served.
func TestPinPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stores := memStores(2)
	data := randBytes(6, 1<<20)
	root, _, err := putFile(ctx, stores[0], data, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, stores, func(i int) Options {
		return Options{Policy: &PinPolicy{Store: stores[i]}}
	})
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	leech := c.nodes[1]
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	err = fetchDAG(short, leech.swarm, root, StoreSink{Store: leech.store})
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch of unpinned content: %v, want deadline exceeded", err)
	}
	if ok, _ := leech.store.Has(ctx, root); ok {
		t.Fatal("unpinned root was served")
	}
	if err := stores[0].Pin(ctx, root, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	if err := fetchDAG(ctx, leech.swarm, root, StoreSink{Store: leech.store}); err != nil {
		t.Fatalf("fetch of pinned content: %v", err)
	}
	if got := readFile(t, ctx, leech.store, root); string(got) != string(data) {
		t.Fatal("bytes differ")
	}
}

// TestFloodWithoutReading: a peer that keeps sending want-have and never
// reads the answers is disconnected once its send queue fills, instead of
// growing it without end.
func TestFloodWithoutReading(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sw, err := New(Options{Store: memstore.New(memstore.Options{}), ServeAll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	theirs, _ := rawPeer(t, ctx, sw)
	// Ask about many blocks, many times, reading nothing: every answer is
	// a dont-have that must queue on the swarm's side.
	var wants []wire.Want
	for i := range 64 {
		wants = append(wants, wire.Want{CID: cidOf(i), Flags: wire.SendDontHave})
	}
	theirs.SetWriteDeadline(time.Now().Add(20 * time.Second)) // fail, not hang, if never cut off
	w := bufio.NewWriterSize(theirs, 64<<10)
	sent := 0
	for ; sent < 200_000; sent++ {
		if err := wire.WriteMessage(w, wire.WantHave{Wants: wants}, 0); err != nil {
			break // the swarm closed the connection
		}
		if len(sw.Peers()) == 0 {
			break
		}
	}
	w.Flush()
	// The swarm lets go of the peer.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(sw.Peers()) > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("peer still connected after %d unanswered want-haves", sent)
		}
	}
	t.Logf("disconnected after %d want-have messages", sent)
}

// cidOf returns a distinct raw CID for i.
func cidOf(i int) []byte {
	return unixfs.RawCID(sha256.Sum256([]byte{byte(i), byte(i >> 8)})).Bytes()
}

// TestUnaskedBlocks: a peer that sends blocks nobody asked for has them
// dropped (nothing stored) and is disconnected, told why, once past its
// budget.
func TestUnaskedBlocks(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st := memstore.New(memstore.Options{})
	sw := newSwarm(t, Options{Store: st, ServeAll: true})
	theirs, r := rawPeer(t, ctx, sw)
	theirs.SetReadDeadline(time.Now().Add(10 * time.Second)) // fail, not hang
	// Valid blocks (they hash right), 256 KiB each, never asked for.
	go func() {
		w := bufio.NewWriterSize(theirs, 1<<20)
		for i := range 80 {
			data := randBytes(uint64(i), 256<<10)
			c := unixfs.RawCID(sha256.Sum256(data))
			if wire.WriteBlock(w, 0, c.Bytes(), data) != nil {
				return
			}
		}
		w.Flush()
	}()
	got := readError(t, r)
	if got.Code != wire.CodeRefused {
		t.Errorf("error %d (%s), want CodeRefused", got.Code, got.Message)
	}
	n := 0
	if err := st.AllKeys(ctx, func([]byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d unasked blocks stored", n)
	}
	if s := sw.Stats(); s.DupBytes < unaskedFree || s.BadBlocks != 0 {
		t.Errorf("stats %+v: want the unasked bytes counted as duplicates, no bad blocks", s)
	}
}

// newSwarm starts a swarm with opt, closed when the test ends.
func newSwarm(t *testing.T, opt Options) *Swarm {
	t.Helper()
	sw, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	return sw
}

// rawPeer connects a hand-driven peer to sw over loopback TLS: it sends
// its hello and reads the swarm's, and returns its end and a reader on it.
func rawPeer(t *testing.T, ctx context.Context, sw *Swarm) (*transport.Conn, *bufio.Reader) {
	t.Helper()
	ours, theirs, err := transport.LoopbackPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { theirs.Close() })
	r := bufio.NewReader(theirs)
	if err := wire.WriteMessage(theirs, wire.NewHello(nil, "test", "", nil), 0); err != nil {
		t.Fatal(err)
	}
	if err := sw.AddConn(ours); err != nil {
		t.Fatal(err)
	}
	if f, err := wire.ReadFrame(r); err != nil || f.Type != wire.TypeHello {
		t.Fatalf("first frame: %v %v, want hello", f.Type, err)
	}
	return theirs, r
}

// readError reads frames until the swarm's Error frame.
func readError(t *testing.T, r *bufio.Reader) wire.Error {
	t.Helper()
	for {
		f, err := wire.ReadFrame(r)
		if err != nil {
			t.Fatalf("connection ended without an Error frame: %v", err)
		}
		if f.Type == wire.TypeError {
			m, err := wire.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			return m.(wire.Error)
		}
	}
}
