package swarm

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/swarm/strategy"
	"github.com/shoal-sync/shoal/sync/wire"
)

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func memStores(n int) []store.Store {
	out := make([]store.Store, n)
	for i := range out {
		out[i] = memstore.New(memstore.Options{})
	}
	return out
}

func serveAll(int) Options { return Options{ServeAll: true} }

// readFile reads the file under root back from st.
func readFile(t *testing.T, ctx context.Context, st store.Store, root cid.Cid) []byte {
	t.Helper()
	r, err := unixfs.NewFileReader(ctx, st, root)
	if err != nil {
		t.Fatalf("open %s: %v", root, err)
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatalf("read %s: %v", root, err)
	}
	return buf.Bytes()
}

// checkStore verifies every block st holds against its CID.
func checkStore(t *testing.T, ctx context.Context, st store.Store) {
	t.Helper()
	n := 0
	err := st.AllKeys(ctx, func(mh []byte) error {
		c := cid.NewCidV1(cid.Raw, mh)
		data, err := st.Get(ctx, c)
		if err != nil {
			return err
		}
		n++
		return store.VerifyBlock(c, data)
	})
	if err != nil {
		t.Fatalf("store holds a bad block: %v", err)
	}
	if n == 0 {
		t.Fatal("store is empty")
	}
}

