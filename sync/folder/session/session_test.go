package session

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/folder/conflict"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// model is the smallest Model over a real index: one folder.
type model struct {
	key identity.FolderKey
	ix  *index.Index
	got chan struct{} // records stored
	mu  sync.Mutex
	up  map[identity.NodeID]bool
	// gate, when set, holds each Records call until the test lets one
	// through (or closes it); stored counts the records handed over.
	gate   chan struct{}
	stored atomic.Int64
	relay  *Session // when set, new records are relayed through it
}

func (m *model) Keys() []identity.ROKey { return []identity.ROKey{m.key.RO()} }
func (m *model) Summary(ctx context.Context, _ identity.FolderID) ([]wire.Mark, error) {
	ms, err := m.ix.Marks(ctx)
	out := make([]wire.Mark, len(ms))
	for i, x := range ms {
		out[i] = wire.Mark{Origin: x.Origin, Seq: x.Seq}
	}
	return out, err
}
func (m *model) Since(ctx context.Context, _ identity.FolderID, theirs []wire.Mark, fn func(wire.SignedRecord) error) ([]wire.Mark, error) {
	var in []index.Mark
	for _, x := range theirs {
		in = append(in, index.Mark{Origin: x.Origin, Seq: x.Seq})
	}
	c, err := m.ix.Since(ctx, in, func(s index.Signed) error { return fn(wire.SignedRecord{Data: s.Data, Sig: s.Sig}) })
	var out []wire.Mark
	for _, x := range c {
		out = append(out, wire.Mark{Origin: x.Origin, Seq: x.Seq})
	}
	return out, err
}
func (m *model) Records(ctx context.Context, peer identity.NodeID, f identity.FolderID, recs []wire.SignedRecord, complete []wire.Mark) error {
	var in []index.Signed
	for _, r := range recs {
		in = append(in, index.Signed{Data: r.Data, Sig: r.Sig})
	}
	var cm []index.Mark
	for _, x := range complete {
		cm = append(cm, index.Mark{Origin: x.Origin, Seq: x.Seq})
	}
	if m.gate != nil {
		<-m.gate
	}
	applied, _, err := m.ix.ApplyRemote(ctx, in, cm, nil)
	m.stored.Add(int64(len(recs)))
	if m.relay != nil && len(applied) > 0 {
		// As the daemon does: what is new goes on to the other peers.
		fwd := make([]wire.SignedRecord, len(applied))
		for i, a := range applied {
			fwd[i] = wire.SignedRecord{Data: a.Signed.Data, Sig: a.Signed.Sig}
		}
		m.relay.Relay(ctx, f, fwd, peer)
	}
	select {
	case m.got <- struct{}{}:
	default:
	}
	return err
}
func (m *model) PeerChanged(_ identity.FolderID, p identity.NodeID, up bool) {
	m.mu.Lock()
	m.up[p] = up
	m.mu.Unlock()
}

type node struct {
	id *identity.Identity
	st *memstore.Store // served to every peer
	sw *swarm.Swarm
	s  *Session
	m  *model
	ln *transport.Listener
}

