package storetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

func pinsOf(t *testing.T, s store.Store) map[string]store.PinMode {
	t.Helper()
	pins, err := s.Pins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]store.PinMode)
	for _, p := range pins {
		if _, dup := m[p.Cid.KeyString()]; dup {
			t.Fatalf("Pins lists %s twice", p.Cid)
		}
		m[p.Cid.KeyString()] = p.Mode
	}
	return m
}

func testPins(t *testing.T, s store.Store) {
	a, b, c := rawBlock("pin-a", 10), rawBlock("pin-b", 10), rawBlock("pin-c", 10)
	steps := []struct {
		name string
		do   func() error
		want map[cid.Cid]store.PinMode
	}{
		{"recursive a", func() error { return s.Pin(ctx, a.c, store.PinRecursive) },
			map[cid.Cid]store.PinMode{a.c: store.PinRecursive}},
		{"direct b (block absent)", func() error { return s.Pin(ctx, b.c, store.PinDirect) },
			map[cid.Cid]store.PinMode{a.c: store.PinRecursive, b.c: store.PinDirect}},
		{"direct a keeps recursive", func() error { return s.Pin(ctx, a.c, store.PinDirect) },
			map[cid.Cid]store.PinMode{a.c: store.PinRecursive, b.c: store.PinDirect}},
		{"recursive b replaces direct", func() error { return s.Pin(ctx, b.c, store.PinRecursive) },
			map[cid.Cid]store.PinMode{a.c: store.PinRecursive, b.c: store.PinRecursive}},
		{"direct c", func() error { return s.Pin(ctx, c.c, store.PinDirect) },
			map[cid.Cid]store.PinMode{a.c: store.PinRecursive, b.c: store.PinRecursive, c.c: store.PinDirect}},
		{"unpin a", func() error { return s.Unpin(ctx, a.c) },
			map[cid.Cid]store.PinMode{b.c: store.PinRecursive, c.c: store.PinDirect}},
		{"unpin c", func() error { return s.Unpin(ctx, c.c) },
			map[cid.Cid]store.PinMode{b.c: store.PinRecursive}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := pinsOf(t, s)
		if len(got) != len(st.want) {
			t.Fatalf("%s: pins %v, want %v", st.name, got, st.want)
		}
		for k, m := range st.want {
			if got[k.KeyString()] != m {
				t.Fatalf("%s: %s pinned %s, want %s", st.name, k, got[k.KeyString()], m)
			}
		}
	}
	if err := s.Unpin(ctx, a.c); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Unpin of an unpinned CID = %v, want ErrNotFound", err)
	}
	if err := s.Pin(ctx, a.c, store.PinMode(9)); err == nil {
		t.Fatal("Pin with an unknown mode succeeded")
	}
}

func testBatchPin(t *testing.T, s store.Store) {
	d := fileDAG(t, "batchpin", 3)
	putAll(t, s, d.blocks, store.Pin{Cid: d.root, Mode: store.PinRecursive},
		store.Pin{Cid: d.blocks[0].c, Mode: store.PinDirect})
	got := pinsOf(t, s)
	if got[d.root.KeyString()] != store.PinRecursive || got[d.blocks[0].c.KeyString()] != store.PinDirect || len(got) != 2 {
		t.Fatalf("pins after batch = %v", got)
	}
}

