package session

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/folder/conflict"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// gated is a Session whose Disconnected waits for gate, and which says on
// which connection each folder proof was handled.
type gated struct {
	*Session
	gate, gone chan struct{}
	proved     chan *swarm.Conn
	once       sync.Once
}

func (g *gated) open() { g.once.Do(func() { close(g.gate) }) }

func (g *gated) Disconnected(c *swarm.Conn) {
	<-g.gate
	g.Session.Disconnected(c)
	select {
	case g.gone <- struct{}{}:
	default:
	}
}

func (g *gated) Handle(c *swarm.Conn, m wire.Message) error {
	err := g.Session.Handle(c, m)
	if _, ok := m.(wire.FolderProof); ok {
		select {
		case g.proved <- c:
		default:
		}
	}
	return err
}

func newGatedNode(t *testing.T, key identity.FolderKey, dev uint64) (*node, *gated) {
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
	g := &gated{Session: New(Options{Self: id.ID(), Model: m}), gate: make(chan struct{}), gone: make(chan struct{}, 4), proved: make(chan *swarm.Conn, 16)}
	sw, err := swarm.New(swarm.Options{Store: memstore.New(memstore.Options{}), Self: id.ID(), Extensions: []swarm.Extension{g}})
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
	t.Cleanup(func() { g.open(); cancel(); ln.Close(); sw.Close() })
	return &node{id: id, sw: sw, s: g.Session, m: m, ln: ln}, g
}

// TestDuplicateConnectionKeepsPeerUp: two peers that dial each other at
// once have two connections; the swarm keeps one and closes the other. The
// closed one's end, told after the kept one has proved the folder, must
// not report the peer gone: it still shares the folder on the kept one.
func TestDuplicateConnectionKeepsPeerUp(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	a, g := newGatedNode(t, key, 1)
	b := newNode(t, key, 2)
	first, second := b, a // the kept connection is dialed second
	if !transport.Prefer(a.id.ID(), b.id.ID(), true) {
		first, second = a, b
	}
	if first == a {
		a.dial(t, b)
	} else {
		b.dial(t, a)
	}
	deadline := time.After(10 * time.Second)
	var old *swarm.Conn
	select {
	case old = <-g.proved:
	case <-deadline:
		t.Fatal("no proof on the first connection")
	}
	if second == a {
		a.dial(t, b)
	} else {
		b.dial(t, a)
	}
	for kept := false; !kept; {
		select {
		case c := <-g.proved:
			kept = c != old
		case <-deadline:
			t.Fatal("no proof on the second connection")
		}
	}
	g.open() // now the first connection's end is told
	select {
	case <-g.gone:
	case <-deadline:
		t.Fatal("the first connection's end was not told")
	}
	a.m.mu.Lock()
	up := a.m.up[b.id.ID()]
	a.m.mu.Unlock()
	if !up || !a.s.Shares(b.id.ID(), key.ID()) {
		t.Fatalf("after the duplicate closed: model says up=%v, session shares=%v; want both", up, a.s.Shares(b.id.ID(), key.ID()))
	}
}