func newTestCluster(t *testing.T, stores []store.Store, opts func(int) Options) *cluster {
	t.Helper()
	c, err := newCluster(t.Context(), stores, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

// TestFetchOneSeed fetches a multi-MiB file from one seed into badger and
// memory stores and compares the bytes.
func TestFetchOneSeed(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	bs, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	stores := []store.Store{memstore.New(memstore.Options{}), bs}
	c := newTestCluster(t, stores, serveAll)
	data := randBytes(1, 12<<20+12345)
	root, _, err := putFile(ctx, stores[0], data, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fetchDAG(ctx, c.nodes[1].swarm, root, StoreSink{Store: bs}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, ctx, bs, root); !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes differ from the %d added", len(got), len(data))
	}
	checkStore(t, ctx, bs)
	st := c.nodes[1].swarm.Stats()
	if st.BytesIn < int64(len(data)) || st.BadBlocks != 0 {
		t.Errorf("stats %+v: want at least %d bytes in, no bad blocks", st, len(data))
	}
	// A second fetch finds everything local and passes every block on.
	var mu sync.Mutex
	got := 0
	err = fetchDAG(ctx, c.nodes[1].swarm, root, SinkFunc(func(_ context.Context, c cid.Cid, b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		got += len(b)
		return store.VerifyBlock(c, b)
	}))
	if err != nil || got < len(data) {
		t.Errorf("local refetch: %d bytes, %v", got, err)
	}
}

// TestFetchDisjointSeeds fetches a file whose leaves are spread over four
// seeds, none holding it whole.
func TestFetchDisjointSeeds(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const seeds = 4
	stores := memStores(seeds + 1)
	origin := memstore.New(memstore.Options{})
	data := randBytes(2, 8<<20)
	root, leaves, err := putFile(ctx, origin, data, 128<<10)
	if err != nil {
		t.Fatal(err)
	}
	all, err := dagBlocks(ctx, origin, root)
	if err != nil {
		t.Fatal(err)
	}
	// Seed i holds the internal nodes and the leaves j with j%seeds == i,
	// plus every eighth leaf (j%8 == 1): most leaves are on one seed only.
	for i := range seeds {
		var mine []cid.Cid
		for _, c := range all {
			if c.Type() == unixfs.CodecDagPB {
				mine = append(mine, c)
			}
		}
		for j, l := range leaves {
			if j%seeds == i || j%8 == 1 {
				mine = append(mine, l)
			}
		}
		if err := copyBlocks(ctx, origin, stores[i], mine); err != nil {
			t.Fatal(err)
		}
	}
	c := newTestCluster(t, stores, serveAll)
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	leech := c.nodes[seeds]
	if err := fetchDAG(ctx, leech.swarm, root, StoreSink{Store: leech.store}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, ctx, leech.store, root); !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ")
	}
	for _, p := range leech.swarm.Peers() {
		if p.BytesIn == 0 {
			t.Errorf("seed %s sent nothing", p.ID.Short())
		}
	}
}

// lyingStore serves wrong bytes for every block, or with leavesOnly for
// every raw leaf.
type lyingStore struct {
	store.Store
	leavesOnly bool
}

func (l lyingStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	b, err := l.Store.Get(ctx, c)
	if err == nil && len(b) > 0 && (!l.leavesOnly || c.Type() == cid.Raw) {
		b[len(b)/2] ^= 0xff
	}
	return b, err
}

// TestCorruptPeer: a peer that sends wrong bytes is struck out, nothing
// wrong is stored, and the file still arrives whole from an honest seed.
func TestCorruptPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	honest := memstore.New(memstore.Options{})
	stores := []store.Store{honest, lyingStore{Store: memstore.New(memstore.Options{})}, memstore.New(memstore.Options{})}
	data := randBytes(3, 6<<20)
	root, _, err := putFile(ctx, honest, data, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := dagBlocks(ctx, honest, root)
	if err := copyBlocks(ctx, honest, stores[1].(lyingStore).Store, all); err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, stores, func(i int) Options {
		o := Options{ServeAll: true}
		if i == 0 {
			o.MaxUploadRate = 4 << 20 // the honest seed is slow: the liar gets asked
		}
		return o
	})
	// The leecher first meets only the liar, then the honest seed.
	if err := c.connect(ctx, 2, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.connect(ctx, 2, 0); err != nil {
		t.Fatal(err)
	}
	leech := c.nodes[2]
	if err := fetchDAG(ctx, leech.swarm, root, StoreSink{Store: leech.store}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, ctx, leech.store, root); !bytes.Equal(got, data) {
		t.Fatal("fetched bytes differ")
	}
	checkStore(t, ctx, leech.store)
	st := leech.swarm.Stats()
	if st.BadBlocks < 3 {
		t.Errorf("%d bad blocks seen, want at least 3 (the liar struck out)", st.BadBlocks)
	}
	for _, p := range leech.swarm.Peers() {
		if p.ID == c.nodes[1].id.ID() {
			t.Errorf("liar still connected: %+v", p)
		}
	}
	// The liar is banned: refused whichever side dials, and told why.
	if _, ok := leech.swarm.BannedUntil(c.nodes[1].id.ID()); !ok {
		t.Fatal("liar not banned")
	}
	if err := c.connect(ctx, 2, 1); !errors.Is(err, ErrBanned) {
		t.Errorf("leech dialing the liar: %v, want ErrBanned", err)
	}
	err = c.connect(ctx, 1, 2)
	var refused wire.Error
	if !errors.As(err, &refused) || refused.Code != wire.CodeRefused {
		t.Errorf("liar dialing the leech: %v, want a refusal", err)
	}
}

// TestBanEnds: a ban lasts BanDuration; after it the peer may connect again.
func TestBanEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	honest := memstore.New(memstore.Options{})
	liar := lyingStore{Store: memstore.New(memstore.Options{}), leavesOnly: true}
	data := randBytes(5, 2<<20)
	root, _, err := putFile(ctx, honest, data, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	all, err := dagBlocks(ctx, honest, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := copyBlocks(ctx, honest, liar.Store, all); err != nil {
		t.Fatal(err)
	}
	const ban = 500 * time.Millisecond
	c := newTestCluster(t, []store.Store{liar, memstore.New(memstore.Options{})}, func(int) Options {
		return Options{ServeAll: true, BanDuration: ban}
	})
	if err := c.connect(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(ctx)
	fetched := make(chan error, 1)
	go func() { fetched <- fetchDAG(fctx, c.nodes[1].swarm, root, StoreSink{Store: c.nodes[1].store}) }()
	// Wait (with the test's deadline) until the liar struck out and is banned.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var until time.Time
	for banned := false; !banned; {
		select {
		case <-ctx.Done():
			t.Fatal("liar never banned")
		case <-tick.C:
			until, banned = c.nodes[1].swarm.BannedUntil(c.nodes[0].id.ID())
		}
	}
	if d := time.Until(until); d > ban {
		t.Fatalf("banned for %v, more than BanDuration %v", d, ban)
	}
	if err := c.connect(ctx, 1, 0); !errors.Is(err, ErrBanned) {
		t.Fatalf("during the ban: %v, want ErrBanned", err)
	}
	for time.Now().Before(until) {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
	}
	if err := c.connect(ctx, 1, 0); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
	fcancel()
	<-fetched
}

// TestChoking: a seed with one regular slot unchokes at most two peers
// (one regular, one optimistic) at any time; the leechers complete by
// trading among themselves.
func TestChoking(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	const leechers = 4
	stores := memStores(leechers + 1)
	data := randBytes(4, 8<<20)
	root, _, err := putFile(ctx, stores[0], data, 128<<10)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, stores, func(i int) Options {
		o := Options{ServeAll: true, MaxUploadRate: 8 << 20}
		if i == 0 {
			o.Choker = strategy.ChokerConfig{Slots: 1}
		}
		return o
	})
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, leechers)
	for i := 1; i <= leechers; i++ {
		n := c.nodes[i]
		go func() { errc <- fetchDAG(ctx, n.swarm, root, StoreSink{Store: n.store}) }()
	}
	seed := c.nodes[0].swarm
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	maxUnchoked, sawChokedInterested := 0, false
	for done := 0; done < leechers; {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			done++
		case <-tick.C:
			unchoked, interested := 0, 0
			for _, p := range seed.Peers() {
				if !p.AmChoking {
					unchoked++
				}
				if p.PeerInterested {
					interested++
				}
			}
			maxUnchoked = max(maxUnchoked, unchoked)
			if interested > unchoked {
				sawChokedInterested = true
			}
		}
	}
	if maxUnchoked > 2 {
		t.Errorf("seed unchoked %d peers at once, want at most 2", maxUnchoked)
	}
	if !sawChokedInterested {
		t.Error("never saw an interested leecher choked by the seed")
	}
	for i := 1; i <= leechers; i++ {
		if got := readFile(t, ctx, c.nodes[i].store, root); !bytes.Equal(got, data) {
			t.Fatalf("leecher %d: bytes differ", i)
		}
	}
	if up := seed.Stats().BytesOut; up >= int64(leechers*len(data)) {
		t.Errorf("seed uploaded %d bytes: leechers did not trade", up)
	}
}