func testAllKeys(t *testing.T, s store.Store) {
	copies := []block{rawBlock("keys-1", 10), rawBlock("keys-2", 5000)}
	putAll(t, s, copies)
	_, refBlocks, refs := refFile(t, "keys-ref", 3000, 1000)
	putRefs(t, s, refBlocks, refs)
	want := make(map[string]bool)
	for _, b := range append(copies, refBlocks...) {
		want[string(b.c.Hash())] = true
	}
	got := make(map[string]bool)
	err := s.AllKeys(ctx, func(mh []byte) error {
		if got[string(mh)] {
			t.Errorf("AllKeys gave %x twice", mh)
		}
		got[string(mh)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("AllKeys gave %d keys, want %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("AllKeys missed %x", k)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := s.AllKeys(ctx, func([]byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("AllKeys with fn failing = %v after %d calls; want stop after 1", err, n)
	}
}

func testStats(t *testing.T, s store.Store) {
	copies := []block{rawBlock("stats-1", 10), rawBlock("stats-2", 2000), rawBlock("stats-3", 70000)}
	putAll(t, s, copies, store.Pin{Cid: copies[0].c, Mode: store.PinDirect},
		store.Pin{Cid: copies[1].c, Mode: store.PinRecursive})
	_, refBlocks, refs := refFile(t, "stats-ref", 5000, 4000)
	putRefs(t, s, refBlocks, refs)
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Stats{Blocks: 3, Refs: 2, DataBytes: 72010, RefBytes: 5000, Pins: 2, DiskBytes: st.DiskBytes}
	if st != want || st.DiskBytes < 0 {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

func gc(t *testing.T, s store.Store) store.GCStats {
	t.Helper()
	st, err := s.GC(ctx)
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	return st
}

func sizeOf(blocks []block) int64 {
	var n int64
	for _, b := range blocks {
		n += int64(len(b.data))
	}
	return n
}

func testGCKeepsPinnedDAG(t *testing.T, s store.Store) {
	big := fileDAG(t, "gc-big", 200) // two levels of dag-pb nodes
	small := fileDAG(t, "gc-small", 3)
	tree := dirDAG(t, map[string]dag{"big": big, "small": small})
	garbage := []block{rawBlock("gc-garbage-1", 300), rawBlock("gc-garbage-2", 70000)}
	loose := fileDAG(t, "gc-loose", 5)
	putAll(t, s, append(append(tree.blocks, garbage...), loose.blocks...),
		store.Pin{Cid: tree.root, Mode: store.PinRecursive})
	st := gc(t, s)
	removed := append(garbage, loose.blocks...)
	if st.Blocks != len(removed) || st.Bytes != sizeOf(removed) {
		t.Fatalf("GC = %+v, want %d blocks, %d bytes", st, len(removed), sizeOf(removed))
	}
	for _, b := range tree.blocks {
		mustGet(t, s, b)
	}
	for _, b := range removed {
		wantMissing(t, s, b.c)
	}
	if st := gc(t, s); st != (store.GCStats{}) {
		t.Fatalf("second GC = %+v, want nothing removed", st)
	}
}

func testGCDirectPin(t *testing.T, s store.Store) {
	d := fileDAG(t, "gc-direct", 4)
	putAll(t, s, d.blocks, store.Pin{Cid: d.root, Mode: store.PinDirect})
	st := gc(t, s)
	if st.Blocks != len(d.blocks)-1 {
		t.Fatalf("GC = %+v, want every block but the root removed (%d)", st, len(d.blocks)-1)
	}
	for _, b := range d.blocks {
		if got := has(t, s, b.c); got != b.c.Equals(d.root) {
			t.Fatalf("block %s present = %v after GC of a direct pin", b.c, got)
		}
	}
}

func testGCRemovesUnpinned(t *testing.T, s store.Store) {
	d := fileDAG(t, "gc-unpin", 4)
	putAll(t, s, d.blocks, store.Pin{Cid: d.root, Mode: store.PinRecursive})
	_, refBlocks, refs := refFile(t, "gc-refs", 3000, 1000)
	putRefs(t, s, refBlocks, refs)
	if st := gc(t, s); st.Blocks != 3 || st.Bytes != 3000 {
		t.Fatalf("GC = %+v, want the 3 references (3000 bytes) removed", st)
	}
	if err := s.Unpin(ctx, d.root); err != nil {
		t.Fatal(err)
	}
	if st := gc(t, s); st.Blocks != len(d.blocks) || st.Bytes != sizeOf(d.blocks) {
		t.Fatalf("GC after unpin = %+v, want %d blocks, %d bytes", st, len(d.blocks), sizeOf(d.blocks))
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Blocks != 0 || st.Refs != 0 {
		t.Fatalf("Stats after GC = %+v, %v; want empty", st, err)
	}
}

func testGCExtraRoots(t *testing.T, s store.Store) {
	kept, dropped := fileDAG(t, "roots-kept", 3), fileDAG(t, "roots-dropped", 3)
	putAll(t, s, append(kept.blocks, dropped.blocks...))
	var calls atomic.Int32
	s.AddRoots("test", func(context.Context) ([]cid.Cid, error) {
		calls.Add(1)
		return []cid.Cid{kept.root}, nil
	})
	if st := gc(t, s); st.Blocks != len(dropped.blocks) {
		t.Fatalf("GC = %+v, want %d blocks removed", st, len(dropped.blocks))
	}
	if calls.Load() == 0 {
		t.Fatal("root set never called")
	}
	for _, b := range kept.blocks {
		mustGet(t, s, b)
	}
	// A failing root set stops the collection: nothing is removed.
	putAll(t, s, dropped.blocks)
	s.AddRoots("test", func(context.Context) ([]cid.Cid, error) { return nil, errors.New("index unreadable") })
	if _, err := s.GC(ctx); err == nil {
		t.Fatal("GC with a failing root set succeeded")
	}
	for _, b := range append(kept.blocks, dropped.blocks...) {
		mustGet(t, s, b)
	}
}

func testGCPartialDAG(t *testing.T, s store.Store) {
	d := fileDAG(t, "partial", 5)
	// Leave out two leaves: a pinned DAG may be incomplete.
	var present []block
	for i, b := range d.blocks {
		if i != 1 && i != 3 {
			present = append(present, b)
		}
	}
	putAll(t, s, present, store.Pin{Cid: d.root, Mode: store.PinRecursive})
	if st := gc(t, s); st.Blocks != 0 {
		t.Fatalf("GC of a partial pinned DAG removed %d blocks", st.Blocks)
	}
	// A pin whose root is absent is fine too.
	if err := s.Pin(ctx, fileDAG(t, "absent", 2).root, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	gc(t, s)
}

func testGCUndecodableRoot(t *testing.T, s store.Store) {
	bad := []byte("not a dag-pb node")
	badCid := unixfs.NodeCID(bad)
	garbage := rawBlock("undecodable-garbage", 100)
	putAll(t, s, []block{{badCid, bad}, garbage}, store.Pin{Cid: badCid, Mode: store.PinRecursive})
	if _, err := s.GC(ctx); err == nil {
		t.Fatal("GC with an undecodable pinned root succeeded")
	}
	mustGet(t, s, garbage) // nothing swept
	// Pinned directly, its links do not matter.
	if err := s.Unpin(ctx, badCid); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, badCid, store.PinDirect); err != nil {
		t.Fatal(err)
	}
	if st := gc(t, s); st.Blocks != 1 {
		t.Fatalf("GC = %+v, want the one garbage block removed", st)
	}
	mustGet(t, s, block{badCid, bad})
}

// testGCConcurrentBatch races a collection with a batch that pins a block
// already in the store and adds a new one: the collection must wait for
// the batch and keep both.
func testGCConcurrentBatch(t *testing.T, s store.Store) {
	old := fileDAG(t, "race-old", 3)
	putAll(t, s, old.blocks) // unpinned: garbage until the batch pins it
	fresh := fileDAG(t, "race-new", 3)
	garbage := rawBlock("race-garbage", 100)
	putAll(t, s, []block{garbage})

	b := s.NewBatch(ctx)
	defer b.Discard()
	for _, blk := range fresh.blocks {
		if err := b.Put(blk.c, blk.data); err != nil {
			t.Fatal(err)
		}
	}
	started := make(chan struct{}, 8)
	s.AddRoots("race", func(context.Context) ([]cid.Cid, error) {
		started <- struct{}{}
		return nil, nil
	})
	type result struct {
		st  store.GCStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := s.GC(ctx)
		done <- result{st, err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("GC did not start")
	}
	for _, p := range []cid.Cid{old.root, fresh.root} {
		if err := b.Pin(p, store.PinRecursive); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-done:
		t.Fatalf("GC finished (%+v, %v) while a batch was open", r.st, r.err)
	default:
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("GC did not finish after the batch committed")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.st.Blocks != 1 || r.st.Bytes != 100 {
		t.Fatalf("GC = %+v, want only the garbage block removed", r.st)
	}
	for _, blk := range append(old.blocks, fresh.blocks...) {
		mustGet(t, s, blk)
	}
	if pins := pinsOf(t, s); len(pins) != 2 {
		t.Fatalf("pins after race = %v, want 2", pins)
	}
}

// testGCChangedRefNode stores a dag-pb node as a reference into a file that
// then changes: its links cannot be read, so the collection must stop
// rather than sweep the blocks below it.
func testGCChangedRefNode(t *testing.T, s store.Store) {
	d := fileDAG(t, "refnode", 3)
	rootData := d.blocks[len(d.blocks)-1].data // FileBuilder emits the root last
	path := filepath.Join(t.TempDir(), "node")
	if err := os.WriteFile(path, rootData, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, d.blocks[:len(d.blocks)-1])
	putRefs(t, s, []block{{d.root, rootData}}, []store.Ref{{Path: path, Length: uint32(len(rootData)),
		FileSize: fi.Size(), ModTime: fi.ModTime()}})
	if err := s.Pin(ctx, d.root, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	if st := gc(t, s); st.Blocks != 0 {
		t.Fatalf("GC = %+v, want nothing removed", st)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx); !errors.Is(err, store.ErrRefChanged) {
		t.Fatalf("GC with an unreadable pinned node = %v, want ErrRefChanged", err)
	}
	for _, b := range d.blocks[:len(d.blocks)-1] {
		mustGet(t, s, b)
	}
}
