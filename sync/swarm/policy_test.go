package swarm

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/wire"
)

// TestFreshPinServedAtOnce: content pinned just after the seed answered
// for other content is served at once, with no stale window.
func TestFreshPinServedAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stores := memStores(2)
	c := newTestCluster(t, stores, func(int) Options { return Options{} }) // PinPolicy
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	seed, leech := stores[0], c.nodes[1]
	for i := range 2 {
		data := randBytes(uint64(20+i), 1<<20)
		root, _, err := putFile(ctx, seed, data, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		if err := seed.Pin(ctx, root, store.PinRecursive); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		fctx, fcancel := context.WithTimeout(ctx, 8*time.Second)
		err = fetchDAG(fctx, leech.swarm, root, StoreSink{Store: leech.store})
		fcancel()
		if err != nil {
			t.Fatalf("fetch of content %d pinned just now: %v", i, err)
		}
		t.Logf("content %d fetched %v after it was pinned", i, time.Since(start).Round(time.Millisecond))
	}
}

// TestHaveAfterPin: a peer that was told don't-have for a block is sent
// have the moment the block is pinned.
func TestHaveAfterPin(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st := memStores(1)[0]
	sw, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	root, _, err := putFile(ctx, st, randBytes(30, 200<<10), 64<<10) // held, not pinned
	if err != nil {
		t.Fatal(err)
	}
	theirs, r := rawPeer(t, ctx, sw)
	theirs.SetDeadline(time.Now().Add(20 * time.Second))
	if err := wire.WriteMessage(theirs, wire.WantHave{Wants: wants([]cid.Cid{root})}, 0); err != nil {
		t.Fatal(err)
	}
	if m := readUntil(t, r, wire.TypeDontHave, wire.TypeHave); m.Type() != wire.TypeDontHave {
		t.Fatalf("before the pin: %s, want DontHave", m.Type())
	}
	pinned := time.Now()
	if err := st.Pin(ctx, root, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	m := readUntil(t, r, wire.TypeHave, wire.TypeDontHave)
	h, ok := m.(wire.Have)
	if !ok || len(h.CIDs) != 1 || !cidEq(h.CIDs[0], root) {
		t.Fatalf("after the pin: %#v, want Have of %s", m, root)
	}
	t.Logf("have sent %v after the pin", time.Since(pinned).Round(time.Microsecond))
}

func cidEq(b []byte, c cid.Cid) bool {
	got, err := cid.Cast(b)
	return err == nil && got.Equals(c)
}

// readUntil reads frames until one of the given types and decodes it.
func readUntil(t *testing.T, r interface {
	Read([]byte) (int, error)
	ReadByte() (byte, error)
}, types ...wire.MsgType) wire.Message {
	t.Helper()
	for {
		f, err := wire.ReadFrame(r)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		for _, ty := range types {
			if f.Type == ty {
				m, err := wire.Decode(f)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
	}
}

// switchPolicy serves nothing until on is set, and says nothing when it
// is: only asking again finds out.
type switchPolicy struct {
	on      atomic.Bool
	refused atomic.Int32
	asked   chan struct{} // closed at the second refusal
}

func (p *switchPolicy) MayServe(context.Context, identity.NodeID, cid.Cid) bool {
	if p.on.Load() {
		return true
	}
	// The first refusal answers the want-have, the second the check
	// before a have is sent; after both, only a new question finds out.
	if p.refused.Add(1) == 2 {
		close(p.asked)
	}
	return false
}

// TestReaskAfterDontHave: a fetch asks peers that said don't-have again,
// so it completes when a peer gains the content without telling.
func TestReaskAfterDontHave(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stores := memStores(2)
	pol := &switchPolicy{asked: make(chan struct{})}
	c := newTestCluster(t, stores, func(i int) Options {
		if i == 0 {
			return Options{Policy: pol}
		}
		return Options{}
	})
	data := randBytes(31, 1<<20)
	root, _, err := putFile(ctx, stores[0], data, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	leech := c.nodes[1]
	done := make(chan error, 1)
	go func() { done <- fetchDAG(ctx, leech.swarm, root, StoreSink{Store: leech.store}) }()
	select {
	case <-pol.asked:
	case err := <-done:
		t.Fatalf("fetch ended before the seed refused: %v", err)
	}
	on := time.Now()
	pol.on.Store(true)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("fetch never asked the seed again")
	}
	t.Logf("fetched %v after the seed could serve", time.Since(on).Round(time.Millisecond))
	if got := readFile(t, ctx, leech.store, root); string(got) != string(data) {
		t.Fatal("bytes differ")
	}
}

// TestUnpinStopsServing: after an unpin the content is refused at once,
// to every peer.
func TestUnpinStopsServing(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stores := memStores(3)
	c := newTestCluster(t, stores, func(int) Options { return Options{} })
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	seed := stores[0]
	root, _, err := putFile(ctx, seed, randBytes(32, 1<<20), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.Pin(ctx, root, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	if err := fetchDAG(ctx, c.nodes[1].swarm, root, StoreSink{Store: c.nodes[1].store}); err != nil {
		t.Fatal(err)
	}
	if err := seed.Unpin(ctx, root); err != nil {
		t.Fatal(err)
	}
	if c.nodes[0].swarm.policy.MayServe(ctx, identity.NodeID{}, root) {
		t.Fatal("policy still serves the root right after the unpin")
	}
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	err = fetchDAG(short, c.nodes[2].swarm, root, StoreSink{Store: c.nodes[2].store})
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch after the unpin: %v, want deadline exceeded", err)
	}
	if ok, _ := c.nodes[2].store.Has(ctx, root); ok {
		t.Fatal("unpinned root was served")
	}
}

// gatePolicy refuses the gated blocks until on, and says nothing when it
// turns on; it serves every other block. all is closed once every gated
// block was refused twice (as with switchPolicy: the want-have, and the
// check before a have), when only a new question finds out.
type gatePolicy struct {
	on      atomic.Bool
	gated   map[cid.Cid]bool
	mu      sync.Mutex
	refused map[cid.Cid]int
	twice   int
	all     chan struct{}
}

func (p *gatePolicy) MayServe(_ context.Context, _ identity.NodeID, c cid.Cid) bool {
	if p.on.Load() || !p.gated[c] {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refused[c]++; p.refused[c] == 2 {
		if p.twice++; p.twice == len(p.gated) {
			close(p.all)
		}
	}
	return false
}

// TestReaskWhileWanting: blocks a peer refused are asked about again
// while other wants keep coming. A pull of many files wants new blocks
// every few milliseconds; each once put off the next asking-again by a
// second, so a refused block waited for the wants to stop (10 s, and a
// file failed as stalled, in a 100,000-file sync).
func TestReaskWhileWanting(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	stores := memStores(2)
	_, gated, err := putFile(ctx, stores[0], randBytes(41, 256<<10), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	_, busy, err := putFile(ctx, stores[0], randBytes(42, 400<<10), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	pol := &gatePolicy{gated: map[cid.Cid]bool{}, refused: map[cid.Cid]int{}, all: make(chan struct{})}
	for _, c := range gated {
		pol.gated[c] = true
	}
	c := newTestCluster(t, stores, func(i int) Options {
		if i == 0 {
			return Options{Policy: pol}
		}
		return Options{}
	})
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	leech := c.nodes[1]
	keep := func(c cid.Cid, b []byte) error {
		bt := leech.store.NewBatch(ctx)
		defer bt.Discard()
		if err := bt.Put(c, b); err != nil {
			return err
		}
		return bt.Commit()
	}
	done := make(chan error, 1)
	go func() { done <- leech.swarm.FetchBlocks(ctx, gated, nil, keep, FetchOptions{}) }()
	select {
	case <-pol.all:
	case err := <-done:
		t.Fatalf("fetch ended before the seed refused: %v", err)
	}
	pol.on.Store(true)

	// New wants, one block each, every 50 ms until the gated blocks came.
	bctx, stopBusy := context.WithCancel(ctx)
	defer stopBusy()
	busyDone := make(chan int, 1)
	go func() {
		n := 0
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for _, b := range busy {
			select {
			case <-bctx.Done():
				busyDone <- n
				return
			case <-tick.C:
			}
			if err := leech.swarm.FetchBlocks(bctx, []cid.Cid{b}, nil, keep, FetchOptions{}); err != nil {
				break
			}
			n++
		}
		busyDone <- n
	}()
	on := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case n := <-busyDone:
		t.Fatalf("the refused blocks did not come while %d new wants were made over %v", n, time.Since(on).Round(time.Millisecond))
	}
	stopBusy()
	t.Logf("refused blocks fetched %v after the seed could serve, %d other wants meanwhile", time.Since(on).Round(time.Millisecond), <-busyDone)
	for _, c := range gated {
		b, err := leech.store.Get(ctx, c)
		if err != nil {
			t.Fatalf("gated block %s: %v", c, err)
		}
		if err := store.VerifyBlock(c, b); err != nil {
			t.Fatal(err)
		}
	}
}
