package dht

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// memClient sends hand-made queries over the in-memory network.
type memClient struct {
	t    *testing.T
	conn *memConn
	to   net.Addr
	id   nodeid.ID
}

func (c *memClient) query(q string, a *krpc.Args) *krpc.Msg {
	c.t.Helper()
	a.ID = c.id
	b, _ := (&krpc.Msg{T: "tt", Y: "q", Q: q, A: a}).Encode()
	c.conn.WriteTo(b, c.to)
	buf := make([]byte, 2048)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.t.Fatal(err)
		}
		m, err := krpc.Decode(buf[:n])
		if err != nil {
			c.t.Fatal(err)
		}
		if m.Y != "q" { // the server's own queries (refresh) are ignored
			return m
		}
	}
}

func TestTokenRotationAndExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		s, stop := startMem(t, n, Config{})
		defer stop()
		c := &memClient{t: t, conn: n.listen(), to: s.Addr(), id: nodeid.Random()}
		ih := nodeid.Random()
		tok := c.query(krpc.GetPeers, &krpc.Args{InfoHash: ih}).R.Token

		time.Sleep(4 * time.Minute)
		if m := c.query(krpc.GetPeers, &krpc.Args{InfoHash: ih}); m.R.Token != tok {
			t.Error("token changed before the first rotation")
		}
		time.Sleep(2 * time.Minute) // t = 6m: rotated once
		if m := c.query(krpc.GetPeers, &krpc.Args{InfoHash: ih}); m.R.Token == tok {
			t.Error("token did not rotate after 5 minutes")
		}
		time.Sleep(3*time.Minute + 59*time.Second) // t = 9m59s: the old token still works
		wantCode(t, "token at 9m59s", c.query(krpc.AnnouncePeer, &krpc.Args{InfoHash: ih, Port: 1, Token: tok}), 0)
		time.Sleep(2 * time.Second) // t = 10m01s: two rotations, the token is dead
		wantCode(t, "token at 10m01s", c.query(krpc.AnnouncePeer, &krpc.Args{InfoHash: ih, Port: 1, Token: tok}), krpc.CodeProtocol)
	})
}

func TestPeerExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		s, stop := startMem(t, n, Config{})
		defer stop()
		c := &memClient{t: t, conn: n.listen(), to: s.Addr(), id: nodeid.Random()}
		ih := nodeid.Random()
		tok := c.query(krpc.GetPeers, &krpc.Args{InfoHash: ih}).R.Token
		wantCode(t, "announce", c.query(krpc.AnnouncePeer, &krpc.Args{InfoHash: ih, Port: 5555, Token: tok}), 0)

		time.Sleep(29 * time.Minute)
		if m := c.query(krpc.GetPeers, &krpc.Args{InfoHash: ih}); len(m.R.Values) != 1 || m.R.Values[0].Port() != 5555 {
			t.Errorf("at 29m values = %v, want the peer", m.R.Values)
		}
		time.Sleep(2 * time.Minute)
		if m := c.query(krpc.GetPeers, &krpc.Args{InfoHash: ih}); len(m.R.Values) != 0 {
			t.Errorf("at 31m values = %v, want none", m.R.Values)
		}
		s.mu.Lock()
		left := len(s.peers.m)
		s.mu.Unlock()
		if left != 0 {
			t.Errorf("%d infohashes still stored after expiry", left)
		}
	})
}

func TestBucketRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		b, stopB := startMem(t, n, Config{})
		defer stopB()
		a, stopA := startMem(t, n, Config{Bootstrap: []netip.AddrPort{b.Addr().(*net.UDPAddr).AddrPort()}})
		defer stopA()
		if err := a.Bootstrap(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		before := b.Stats().Queries
		time.Sleep(13 * time.Minute) // t = 14m: nothing idle yet
		synctest.Wait()
		if got := b.Stats().Queries; got != before {
			t.Errorf("%d queries before 15 idle minutes", got-before)
		}
		time.Sleep(2 * time.Minute) // t = 16m: a's buckets are refreshed
		synctest.Wait()
		if got := b.Stats().Queries; got == before {
			t.Error("no refresh lookup after 15 idle minutes")
		}
	})
}

func TestKeepAnnouncedOutlivesPeerTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		var nodes []*Server
		boot, stop := startMem(t, n, Config{})
		defer stop()
		nodes = append(nodes, boot)
		for range 11 {
			s, stop := startMem(t, n, Config{Bootstrap: []netip.AddrPort{boot.Addr().(*net.UDPAddr).AddrPort()}})
			defer stop()
			if err := s.Bootstrap(context.Background()); err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, s)
		}
		ih := nodeid.Random()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- nodes[1].KeepAnnounced(ctx, ih, 6000, false) }()

		found := func() bool {
			peers, _, err := nodes[7].GetPeers(context.Background(), ih)
			return err == nil && len(peers) == 1 && peers[0].Port() == 6000
		}
		for _, at := range []time.Duration{time.Minute, 44 * time.Minute, 31 * time.Minute} {
			time.Sleep(at)
			if !found() {
				t.Fatalf("peer not found while re-announced (after %v more)", at)
			}
		}
		cancel()
		<-done
		time.Sleep(31 * time.Minute)
		if found() {
			t.Error("peer still found 31 minutes after re-announcing stopped")
		}
	})
}

func TestKeepPutOutlivesItemTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		cfg := Config{ItemTTL: 30 * time.Minute}
		boot, stop := startMem(t, n, cfg)
		defer stop()
		var nodes []*Server
		for range 10 {
			c := cfg
			c.Bootstrap = []netip.AddrPort{boot.Addr().(*net.UDPAddr).AddrPort()}
			s, stop := startMem(t, n, c)
			defer stop()
			if err := s.Bootstrap(context.Background()); err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, s)
		}
		item, err := StringItem([]byte("head"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- nodes[0].KeepPut(ctx, item) }()
		found := func() bool {
			got, _, err := nodes[9].Get(context.Background(), item.Target(), GetOptions{})
			return err == nil && string(got.V) == "4:head"
		}
		for _, at := range []time.Duration{time.Minute, 44 * time.Minute, 31 * time.Minute} {
			time.Sleep(at)
			if !found() {
				t.Fatalf("item not found while re-put (after %v more)", at)
			}
		}
		cancel()
		<-done
		time.Sleep(31 * time.Minute)
		if found() {
			t.Error("item still found 31 minutes after re-putting stopped")
		}
	})
}
