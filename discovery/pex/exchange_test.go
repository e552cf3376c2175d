package pex

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/discovery/dialer"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/wire"
)

// fakeConn is a connected peer that keeps what it is sent.
type fakeConn struct {
	id   identity.NodeID
	addr string

	mu   sync.Mutex
	sent []wire.PeerExchange
}

func (c *fakeConn) ID() identity.NodeID   { return c.id }
func (c *fakeConn) Addr() string          { return c.addr }
func (c *fakeConn) Outbound() bool        { return true }
func (c *fakeConn) ListenAddrs() []string { return nil }
func (c *fakeConn) Send(m wire.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, m.(wire.PeerExchange))
	return nil
}

// told returns the peers c has been told of.
func (c *fakeConn) told() []identity.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []identity.NodeID
	for _, m := range c.sent {
		for _, p := range m.Added {
			id, _ := identity.NodeIDFromBytes(p.ID)
			out = append(out, id)
		}
	}
	return out
}

// fakeFolders says who proved the folder: the test decides.
type fakeFolders struct {
	mu     sync.Mutex
	folder []byte
	proved map[identity.NodeID]bool
}

func (f *fakeFolders) prove(id identity.NodeID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proved[id] = true
}

func (f *fakeFolders) SharedFolders(peer identity.NodeID) [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proved[peer] {
		return [][]byte{f.folder}
	}
	return nil
}

type nopDialer struct{}

func (nopDialer) Add(...dialer.Candidate)      {}
func (nopDialer) Remove(dialer.Source, string) {}

// TestFolderProofSendsAtOnce: when peers prove a folder (the folder
// engine's event, FoldersChanged), each is told the folder's other peers
// at once, in fake time that has not moved: not on a tick. A member that
// proves it later is told of at once to the newcomer and, to the others,
// when their interval is up, with nothing to wake Run in between but its
// timer.
func TestFolderProofSendsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		folders := &fakeFolders{folder: bytes.Repeat([]byte{7}, 32), proved: make(map[identity.NodeID]bool)}
		x := New(Options{Self: nid(t, 9), Dialer: nopDialer{}, Folders: folders})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go x.Run(ctx)
		var cs []*fakeConn
		for i := range 3 {
			c := &fakeConn{id: nid(t, byte(i+1)), addr: fmt.Sprintf("10.0.0.%d:4777", i+1)}
			cs = append(cs, c)
			x.connected(c)
		}
		synctest.Wait()
		for _, c := range cs {
			if len(c.told()) != 0 {
				t.Fatalf("%s told %v before it proved the folder", c.id.Short(), c.told())
			}
		}
		start := time.Now()
		folders.prove(cs[0].id)
		folders.prove(cs[1].id)
		x.FoldersChanged()
		synctest.Wait()
		if !slices.Equal(cs[0].told(), []identity.NodeID{cs[1].id}) || !slices.Equal(cs[1].told(), []identity.NodeID{cs[0].id}) {
			t.Fatalf("after the proofs (%v later): 1 told %v, 2 told %v; want each the other", time.Since(start), cs[0].told(), cs[1].told())
		}
		if len(cs[2].told()) != 0 {
			t.Fatalf("3, which proved nothing, told %v", cs[2].told())
		}
		// 3 proves it 10 s later: it hears of 1 and 2 at once; they of it
		// when their minute since the first delta is up.
		time.Sleep(10 * time.Second)
		folders.prove(cs[2].id)
		x.FoldersChanged()
		synctest.Wait()
		if got := cs[2].told(); len(got) != 2 {
			t.Fatalf("newcomer told %v, want both members at once", got)
		}
		if len(cs[0].told()) != 1 {
			t.Fatalf("1 told of the newcomer within its interval: %v", cs[0].told())
		}
		time.Sleep(50*time.Second - time.Millisecond)
		synctest.Wait()
		if len(cs[0].told()) != 1 {
			t.Fatalf("1 told of the newcomer before its interval was up: %v", cs[0].told())
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		for _, c := range cs[:2] {
			if got := c.told(); len(got) != 2 || got[1] != cs[2].id {
				t.Fatalf("%s told %v a minute after the first delta, want the newcomer too", c.id.Short(), got)
			}
		}
	})
}

// slowDialer blocks every Add until released, as a busy dialer would.
type slowDialer struct {
	release chan struct{}
	mu      sync.Mutex
	added   []dialer.Candidate
}

func (d *slowDialer) Add(c ...dialer.Candidate) {
	<-d.release
	d.mu.Lock()
	defer d.mu.Unlock()
	d.added = append(d.added, c...)
}
func (d *slowDialer) Remove(dialer.Source, string) {}

// TestReaderNeverWaitsOnDialer: a peer's exchange message is taken at
// once however busy the dialer is (the reader would otherwise hold that
// peer's next messages, its folder proof among them); Run hands the
// addresses on.
func TestReaderNeverWaitsOnDialer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		folders := &fakeFolders{folder: bytes.Repeat([]byte{7}, 32), proved: make(map[identity.NodeID]bool)}
		d := &slowDialer{release: make(chan struct{})}
		x := New(Options{Self: nid(t, 9), Dialer: d, Folders: folders})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go x.Run(ctx)
		c := &fakeConn{id: nid(t, 1), addr: "10.0.0.1:4777"}
		x.connected(c)
		folders.prove(c.id)
		m := wire.PeerExchange{Scope: folders.folder, Added: []wire.PexPeer{{ID: nid(t, 2).Bytes(), Addrs: []string{"10.0.0.2:4777"}}}}
		returned := make(chan struct{})
		go func() {
			x.handle(c, m)
			close(returned)
		}()
		synctest.Wait()
		select {
		case <-returned:
		default:
			t.Fatal("the message waited for the dialer")
		}
		close(d.release)
		synctest.Wait()
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.added) != 1 || d.added[0].Addr != "10.0.0.2:4777" {
			t.Fatalf("handed to the dialer: %+v", d.added)
		}
	})
}
