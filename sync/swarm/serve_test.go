package swarm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// gateStore holds Get of one block until released, and reports every Get.
type gateStore struct {
	store.Store
	gated   cid.Cid
	release chan struct{}
	gets    chan cid.Cid
}

func (g gateStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	g.gets <- c
	if c == g.gated {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Store.Get(ctx, c)
}

// TestServeAheadInOrderAndCancel: blocks read ahead are sent in request
// order, and a block cancelled while it was being read is not sent.
func TestServeAheadInOrderAndCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	mem := memstore.New(memstore.Options{})
	var blocks []cid.Cid
	b := mem.NewBatch(ctx)
	for i := range 3 {
		data := randBytes(uint64(i+1), 1000)
		c := unixfs.RawCID(sha256.Sum256(data))
		if err := b.Put(c, data); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, c)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	gs := gateStore{Store: mem, gated: blocks[0], release: make(chan struct{}), gets: make(chan cid.Cid, 16)}
	sw, err := New(Options{Store: gs, ServeAll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	ours, theirs, err := transport.LoopbackPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.Close()
	r := bufio.NewReader(theirs)
	send := func(m wire.Message) {
		t.Helper()
		if err := wire.WriteMessage(theirs, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	// next returns the next frame that is not a have or want-have.
	next := func() wire.Message {
		t.Helper()
		for {
			f, err := wire.ReadFrame(r)
			if err != nil {
				t.Fatal(err)
			}
			m, err := wire.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			switch m.(type) {
			case wire.Have, wire.WantHave:
				continue
			}
			return m
		}
	}
	send(wire.NewHello(nil, "test", "", nil))
	if err := sw.AddConn(ours); err != nil {
		t.Fatal(err)
	}
	if _, ok := next().(wire.Hello); !ok {
		t.Fatal("first frame is not a hello")
	}
	send(wire.Interested{})
	if m, ok := next().(wire.Unchoke); !ok {
		t.Fatalf("got %T, want unchoke", m)
	}
	var wants []wire.Want
	for _, c := range blocks {
		wants = append(wants, wire.Want{CID: c.Bytes()})
	}
	send(wire.WantBlock{Wants: wants})
	// All three are being read (the first held) before the cancel.
	for range blocks {
		select {
		case <-gs.gets:
		case <-ctx.Done():
			t.Fatal("the blocks were not read ahead")
		}
	}
	send(wire.Cancel{CIDs: [][]byte{blocks[1].Bytes()}})
	send(wire.Ping{Nonce: 7}) // answered once the cancel is read
	if m, ok := next().(wire.Pong); !ok || m.Nonce != 7 {
		t.Fatalf("got %#v, want the pong (nothing may pass the held first block)", m)
	}
	close(gs.release)
	for _, want := range []cid.Cid{blocks[0], blocks[2]} {
		m, ok := next().(wire.Block)
		if !ok {
			t.Fatalf("got %T, want block %s", m, want)
		}
		if got, err := cid.Cast(m.CID); err != nil || got != want {
			t.Fatalf("got block %s, want %s (request order, cancelled one skipped)", got, want)
		}
		if err := store.VerifyBlock(want, m.Data); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFetchIntoTreeWriter fetches a file from two seeds into a file, as
// `shoal get -o` does: the seeds read into recycled buffers (badger
// stores), the fetcher recycles what it received once written (and the
// duplicates of the endgame at once). The file must come out intact.
func TestFetchIntoTreeWriter(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var stores []store.Store
	for range 2 {
		bs, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bs.Close() })
		stores = append(stores, bs)
	}
	stores = append(stores, memstore.New(memstore.Options{}))
	data := randBytes(3, 9<<20+777)
	var root cid.Cid
	for _, st := range stores[:2] {
		r, _, err := putFile(ctx, st, data, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		root = r
	}
	c := newTestCluster(t, stores, serveAll)
	if err := c.connectAll(ctx); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	for round := range 2 { // the second reuses the first's buffers
		if round == 1 {
			if err := os.Remove(out); err != nil {
				t.Fatal(err)
			}
		}
		leech := c.nodes[2]
		w, err := dag.NewTreeWriter(memstore.New(memstore.Options{}), root, out, dag.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := fetchDAG(ctx, leech.swarm, root, w); err != nil {
			w.Abort()
			t.Fatal(err)
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round %d: written file differs (%d bytes, %v)", round, len(got), err)
		}
	}
	if st := c.nodes[2].swarm.Stats(); st.BadBlocks != 0 {
		t.Fatalf("%d bad blocks", st.BadBlocks)
	}
}

// TestFetchServesWhileItRuns: B fetches a file from A, which lacks one
// leaf, so B's fetch never ends: into a TreeWriter (as `shoal get -o`
// does) or a PublicStoreSink (as `pin add` does). C, connected to B alone,
// still gets every other block: B serves what its fetch took while it
// runs, although it pins nothing (and with the TreeWriter its store holds
// none of the leaves).
func TestFetchServesWhileItRuns(t *testing.T) {
	for _, into := range []string{"TreeWriter", "PublicStoreSink"} {
		t.Run(into, func(t *testing.T) { testFetchServesWhileItRuns(t, into) })
	}
}

func testFetchServesWhileItRuns(t *testing.T, into string) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	full := memstore.New(memstore.Options{})
	data := randBytes(8, 3<<20+99)
	root, leaves, err := putFile(ctx, full, data, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	all, err := dagBlocks(ctx, full, root)
	if err != nil {
		t.Fatal(err)
	}
	withheld := leaves[len(leaves)-1]
	a := memstore.New(memstore.Options{})
	var given []cid.Cid
	for _, c := range all {
		if c != withheld {
			given = append(given, c)
		}
	}
	if err := copyBlocks(ctx, full, a, given); err != nil {
		t.Fatal(err)
	}
	stores := []store.Store{a, memstore.New(memstore.Options{}), memstore.New(memstore.Options{})}
	c := newTestCluster(t, stores, func(i int) Options {
		if i == 0 {
			return Options{ServeAll: true}
		}
		return Options{} // pins only, and B and C pin nothing
	})
	if err := c.connect(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.connect(ctx, 2, 1); err != nil {
		t.Fatal(err)
	}
	b, cn := c.nodes[1], c.nodes[2]
	var sink Seeder = &PublicStoreSink{Store: b.store}
	var w *dag.TreeWriter
	if into == "TreeWriter" {
		if w, err = dag.NewTreeWriter(b.store, root, filepath.Join(t.TempDir(), "out"), dag.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		sink = w
	}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	done := make(chan error, 2)
	go func() { done <- fetchDAG(fctx, b.swarm, root, sink) }()
	go func() { done <- fetchDAG(fctx, cn.swarm, root, StoreSink{Store: cn.store}) }()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		have := 0
		for _, blk := range given {
			if ok, _ := cn.store.Has(ctx, blk); ok {
				have++
			}
		}
		if have == len(given) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("a fetch ended early: %v", err)
		case <-ctx.Done():
			t.Fatalf("C got %d of the %d blocks B has", have, len(given))
		case <-tick.C:
		}
	}
	for _, blk := range given {
		want, _ := full.Get(ctx, blk)
		got, err := cn.store.Get(ctx, blk)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("C's copy of %s differs: %v", blk, err)
		}
	}
	if ok, _ := b.store.Has(ctx, leaves[0]); ok && w != nil {
		t.Fatal("B's store holds a leaf: the test no longer shows serving from the TreeWriter")
	}
	fcancel()
	<-done
	<-done
	if w != nil {
		w.Abort()
	}
}

// TestFetchResumes: a get into a file that was cut off (its fetch
// cancelled) keeps its temporary file; the next get of the same CID into
// the same file asks peers only for what is not in it.
func TestFetchResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	full := memstore.New(memstore.Options{})
	data := randBytes(9, 40<<20+123)
	root, leaves, err := putFile(ctx, full, data, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	all, err := dagBlocks(ctx, full, root)
	if err != nil {
		t.Fatal(err)
	}
	// A lacks the last eighth of the leaves at first.
	held := map[cid.Cid]bool{}
	for _, c := range leaves[len(leaves)*7/8:] {
		held[c] = true
	}
	a := memstore.New(memstore.Options{})
	var first []cid.Cid
	for _, c := range all {
		if !held[c] {
			first = append(first, c)
		}
	}
	if err := copyBlocks(ctx, full, a, first); err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, []store.Store{a, memstore.New(memstore.Options{})}, serveAll)
	if err := c.connect(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	b := c.nodes[1]
	out := filepath.Join(t.TempDir(), "out")

	// The first get takes all A has, then waits for the rest: cut it off.
	w1, err := dag.NewTreeWriter(b.store, root, out, dag.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fetchDAG(fctx, b.swarm, root, w1) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !allHeld(w1, leaves[:len(leaves)*7/8]) {
		select {
		case <-tick.C:
		case err := <-done:
			t.Fatalf("first fetch ended: %v", err)
		case <-ctx.Done():
			t.Fatal("first fetch stalled")
		}
	}
	fcancel()
	<-done
	w1.Abort()
	before := b.swarm.Stats().BytesIn

	// A gets the rest; the second get fetches only that.
	var rest []cid.Cid
	for c := range held {
		rest = append(rest, c)
	}
	if err := copyBlocks(ctx, full, a, rest); err != nil {
		t.Fatal(err)
	}
	w2, err := dag.NewTreeWriter(b.store, root, out, dag.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fetchDAG(ctx, b.swarm, root, w2); err != nil {
		w2.Abort()
		t.Fatal(err)
	}
	if err := w2.Finish(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("resumed file differs (%d bytes, %v)", len(got), err)
	}
	fetched := b.swarm.Stats().BytesIn - before
	var restBytes int64
	for c := range held {
		d, _ := full.Get(ctx, c)
		restBytes += int64(len(d))
	}
	if fetched > restBytes+restBytes/2 {
		t.Fatalf("second get fetched %d bytes; only the %d missing should be", fetched, restBytes)
	}
	t.Logf("second get fetched %d bytes of %d (missing: %d)", fetched, len(data), restBytes)
}

func allHeld(w *dag.TreeWriter, cs []cid.Cid) bool {
	for _, c := range cs {
		if !w.HasBlock(c) {
			return false
		}
	}
	return true
}
