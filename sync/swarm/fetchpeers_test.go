package swarm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// outsider is a hand-driven peer on a swarm that records every block it
// is asked about (want-have or want-block), by multihash.
type outsider struct {
	conn     *transport.Conn
	mu       sync.Mutex
	asked    map[string]wire.MsgType
	canceled map[string]bool
	wake     chan struct{}
}

func newOutsider(t *testing.T, ctx context.Context, sw *Swarm) *outsider {
	t.Helper()
	conn, r := rawPeer(t, ctx, sw)
	o := &outsider{conn: conn, asked: map[string]wire.MsgType{}, canceled: map[string]bool{}, wake: make(chan struct{}, 1)}
	go func() {
		for {
			f, err := wire.ReadFrame(r)
			if err != nil {
				return
			}
			if f.Type != wire.TypeWantHave && f.Type != wire.TypeWantBlock && f.Type != wire.TypeCancel {
				continue
			}
			m, err := wire.Decode(f)
			if err != nil {
				continue
			}
			if m, ok := m.(wire.Cancel); ok {
				o.mu.Lock()
				for _, b := range m.CIDs {
					if c, err := cid.Cast(b); err == nil {
						o.canceled[string(c.Hash())] = true
					}
				}
				o.mu.Unlock()
				continue
			}
			var wants []wire.Want
			switch m := m.(type) {
			case wire.WantHave:
				wants = m.Wants
			case wire.WantBlock:
				wants = m.Wants
			}
			o.mu.Lock()
			for _, w := range wants {
				if c, err := cid.Cast(w.CID); err == nil {
					o.asked[string(c.Hash())] = f.Type
				}
			}
			o.mu.Unlock()
			select {
			case o.wake <- struct{}{}:
			default:
			}
		}
	}()
	return o
}