func newNode(t *testing.T, key identity.FolderKey, dev uint64) *node {
	t.Helper()
	bs, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	opt := index.Options{KV: bs.KV("f"), Folder: key.ID(), Pub: key.SigningPublicKey(), Device: dev, Wins: conflict.Wins}
	if rw, ok := key.RW(); ok {
		opt.Key = rw.SigningKey()
	}
	ix, err := index.Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := identity.New()
	m := &model{key: key, ix: ix, got: make(chan struct{}, 1), up: map[identity.NodeID]bool{}}
	s := New(Options{Self: id.ID(), Model: m})
	st := memstore.New(memstore.Options{})
	sw, err := swarm.New(swarm.Options{Store: st, ServeAll: true, Self: id.ID(), Extensions: []swarm.Extension{s}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := transport.Listen(ctx, "127.0.0.1:0", id, transport.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			sw.AddConn(c)
		}
	}()
	t.Cleanup(func() { cancel(); ln.Close(); sw.Close() })
	return &node{id: id, st: st, sw: sw, s: s, m: m, ln: ln}
}

func (n *node) dial(t *testing.T, to *node) {
	t.Helper()
	c, err := transport.Dial(context.Background(), transport.PeerAddr{ID: to.id.ID(), HostPort: to.ln.Addr().String()}, n.id)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.sw.AddConn(c); err != nil {
		t.Fatal(err)
	}
}

func commit(t *testing.T, ix *index.Index, path string) {
	t.Helper()
	data := []byte(path)
	r := index.Record{Path: path, Type: index.TypeFile, Size: int64(len(data)), Mode: 0o644, ModTime: 1, Root: unixfs.RawCIDOf(data).Bytes()}
	if _, err := ix.CommitLocal(context.Background(), []index.Change{{Record: r, Local: index.Local{Type: index.TypeFile, Root: r.Root}}}); err != nil {
		t.Fatal(err)
	}
}

// wait re-checks cond each time records arrive (and every 20 ms, for
// state no event announces), up to a deadline that a busy machine
// running the race detector still meets.
func wait(t *testing.T, what string, got <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("%s: not within 30 s", what)
		case <-got:
		case <-tick.C:
		}
	}
}

func TestPeersWithTheKeyExchangeRecords(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	a := newNode(t, key, 1)
	b := newNode(t, key.ReadOnly(), 2)
	commit(t, a.m.ix, "one")
	commit(t, a.m.ix, "two")
	b.dial(t, a)
	wait(t, "b holds a's records", b.m.got, func() bool {
		g, _ := b.m.ix.Global(context.Background(), "two")
		return g != nil
	})
	if !a.s.Shares(b.id.ID(), key.ID()) || !b.s.Shares(a.id.ID(), key.ID()) {
		t.Fatal("the two do not see each other as sharing the folder")
	}
	// A rumour: a new record is pushed at once.
	commit(t, a.m.ix, "three")
	var recs []wire.SignedRecord
	a.m.ix.Since(context.Background(), []index.Mark{{Origin: 1, Seq: 2}}, func(s index.Signed) error {
		recs = append(recs, wire.SignedRecord{Data: s.Data, Sig: s.Sig})
		return nil
	})
	a.s.Push(key.ID(), recs)
	wait(t, "the rumour arrives", b.m.got, func() bool {
		g, _ := b.m.ix.Global(context.Background(), "three")
		return g != nil
	})
}

func TestNoFolderTalkWithoutProof(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	other, _ := identity.NewRWKey()
	a := newNode(t, key, 1)
	c := newNode(t, identity.FolderKeyFromRW(other), 3) // holds another folder only
	commit(t, a.m.ix, "secret")
	c.dial(t, a)
	wait(t, "both connected", nil, func() bool { return len(a.sw.Peers()) == 1 && len(c.sw.Peers()) == 1 })
	if a.s.Shares(c.id.ID(), key.ID()) || len(a.s.Peers(key.ID())) != 0 {
		t.Fatal("a peer without the key counts as sharing the folder")
	}
	// C learned the folder ID somehow and asks for its records: refused,
	// and the connection is closed.
	conn := findConn(t, c)
	id := key.ID()
	if err := conn.Send(wire.IndexSummary{Folder: id[:]}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("a summary without proof did not close the connection")
	}
	if g, _ := c.m.ix.Global(context.Background(), "secret"); g != nil {
		t.Fatal("a record reached a peer without the key")
	}
}

// findConn returns c's swarm.Conn to its only peer, through a probe
// extension call: the session keeps them.
func findConn(t *testing.T, n *node) *swarm.Conn {
	t.Helper()
	conns := n.s.allConns()
	if len(conns) != 1 {
		t.Fatalf("%d connections", len(conns))
	}
	return conns[0]
}
