package swarm

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
)

// TestProbe: a probe learns which connected peers hold (and would serve)
// each CID, without fetching anything.
func TestProbe(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stores := memStores(3)
	c := newTestCluster(t, stores, func(int) Options { return Options{} }) // PinPolicy
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	var roots []cid.Cid
	for i := range 2 {
		root, _, err := putFile(ctx, stores[i], randBytes(uint64(40+i), 100<<10), 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		if err := stores[i].Pin(ctx, root, store.PinRecursive); err != nil {
			t.Fatal(err)
		}
		roots = append(roots, root)
	}
	// A second CID node 0 holds.
	shared, _, err := putFile(ctx, stores[0], randBytes(50, 10<<10), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if err := stores[0].Pin(ctx, shared, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	nowhere, _, err := putFile(ctx, memStores(1)[0], randBytes(60, 1<<10), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.nodes[2].swarm.Probe(ctx, []cid.Cid{roots[0], roots[1], shared, nowhere, roots[0]})
	if err != nil {
		t.Fatal(err)
	}
	want := map[cid.Cid]string{roots[0]: c.nodes[0].id.ID().String(), roots[1]: c.nodes[1].id.ID().String(), shared: c.nodes[0].id.ID().String()}
	for root, who := range want {
		if ps := got[root]; len(ps) != 1 || ps[0].String() != who {
			t.Errorf("%s: held by %v, want %s", root, ps, who)
		}
	}
	if ps := got[nowhere]; len(ps) != 0 {
		t.Errorf("a CID no one has: held by %v", ps)
	}
	// Nothing was fetched.
	if ok, _ := stores[2].Has(ctx, roots[0]); ok {
		t.Error("the probe fetched a block")
	}
	// A probe of nothing, and one whose context has ended, return at once.
	if got, err := c.nodes[2].swarm.Probe(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("empty probe: %v, %v", got, err)
	}
	done, stop := context.WithCancel(ctx)
	stop()
	c.nodes[2].swarm.Probe(done, roots) // returns, with what it had or ctx's error
}
