package session

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// commitMany commits n files to ix in one group.
func commitMany(t *testing.T, ix *index.Index, n int) {
	t.Helper()
	var cs []index.Change
	for i := range n {
		path := fmt.Sprintf("f%05d", i)
		r := index.Record{Path: path, Type: index.TypeFile, Size: int64(len(path)), Mode: 0o644, ModTime: 1, Root: unixfs.RawCIDOf([]byte(path)).Bytes()}
		cs = append(cs, index.Change{Record: r, Local: index.Local{Type: index.TypeFile, Root: r.Root}})
	}
	if _, err := ix.CommitLocal(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
}

// TestLongAnswerPaced: an index many batches long reaches the joining
// peer whole through the acknowledged window, and nothing is sent twice.
func TestLongAnswerPaced(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	a := newNode(t, key, 1)
	b := newNode(t, key.ReadOnly(), 2)
	const n = 7*maxBatch + 17
	commitMany(t, a.m.ix, n)
	b.dial(t, a)
	wait(t, "b holds every record", b.m.got, func() bool {
		g, _ := b.m.ix.Global(context.Background(), fmt.Sprintf("f%05d", n-1))
		return g != nil
	})
	if _, out := a.s.Counts(); out != n {
		t.Fatalf("a sent %d records, want %d", out, n)
	}
}

// TestOlderPeerNotPaced: a peer of an older minor version, which neither
// sends nor takes IndexAck, is sent its whole answer unpaced and is never
// sent an IndexAck (it would close the connection on one).
func TestOlderPeerNotPaced(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	a := newNode(t, key, 1)
	const n = 6*maxBatch + 3
	commitMany(t, a.m.ix, n)
	ctx := t.Context()
	ours, theirs, err := transport.LoopbackPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { theirs.Close() })
	old := wire.NewHello(nil, "shoal", "0.1", nil)
	old.Minor = wire.MinorIndexAck - 1
	if err := wire.WriteMessage(theirs, old, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.sw.AddConn(ours); err != nil {
		t.Fatal(err)
	}
	proof := identity.Proof(key.RO(), theirs.Exporter(), ours.RemoteID())
	if err := wire.WriteMessage(theirs, wire.FolderProof{Proof: proof}, 0); err != nil {
		t.Fatal(err)
	}
	f := key.ID()
	if err := wire.WriteMessage(theirs, wire.IndexSummary{Folder: f[:], Reply: true}, 0); err != nil {
		t.Fatal(err)
	}
	theirs.SetDeadline(time.Now().Add(10 * time.Second))
	got := 0
	for {
		fr, err := wire.ReadFrame(theirs)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", got, n, err)
		}
		m, err := wire.Decode(fr)
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case wire.IndexAck:
			t.Fatal("an older peer was sent an IndexAck")
		case wire.IndexRecords:
			got += len(m.Records)
			if m.Last {
				if got != n {
					t.Fatalf("the answer ended after %d records, want %d", got, n)
				}
				return
			}
		}
	}
}

// TestBlocksNotBehindIndex: while a long index streams to a peer that
// has not taken in more than its first batch, a block that peer asks for
// still arrives: the index is neither ahead of it on the connection nor
// holding up the peer's reader.
func TestBlocksNotBehindIndex(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	a := newNode(t, key, 1)
	b := newNode(t, key.ReadOnly(), 2)
	b.m.gate = make(chan struct{})
	release := sync.OnceFunc(func() { close(b.m.gate) })
	t.Cleanup(release) // a failed test leaves no reader waiting at the gate
	const n = 12 * maxBatch
	commitMany(t, a.m.ix, n)
	data := bytes.Repeat([]byte("a block behind the index "), 4000)
	c := unixfs.RawCIDOf(data)
	batch := a.st.NewBatch(t.Context())
	if err := batch.Put(c, data); err != nil {
		t.Fatal(err)
	}
	if err := batch.Commit(); err != nil {
		t.Fatal(err)
	}
	b.dial(t, a)
	b.m.gate <- struct{}{} // the first batch, and no more
	wait(t, "b takes in the first records", b.m.got, func() bool { return b.m.stored.Load() > 0 })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := b.sw.FetchBlocks(ctx, []cid.Cid{c}, []int{len(data)}, func(got cid.Cid, d []byte) error {
		if !bytes.Equal(d, data) {
			return fmt.Errorf("block %s: wrong bytes", got)
		}
		return nil
	}, swarm.FetchOptions{})
	if err != nil {
		t.Fatalf("the block, with %d of %d records taken in: %v", b.m.stored.Load(), n, err)
	}
	if got := b.m.stored.Load(); got != maxBatch {
		t.Fatalf("%d records taken in while the gate let one batch through", got)
	}
	release()
	wait(t, "b holds every record", b.m.got, func() bool { return b.m.stored.Load() == n })
}
