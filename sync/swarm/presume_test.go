package swarm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/wire"
)

// TestPresumedSource: once a peer has sent a session one of its blocks,
// the session asks it for the next ones with want-blocks alone, no
// want-have first, and so do the sessions sharing its Sources. A block
// the peer turns out to lack (dont-have) goes back to the pool and is
// fetched once the peer has it.
func TestPresumedSource(t *testing.T) {
	for _, tt := range []struct {
		name   string
		shared bool // the rest in a second session sharing the first's Sources
	}{
		{"one session", false},
		{"sessions sharing Sources", true},
	} {
		t.Run(tt.name, func(t *testing.T) { testPresumedSource(t, tt.shared) })
	}
}

func testPresumedSource(t *testing.T, shared bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	sw := newSwarm(t, Options{Store: memstore.New(memstore.Options{})})
	theirs, r := rawPeer(t, ctx, sw)
	theirs.SetReadDeadline(time.Now().Add(15 * time.Second)) // fail, not hang

	blocks := make(map[cid.Cid][]byte)
	var cids []cid.Cid
	for i := range 21 {
		data := randBytes(uint64(i)+1, 4<<10)
		c := unixfs.RawCID(sha256.Sum256(data))
		blocks[c] = data
		cids = append(cids, c)
	}
	lacking := cids[7] // until its first want-block is answered dont-have

	var mu sync.Mutex
	wantHaves, wantBlocks := make(map[cid.Cid]int), make(map[cid.Cid]int)
	served := make(chan error, 1)
	go func() {
		served <- func() error {
			w := bufio.NewWriter(theirs)
			if err := wire.WriteMessage(w, wire.Unchoke{}, 0); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for {
				f, err := wire.ReadFrame(r)
				if err != nil {
					return nil // the swarm closed
				}
				m, err := wire.Decode(f)
				if err != nil {
					return err
				}
				mu.Lock()
				switch m := m.(type) {
				case wire.WantHave:
					var have [][]byte
					for _, want := range m.Wants {
						c, _ := cid.Cast(want.CID)
						wantHaves[c]++
						have = append(have, want.CID)
					}
					err = wire.WriteMessage(w, wire.Have{CIDs: have}, 0)
				case wire.WantBlock:
					for _, want := range m.Wants {
						c, _ := cid.Cast(want.CID)
						wantBlocks[c]++
						if c == lacking && wantBlocks[c] == 1 {
							err = wire.WriteMessage(w, wire.DontHave{CIDs: [][]byte{want.CID}}, 0)
						} else {
							err = wire.WriteBlock(w, 0, want.CID, blocks[c])
						}
						if err != nil {
							break
						}
					}
				}
				mu.Unlock()
				if err == nil {
					err = w.Flush()
				}
				if err != nil {
					return err
				}
			}
		}()
	}()

	sources := new(Sources)
	ss, err := sw.NewSession(ctx, FetchOptions{Sources: sources})
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[cid.Cid][]byte)
	take := func(want []cid.Cid) {
		t.Helper()
		if err := ss.Want(ctx, want, nil); err != nil {
			t.Fatal(err)
		}
		for ss.Pending() > 0 {
			err := ss.Take(ctx, func(c cid.Cid, data []byte) error {
				got[c] = bytes.Clone(data)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	take(cids[:1]) // the first block: asked about, then requested
	if shared {
		ss.Close()
		if ss, err = sw.NewSession(ctx, FetchOptions{Sources: sources}); err != nil {
			t.Fatal(err)
		}
	}
	take(cids[1:]) // the rest, from the peer that sent it
	ss.Close()
	sw.Close()
	if err := <-served; err != nil {
		t.Fatalf("peer: %v", err)
	}

	for _, c := range cids {
		if !bytes.Equal(got[c], blocks[c]) {
			t.Errorf("block %s: got %d bytes, want its %d", c, len(got[c]), len(blocks[c]))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if wantHaves[cids[0]] != 1 {
		t.Errorf("first block: %d want-haves, want 1", wantHaves[cids[0]])
	}
	for _, c := range cids[1:] {
		switch {
		case c == lacking:
			// Requested, refused, asked about again once no peer had
			// it, requested again.
			if wantBlocks[c] != 2 || wantHaves[c] < 1 {
				t.Errorf("the lacking block: %d want-blocks, %d want-haves; want 2 and at least 1", wantBlocks[c], wantHaves[c])
			}
		case wantHaves[c] != 0 || wantBlocks[c] != 1:
			t.Errorf("block %s: %d want-haves, %d want-blocks; want 0 and 1", c, wantHaves[c], wantBlocks[c])
		}
	}
}

// TestWantBlockRemembered: a want-block for a block the swarm lacks is
// answered dont-have and remembered as a want-have is: once the block is
// in the store, the peer is told it is there.
func TestWantBlockRemembered(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st := memstore.New(memstore.Options{})
	sw := newSwarm(t, Options{Store: st, ServeAll: true})
	theirs, r := rawPeer(t, ctx, sw)
	theirs.SetReadDeadline(time.Now().Add(15 * time.Second)) // fail, not hang

	data := randBytes(99, 4<<10)
	c := unixfs.RawCID(sha256.Sum256(data))
	next := func(typ wire.MsgType) wire.Message {
		t.Helper()
		for {
			f, err := wire.ReadFrame(r)
			if err != nil {
				t.Fatalf("waiting for %v: %v", typ, err)
			}
			if f.Type == typ {
				m, err := wire.Decode(f)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
	}
	// Interested, so that the swarm unchokes it and serves its requests.
	if err := wire.WriteMessage(theirs, wire.Interested{}, 0); err != nil {
		t.Fatal(err)
	}
	next(wire.TypeUnchoke)
	want := wire.WantBlock{Wants: []wire.Want{{CID: c.Bytes(), Flags: wire.SendDontHave}}}
	if err := wire.WriteMessage(theirs, want, 0); err != nil {
		t.Fatal(err)
	}
	if m := next(wire.TypeDontHave).(wire.DontHave); len(m.CIDs) != 1 || !bytes.Equal(m.CIDs[0], c.Bytes()) {
		t.Fatalf("dont-have for %x, want %s", m.CIDs, c)
	}
	b := st.NewBatch(ctx)
	if err := b.Put(c, data); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	sw.ServableChanged()
	if m := next(wire.TypeHave).(wire.Have); len(m.CIDs) != 1 || !bytes.Equal(m.CIDs[0], c.Bytes()) {
		t.Fatalf("have for %x, want %s", m.CIDs, c)
	}
}