// TestRateLimit: a capped seed uploads at about its cap, and a capped
// leecher downloads at about its cap.
func TestRateLimit(t *testing.T) {
	const rate = 4 << 20
	tests := []struct {
		name string
		opts func(int) Options
	}{
		{"upload", func(i int) Options {
			if i == 0 {
				return Options{ServeAll: true, MaxUploadRate: rate}
			}
			return Options{ServeAll: true}
		}},
		{"download", func(i int) Options {
			if i == 1 {
				return Options{ServeAll: true, MaxDownloadRate: rate}
			}
			return Options{ServeAll: true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			stores := memStores(2)
			data := randBytes(5, 8<<20)
			root, _, err := putFile(ctx, stores[0], data, 256<<10)
			if err != nil {
				t.Fatal(err)
			}
			c := newTestCluster(t, stores, tt.opts)
			if err := c.connectAll(ctx); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := fetchDAG(ctx, c.nodes[1].swarm, root, StoreSink{Store: stores[1]}); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			got := float64(c.nodes[1].swarm.Stats().BytesIn) / elapsed.Seconds()
			// The bucket's burst (256 KiB) lets the first bytes through at once.
			if got > 1.25*rate || elapsed < 1500*time.Millisecond {
				t.Errorf("%d bytes in %v: %.1f MiB/s, want about %d MiB/s", len(data), elapsed, got/(1<<20), rate>>20)
			}
			t.Logf("%.2f MiB/s with a %d MiB/s cap", got/(1<<20), rate>>20)
		})
	}
}

// TestFetchBothWays: two peers each fetch the other's file at full speed
// at once, so blocks flow both ways on one connection; both files arrive
// whole.
func TestFetchBothWays(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	stores := memStores(2)
	var roots [2]cid.Cid
	var files [2][]byte
	for i := range 2 {
		files[i] = randBytes(uint64(20+i), 24<<20)
		r, _, err := putFile(ctx, stores[i], files[i], 256<<10)
		if err != nil {
			t.Fatal(err)
		}
		roots[i] = r
	}
	c := newTestCluster(t, stores, serveAll)
	if err := c.connect(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	for i := range 2 {
		n, want := c.nodes[i], roots[1-i]
		go func() { errc <- fetchDAG(ctx, n.swarm, want, StoreSink{Store: n.store}) }()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if got := readFile(t, ctx, stores[i], roots[1-i]); !bytes.Equal(got, files[1-i]) {
			t.Fatalf("node %d: fetched file differs", i)
		}
	}
}
