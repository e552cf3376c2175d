package session

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// relaying returns a node whose model relays what it takes in, as the
// daemon's does.
func relaying(t *testing.T, key identity.FolderKey, dev uint64) *node {
	n := newNode(t, key, dev)
	n.m.relay = n.s
	return n
}

// holdsAll reports whether n holds every record of origin up to seq.
func holdsAll(n *node, origin, seq uint64) func() bool {
	return func() bool {
		ms, _ := n.m.ix.Marks(context.Background())
		for _, m := range ms {
			if m.Origin == origin {
				return m.Seq >= seq
			}
		}
		return false
	}
}

// waitShared waits until a and b each see the other sharing the folder.
func waitShared(t *testing.T, a, b *node, f identity.FolderID) {
	t.Helper()
	wait(t, "the two share the folder", nil, func() bool {
		return a.s.Shares(b.id.ID(), f) && b.s.Shares(a.id.ID(), f)
	})
}

// TestJoinersTakeEachRecordOnce: two peers join a sharer at once and are
// connected to each other. Each takes the sharer's whole index, and
// relays it; announced instead of sent, the relays cost no record twice
// (sent, every joiner took the index twice: once from the sharer, once
// from the other joiner).
func TestJoinersTakeEachRecordOnce(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	a := relaying(t, key, 1)
	b := relaying(t, key.ReadOnly(), 2)
	c := relaying(t, key, 3)
	const n = 5*maxBatch + 7
	commitMany(t, a.m.ix, n)
	b.dial(t, c)
	waitShared(t, b, c, key.ID())
	b.dial(t, a)
	c.dial(t, a)
	wait(t, "b holds every record", b.m.got, holdsAll(b, 1, n))
	wait(t, "c holds every record", c.m.got, holdsAll(c, 1, n))
	for _, x := range []struct {
		name string
		n    *node
	}{{"b", b}, {"c", c}} {
		if in, _ := x.n.s.Counts(); in != n {
			t.Errorf("%s took in %d records for an index of %d", x.name, in, n)
		}
	}
}

// TestChainTakesAnnouncedRecords: C meets only B, B only A. An index far
// larger than a rumour reaches C through B's announcements, whole, and a
// large change on A after that too.
func TestChainTakesAnnouncedRecords(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	a := relaying(t, key, 1)
	b := relaying(t, key.ReadOnly(), 2)
	c := relaying(t, key, 3)
	const n = 3*maxBatch + 11
	commitMany(t, a.m.ix, n)
	c.dial(t, b)
	waitShared(t, b, c, key.ID())
	b.dial(t, a)
	wait(t, "c holds every record through b", c.m.got, holdsAll(c, 1, n))
	if in, _ := c.s.Counts(); in != n {
		t.Errorf("c took in %d records for an index of %d", in, n)
	}

	// A change of more records than a rumour passes on, pushed by A.
	var more []string
	for i := range 2 * eagerRelay {
		more = append(more, fmt.Sprintf("g%04d", i))
	}
	pushNew(t, a, key.ID(), more)
	wait(t, "c holds a's new records through b", c.m.got, holdsAll(c, 1, n+uint64(len(more))))
}

// pushNew commits paths on n in one group and pushes the new records to
// its peers, as the daemon does with a local change.
func pushNew(t *testing.T, n *node, f identity.FolderID, paths []string) {
	t.Helper()
	ctx := context.Background()
	before, err := n.m.ix.Marks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cs []index.Change
	for _, p := range paths {
		r := index.Record{Path: p, Type: index.TypeFile, Size: int64(len(p)), Mode: 0o644, ModTime: 1, Root: unixfs.RawCIDOf([]byte(p)).Bytes()}
		cs = append(cs, index.Change{Record: r, Local: index.Local{Type: index.TypeFile, Root: r.Root}})
	}
	if _, err := n.m.ix.CommitLocal(ctx, cs); err != nil {
		t.Fatal(err)
	}
	var recs []wire.SignedRecord
	_, err = n.m.ix.Since(ctx, before, func(s index.Signed) error {
		recs = append(recs, wire.SignedRecord{Data: s.Data, Sig: s.Sig})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n.s.Push(f, recs)
}

// TestOlderPeerSentRelays: a peer of protocol 1.2 would take an
// announcement for a summary and answer it; it is sent the relayed
// records themselves.
func TestOlderPeerSentRelays(t *testing.T) {
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	a := relaying(t, key, 1)
	b := relaying(t, key.ReadOnly(), 2)
	const n = 2*maxBatch + 5
	commitMany(t, a.m.ix, n)

	ours, theirs, err := transport.LoopbackPair(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { theirs.Close() })
	old := wire.NewHello(nil, "shoal", "0.1", nil)
	old.Minor = wire.MinorAnnounce - 1
	if err := wire.WriteMessage(theirs, old, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.sw.AddConn(ours); err != nil {
		t.Fatal(err)
	}
	proof := identity.Proof(key.RO(), theirs.Exporter(), ours.RemoteID())
	if err := wire.WriteMessage(theirs, wire.FolderProof{Proof: proof}, 0); err != nil {
		t.Fatal(err)
	}
	wait(t, "b shares the folder with the older peer", nil, func() bool { return len(b.s.Peers(key.ID())) == 1 })
	b.dial(t, a)

	theirs.SetDeadline(time.Now().Add(20 * time.Second))
	got := 0
	for got < n {
		fr, err := wire.ReadFrame(theirs)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", got, n, err)
		}
		m, err := wire.Decode(fr)
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case wire.IndexSummary:
			if m.Announce {
				t.Fatal("an older peer was sent an announcement")
			}
		case wire.IndexRecords:
			got += len(m.Records)
		}
	}
}
