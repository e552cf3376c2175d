package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// Run runs the conformance suite. open returns a new, empty store for each
// subtest and arranges (with t.Cleanup) for it to be closed.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PutGet", testPutGet},
		{"NotFound", testNotFound},
		{"UnsupportedCid", testUnsupportedCid},
		{"Delete", testDelete},
		{"BatchInvisibleUntilCommit", testBatchInvisible},
		{"BatchDiscard", testBatchDiscard},
		{"BatchDone", testBatchDone},
		{"CopyAndRef", testCopyAndRef},
		{"Refs", testRefs},
		{"RefSizeWithoutFile", testRefSize},
		{"BadRef", testBadRef},
		{"Pins", testPins},
		{"BatchPin", testBatchPin},
		{"WatchPins", testWatchPins},
		{"AllKeys", testAllKeys},
		{"Stats", testStats},
		{"GCKeepsPinnedDAG", testGCKeepsPinnedDAG},
		{"GCDirectPin", testGCDirectPin},
		{"GCRemovesUnpinned", testGCRemovesUnpinned},
		{"GCExtraRoots", testGCExtraRoots},
		{"GCPartialDAG", testGCPartialDAG},
		{"GCUndecodableRoot", testGCUndecodableRoot},
		{"GCChangedRefNode", testGCChangedRefNode},
		{"GCConcurrentBatch", testGCConcurrentBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// block is a block and its CID.
type block struct {
	c    cid.Cid
	data []byte
}

// rawBlock returns a raw block of n pseudo-random bytes derived from seed.
func rawBlock(seed string, n int) block {
	data := make([]byte, 0, n+sha256.Size)
	h := sha256.Sum256([]byte(seed))
	for len(data) < n {
		data = append(data, h[:]...)
		h = sha256.Sum256(h[:])
	}
	data = data[:n]
	return block{unixfs.RawCIDOf(data), data}
}

// dag is a UnixFS DAG: its root and every block in it.
type dag struct {
	root   cid.Cid
	size   uint64
	blocks []block
}

// fileDAG builds a file of n small raw leaves; with more than 174 leaves
// it has two levels of dag-pb nodes.
func fileDAG(t *testing.T, seed string, n int) dag {
	t.Helper()
	var d dag
	fb := unixfs.NewFileBuilder(func(b unixfs.Block) error {
		d.blocks = append(d.blocks, block{b.Cid, b.Data})
		return nil
	})
	for i := range n {
		leaf := rawBlock(fmt.Sprintf("%s/%d", seed, i), 100+i%50)
		d.blocks = append(d.blocks, leaf)
		if err := fb.Add(leaf.c, uint64(len(leaf.data))); err != nil {
			t.Fatal(err)
		}
	}
	root, size, err := fb.Finish()
	if err != nil {
		t.Fatal(err)
	}
	d.root, d.size = root, size
	return d
}

// dirDAG builds a directory holding the given DAGs.
func dirDAG(t *testing.T, entries map[string]dag) dag {
	t.Helper()
	var d dag
	var ents []unixfs.DirEntry
	for name, e := range entries {
		ents = append(ents, unixfs.DirEntry{Name: name, Cid: e.root, Tsize: e.size})
		d.blocks = append(d.blocks, e.blocks...)
	}
	b, err := unixfs.NewDirectory(ents)
	if err != nil {
		t.Fatal(err)
	}
	d.blocks = append(d.blocks, block{b.Cid, b.Data})
	d.root = b.Cid
	d.size, err = unixfs.DirTsize(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func putAll(t *testing.T, s store.Store, blocks []block, pins ...store.Pin) {
	t.Helper()
	b := s.NewBatch(context.Background())
	defer b.Discard()
	for _, blk := range blocks {
		if err := b.Put(blk.c, blk.data); err != nil {
			t.Fatalf("Put %s: %v", blk.c, err)
		}
	}
	for _, p := range pins {
		if err := b.Pin(p.Cid, p.Mode); err != nil {
			t.Fatalf("Pin %s: %v", p.Cid, err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func mustGet(t *testing.T, s store.Store, blk block) {
	t.Helper()
	got, err := s.Get(context.Background(), blk.c)
	if err != nil {
		t.Fatalf("Get %s: %v", blk.c, err)
	}
	if !bytes.Equal(got, blk.data) {
		t.Fatalf("Get %s: %d bytes differ from the %d put", blk.c, len(got), len(blk.data))
	}
}

func has(t *testing.T, s store.Store, c cid.Cid) bool {
	t.Helper()
	ok, err := s.Has(context.Background(), c)
	if err != nil {
		t.Fatalf("Has %s: %v", c, err)
	}
	return ok
}

func wantMissing(t *testing.T, s store.Store, c cid.Cid) {
	t.Helper()
	if has(t, s, c) {
		t.Fatalf("block %s is present, want it gone", c)
	}
	if _, err := s.Get(context.Background(), c); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get %s = %v, want ErrNotFound", c, err)
	}
}

// otherHashCid returns a CID with a sha2-512 multihash of data.
func otherHashCid(t *testing.T, data []byte) cid.Cid {
	t.Helper()
	h, err := mh.Sum(data, mh.SHA2_512, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}