// claim tells the swarm the outsider has cs and unchokes it: a lie that
// would draw requests to it if its haves counted.
func (o *outsider) claim(t *testing.T, cs []cid.Cid) {
	t.Helper()
	var raw [][]byte
	for _, c := range cs {
		raw = append(raw, c.Bytes())
	}
	for _, m := range []wire.Message{wire.Unchoke{}, wire.Have{CIDs: raw}} {
		if err := wire.WriteMessage(o.conn, m, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func (o *outsider) wasAsked(c cid.Cid) (wire.MsgType, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ty, ok := o.asked[string(c.Hash())]
	return ty, ok
}

// flush returns once the outsider has read everything sw sent it before
// the call: sw asks every peer about a block no one has, and the
// outsider's connection delivers in order.
func (o *outsider) flush(t *testing.T, ctx context.Context, sw *Swarm) {
	t.Helper()
	sentinel := unixfs.RawCID(sha256.Sum256(randBytes(uint64(time.Now().UnixNano()), 64)))
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go sw.Probe(pctx, []cid.Cid{sentinel})
	for {
		if _, ok := o.wasAsked(sentinel); ok {
			return
		}
		select {
		case <-o.wake:
		case <-ctx.Done():
			t.Fatal("the outsider never saw the probe")
		}
	}
}

// waitWants waits until sw's picker wants c.
func waitWants(t *testing.T, ctx context.Context, sw *Swarm, c cid.Cid) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		got := make(chan bool, 1)
		if !sw.send(ctx, event{kind: evCall, call: func(o *owner) { got <- o.picker.Wants(c) }}) {
			t.Fatal("swarm closed")
		}
		if <-got {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the fetch never wanted %s", c)
		case <-tick.C:
		}
	}
}

// TestFetchFromPeers: a fetch restricted to some peers never asks another
// peer about any of its blocks, even one that claims to have them all;
// it completes from the admitted peers, and while none is there (or none
// admitted yet) it waits instead of failing.
func TestFetchFromPeers(t *testing.T) {
	tests := []struct {
		name     string
		admitted bool // the seed is admitted from the start, else once the fetch waits
		late     bool // the seed connects only once the fetch waits
	}{
		{name: "admitted seed", admitted: true},
		{name: "seed admitted mid-fetch"},
		{name: "admitted seed connects mid-fetch", admitted: true, late: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			stores := memStores(2)
			c := newTestCluster(t, stores, serveAll)
			seed, leech := c.nodes[0], c.nodes[1]
			data := randBytes(uint64(70+i), 1<<20+999)
			root, _, err := putFile(ctx, seed.store, data, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			var blocks []cid.Cid
			if err := seed.store.AllKeys(ctx, func(mh []byte) error {
				blocks = append(blocks, cid.NewCidV1(cid.Raw, mh))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, root) // the root as the DAG names it
			out := newOutsider(t, ctx, leech.swarm)
			out.claim(t, blocks)
			if !tt.late {
				if err := c.connectAll(ctx); err != nil {
					t.Fatal(err)
				}
			}
			var admit atomic.Bool
			admit.Store(tt.admitted)
			seedID := seed.id.ID()
			filter := func(id identity.NodeID) bool { return id == seedID && admit.Load() }

			done := make(chan error, 1)
			go func() {
				done <- fetchDAGFrom(ctx, leech.swarm, root, StoreSink{Store: leech.store}, FetchOptions{Peers: filter})
			}()
			if !tt.admitted || tt.late {
				waitWants(t, ctx, leech.swarm, root)
				out.flush(t, ctx, leech.swarm)
				select {
				case err := <-done:
					t.Fatalf("the fetch ended with no admitted peer: %v", err)
				default:
				}
				if ok, _ := leech.store.Has(ctx, root); ok {
					t.Fatal("the root arrived with no admitted peer")
				}
				admit.Store(true)
				if tt.late {
					if err := c.connectAll(ctx); err != nil {
						t.Fatal(err)
					}
				}
				leech.swarm.PeersChanged()
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, ctx, leech.store, root); !bytes.Equal(got, data) {
				t.Fatalf("fetched %d bytes differ from the %d added", len(got), len(data))
			}
			out.flush(t, ctx, leech.swarm)
			for _, b := range blocks {
				if ty, ok := out.wasAsked(b); ok {
					t.Errorf("the outsider was sent %s for %s", ty, b)
				}
			}
		})
	}
}

// TestFetchFromPublicUnchanged: a fetch without a filter asks every peer,
// as before, and a restricted fetch of the same block beside it does not
// stop that.
func TestFetchFromPublicUnchanged(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stores := memStores(2)
	c := newTestCluster(t, stores, serveAll)
	leech := c.nodes[1]
	out := newOutsider(t, ctx, leech.swarm)
	root, _, err := putFile(ctx, memStores(1)[0], randBytes(90, 10<<10), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	sink := StoreSink{Store: leech.store}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	none := func(identity.NodeID) bool { return false }
	restricted := make(chan error, 1)
	go func() { restricted <- fetchDAGFrom(fctx, leech.swarm, root, sink, FetchOptions{Peers: none}) }()
	waitWants(t, ctx, leech.swarm, root)
	out.flush(t, ctx, leech.swarm)
	if _, ok := out.wasAsked(root); ok {
		t.Fatal("the restricted fetch asked the outsider")
	}
	public := make(chan error, 1)
	go func() { public <- fetchDAG(fctx, leech.swarm, root, sink) }()
	for {
		if ty, ok := out.wasAsked(root); ok {
			if ty != wire.TypeWantHave {
				t.Errorf("asked with %s, want WantHave", ty)
			}
			break
		}
		select {
		case <-out.wake:
		case <-ctx.Done():
			t.Fatal("the public fetch never asked the outsider")
		}
	}
	stop()
	<-restricted
	<-public
}

// TestProbeFromPeers: a restricted probe asks only the admitted peers.
func TestProbeFromPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stores := memStores(2)
	c := newTestCluster(t, stores, serveAll)
	seed, leech := c.nodes[0], c.nodes[1]
	root, _, err := putFile(ctx, seed.store, randBytes(91, 10<<10), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	out := newOutsider(t, ctx, leech.swarm)
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	seedID := seed.id.ID()
	got, err := leech.swarm.ProbeFrom(ctx, []cid.Cid{root}, func(id identity.NodeID) bool { return id == seedID })
	if err != nil {
		t.Fatal(err)
	}
	if ps := got[root]; len(ps) != 1 || ps[0] != seedID {
		t.Errorf("held by %v, want the seed", ps)
	}
	out.flush(t, ctx, leech.swarm)
	if _, ok := out.wasAsked(root); ok {
		t.Error("the restricted probe asked the outsider")
	}
}

// waitAsked waits until the outsider was sent ty for c.
func (o *outsider) waitAsked(t *testing.T, ctx context.Context, c cid.Cid, ty wire.MsgType) {
	t.Helper()
	for {
		if got, ok := o.wasAsked(c); ok && got == ty {
			return
		}
		select {
		case <-o.wake:
		case <-ctx.Done():
			t.Fatalf("the outsider was never sent %s for %s", ty, c)
		}
	}
}

// TestFetchFromPeerDropped: a peer the filter stops admitting mid-fetch
// has its request withdrawn (cancel) and is asked about nothing more; the
// fetch completes from the peer admitted instead.
func TestFetchFromPeerDropped(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stores := memStores(2)
	c := newTestCluster(t, stores, serveAll)
	seed, leech := c.nodes[0], c.nodes[1]
	data := randBytes(92, 1<<20)
	root, _, err := putFile(ctx, seed.store, data, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	out := newOutsider(t, ctx, leech.swarm)
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	seedID := seed.id.ID()
	var seedIn atomic.Bool // else only the outsider is admitted
	filter := func(id identity.NodeID) bool { return (id == seedID) == seedIn.Load() }
	done := make(chan error, 1)
	go func() {
		done <- fetchDAGFrom(ctx, leech.swarm, root, StoreSink{Store: leech.store}, FetchOptions{Peers: filter})
	}()
	out.waitAsked(t, ctx, root, wire.TypeWantHave)
	out.claim(t, []cid.Cid{root}) // it never sends it
	out.waitAsked(t, ctx, root, wire.TypeWantBlock)
	seedIn.Store(true)
	leech.swarm.PeersChanged()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, ctx, leech.store, root); !bytes.Equal(got, data) {
		t.Fatal("bytes differ")
	}
	out.flush(t, ctx, leech.swarm)
	out.mu.Lock()
	defer out.mu.Unlock()
	if !out.canceled[string(root.Hash())] {
		t.Error("the request to the dropped peer was not cancelled")
	}
	if len(out.asked) != 2 { // the root and flush's sentinel
		t.Errorf("the dropped peer was asked about %d CIDs, want the root alone", len(out.asked)-1)
	}
}
