package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/memstore"
)

// TestKnownBlocks: a block added is known; when the newer generation is
// full it becomes the older, so the set never holds more than two of
// them and the latest knownMax blocks are always known.
func TestKnownBlocks(t *testing.T) {
	var k knownBlocks
	defer func() { k.idle.Stop() }()
	if k.has([]byte("a")) {
		t.Fatal("an empty set knows a block")
	}
	k.add([]byte("a"))
	if !k.has([]byte("a")) || k.has([]byte("b")) {
		t.Fatal("the set does not hold exactly what was added")
	}
	for i := range 2*knownMax + 10 {
		k.add(fmt.Appendf(nil, "block %d", i))
		if n := len(k.cur) + len(k.old); n > 2*knownMax {
			t.Fatalf("%d blocks held, at most %d allowed", n, 2*knownMax)
		}
	}
	if k.has([]byte("a")) {
		t.Error("a block two generations old is still known")
	}
	for _, i := range []int{knownMax + 10, 2*knownMax + 9} {
		if !k.has(fmt.Appendf(nil, "block %d", i)) {
			t.Errorf("block %d, among the latest %d added, is not known", i, knownMax)
		}
	}
}

// TestKnownBlocksExpire: an expiry finding a recent addition keeps the
// set; one finding none for knownIdle drops it, and the set works again.
func TestKnownBlocksExpire(t *testing.T) {
	var k knownBlocks
	k.add([]byte("a"))
	k.idle.Stop()
	k.expire() // the latest addition is recent: re-armed
	if !k.has([]byte("a")) {
		t.Fatal("a recent block expired")
	}
	k.idle.Stop()
	k.last = time.Now().Add(-knownIdle - time.Second)
	k.expire()
	if k.has([]byte("a")) || k.cur != nil || k.old != nil || k.idle != nil {
		t.Fatal("an idle set was kept")
	}
	k.add([]byte("b"))
	defer func() { k.idle.Stop() }()
	if !k.has([]byte("b")) {
		t.Fatal("the set does not work after it expired")
	}
}

// TestKnownBlocksLinks: the links of a stored node are known after
// addLinks, the node's own CID is not; a node the store lacks, or a raw
// leaf, adds nothing.
func TestKnownBlocksLinks(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	b := st.NewBatch(ctx)
	var kids []unixfs.Link
	for i := range 3 {
		data := fmt.Appendf(nil, "leaf %d", i)
		c := unixfs.RawCIDOf(data)
		if err := b.Put(c, data); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, unixfs.Link{Cid: c, Tsize: uint64(len(data))})
	}
	node := unixfs.EncodePBNode(kids, nil)
	nc := unixfs.NodeCID(node)
	if err := b.Put(nc, node); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    cid.Cid
		want int
	}{
		{"node", nc, len(kids)},
		{"missing node", unixfs.NodeCID(unixfs.EncodePBNode(kids[:1], nil)), 0},
		{"raw leaf", kids[0].Cid, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k knownBlocks
			k.addLinks(ctx, st, tc.c)
			if k.idle != nil {
				defer k.idle.Stop()
			}
			n := 0
			for _, l := range kids {
				if k.has(l.Cid.Hash()) {
					n++
				}
			}
			if n != tc.want || k.has(nc.Hash()) {
				t.Errorf("%d of %d links known (node known: %v), want %d", n, len(kids), k.has(nc.Hash()), tc.want)
			}
		})
	}
}
