package swarm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/identity"
)

// seedSpec is one real peer of a FetchBlocks test: which leaves it holds.
type seedSpec struct {
	holds    func(i, n int) bool
	lies     bool  // it sends every block with a byte flipped
	excluded bool  // the fetch's Peers does not admit it
	rate     int64 // its upload cap, bytes/s (0: none)
}

func all(int, int) bool        { return true }
func even(i, _ int) bool       { return i%2 == 0 }
func odd(i, _ int) bool        { return i%2 == 1 }
func allButLast(i, n int) bool { return i < n-1 }
func onlyLast(i, n int) bool   { return i == n-1 }

// TestFetchBlocks fetches a plain list of blocks (no DAG) from real peers
// on loopback: every block it hands over is checked, each once; a peer the
// fetch does not admit is never asked for anything, even for a block only
// it has; a liar's bad block is struck and fetched from an honest peer.
func TestFetchBlocks(t *testing.T) {
	tests := []struct {
		name    string
		seeds   []seedSpec
		outside bool // a hand-driven outsider claims every block, not admitted
		missing int  // blocks that must never arrive (only excluded peers have them)
		bad     bool // bad blocks must have been seen (and the liar, seed 0, struck)
	}{
		{name: "two peers, half each", seeds: []seedSpec{{holds: even}, {holds: odd}}},
		{name: "only a non-admitted peer has the last", seeds: []seedSpec{{holds: allButLast}, {holds: onlyLast, excluded: true}}, outside: true, missing: 1},
		{name: "a liar struck, its blocks fetched elsewhere", seeds: []seedSpec{{holds: all, lies: true}, {holds: all, rate: 4 << 20}}, bad: true},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			origin := memstore.New(memstore.Options{})
			data := randBytes(uint64(90+ti), 3<<20+777)
			_, leaves, err := putFile(ctx, origin, data, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			stores := memStores(len(tt.seeds) + 1)
			for i, sp := range tt.seeds {
				var mine []cid.Cid
				for j, l := range leaves {
					if sp.holds(j, len(leaves)) {
						mine = append(mine, l)
					}
				}
				if err := copyBlocks(ctx, origin, stores[i], mine); err != nil {
					t.Fatal(err)
				}
				if sp.lies {
					stores[i] = lyingStore{Store: stores[i]}
				}
			}
			c := newTestCluster(t, stores, func(i int) Options {
				o := Options{ServeAll: true}
				if i < len(tt.seeds) {
					o.MaxUploadRate = tt.seeds[i].rate
				}
				return o
			})
			leech := c.nodes[len(tt.seeds)]
			admitted := map[identity.NodeID]bool{}
			for i, sp := range tt.seeds {
				if !sp.excluded {
					admitted[c.nodes[i].id.ID()] = true
				}
				// The leech meets the seeds in order: a liar first.
				if err := c.connect(ctx, len(tt.seeds), i); err != nil {
					t.Fatal(err)
				}
			}
			var out *outsider
			if tt.outside {
				out = newOutsider(t, ctx, leech.swarm)
				out.claim(t, leaves)
			}
			admit := func(id identity.NodeID) bool { return admitted[id] }

			var mu sync.Mutex
			got := map[cid.Cid]int{}
			arrived := make(chan struct{}, len(leaves))
			put := func(c cid.Cid, b []byte) error {
				if err := store.VerifyBlock(c, b); err != nil {
					t.Errorf("handed a bad block: %v", err)
				}
				mu.Lock()
				got[c]++
				mu.Unlock()
				arrived <- struct{}{}
				return nil
			}
			fctx, stop := context.WithCancel(ctx)
			defer stop()
			done := make(chan error, 1)
			go func() { done <- leech.swarm.FetchBlocks(fctx, leaves, nil, put, FetchOptions{Peers: admit}) }()
			if tt.missing == 0 {
				err = <-done
				if err != nil {
					t.Fatal(err)
				}
			} else {
				for range len(leaves) - tt.missing {
					select {
					case <-arrived:
					case err := <-done:
						t.Fatalf("the fetch ended though a block only a non-admitted peer has is missing: %v", err)
					case <-ctx.Done():
						t.Fatal("the blocks admitted peers have never all arrived")
					}
				}
				out.flush(t, ctx, leech.swarm)
				select {
				case err := <-done:
					t.Fatalf("the fetch ended though a block only a non-admitted peer has is missing: %v", err)
				default:
				}
				stop()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Fatalf("fetch waiting for a block: %v, want context.Canceled", err)
				}
			}
			mu.Lock()
			for j, l := range leaves {
				want := 1
				if j >= len(leaves)-tt.missing {
					want = 0
				}
				if got[l] != want {
					t.Errorf("leaf %d handed over %d times, want %d", j, got[l], want)
				}
			}
			mu.Unlock()
			for i, p := range leech.swarm.Peers() {
				switch {
				case !admitted[p.ID] && p.BytesIn > 0:
					t.Errorf("the non-admitted peer %s sent %d bytes", p.ID.Short(), p.BytesIn)
				case admitted[p.ID] && !tt.bad && p.BytesIn == 0:
					t.Errorf("peer %d (%s) sent nothing", i, p.ID.Short())
				}
			}
			if out != nil {
				for _, l := range leaves {
					if ty, ok := out.wasAsked(l); ok {
						t.Errorf("the outsider was sent %s for %s", ty, l)
					}
				}
			}
			if st := leech.swarm.Stats(); tt.bad != (st.BadBlocks > 0) {
				t.Errorf("%d bad blocks seen, want some: %v", st.BadBlocks, tt.bad)
			}
			if tt.bad {
				// The liar (seed 0) is struck: dropped and banned, or
				// still connected with strikes against it.
				liar := c.nodes[0].id.ID()
				_, banned := leech.swarm.BannedUntil(liar)
				for _, p := range leech.swarm.Peers() {
					if p.ID == liar && p.Strikes == 0 {
						t.Errorf("the liar is connected without a strike")
					}
				}
				if !banned && len(leech.swarm.Peers()) == len(tt.seeds) && leech.swarm.Stats().BadBlocks == 0 {
					t.Error("the liar was neither struck nor dropped")
				}
			}
		})
	}
}
