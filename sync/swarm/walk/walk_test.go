package walk

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// blocks is a DAG in memory: a Getter, and what a fake session serves.
type blocks map[cid.Cid][]byte

func (b blocks) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	if d, ok := b[c]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("block %s: %w", c, store.ErrNotFound)
}

// fileDAG builds a file of n raw leaves of 1 KiB: two levels past 174.
func fileDAG(t *testing.T, n int) (cid.Cid, blocks, []cid.Cid) {
	t.Helper()
	bs := blocks{}
	r := rand.New(rand.NewPCG(1, 2))
	fb := unixfs.NewFileBuilder(func(b unixfs.Block) error { bs[b.Cid] = b.Data; return nil })
	var leaves []cid.Cid
	for range n {
		d := make([]byte, 1024)
		for i := range d {
			d[i] = byte(r.Uint32())
		}
		c := unixfs.RawCIDOf(d)
		bs[c] = d
		leaves = append(leaves, c)
		if err := fb.Add(c, uint64(len(d))); err != nil {
			t.Fatal(err)
		}
	}
	root, _, err := fb.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return root, bs, leaves
}

// fakeSession hands over every pending block at each Take, as if they had
// all just arrived, and records what was wanted.
type fakeSession struct {
	from    blocks
	pending []cid.Cid
	wants   [][]cid.Cid
	sizes   map[cid.Cid]int
	closed  bool
	corrupt cid.Cid // handed over with its bytes replaced
}

func (f *fakeSession) Want(_ context.Context, cids []cid.Cid, sizes []int) error {
	f.wants = append(f.wants, cids)
	for i, c := range cids {
		f.sizes[c] = sizes[i]
	}
	f.pending = append(f.pending, cids...)
	return nil
}

func (f *fakeSession) Take(_ context.Context, put func(cid.Cid, []byte) error) error {
	batch := f.pending
	f.pending = nil
	for _, c := range batch {
		d := f.from[c]
		if c == f.corrupt {
			d = []byte{0xff, 0xff, 0xff}
		}
		if err := put(c, d); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeSession) Pending() int { return len(f.pending) }
func (f *fakeSession) Close()       { f.closed = true }

// recorder is a sink that counts what it was given; with hold, a
// holder of those leaves (a resumed get).
type recorder struct {
	got  map[cid.Cid]int
	hold map[cid.Cid]bool
	fail error
}

func (r *recorder) Put(_ context.Context, c cid.Cid, d []byte) error {
	if r.fail != nil {
		return r.fail
	}
	r.got[c]++
	return nil
}

type holdingRecorder struct{ *recorder }

func (h holdingRecorder) HasBlock(c cid.Cid) bool { return h.hold[c] }
func (h holdingRecorder) GetBlock(context.Context, cid.Cid, []byte) ([]byte, error) {
	return nil, errors.New("a raw leaf is never read back")
}

func TestFetch(t *testing.T) {
	const n = 400 // three levels: root, 3 nodes, 400 leaves
	root, dag, leaves := fileDAG(t, n)
	errSink := errors.New("disk full")
	tests := []struct {
		name     string
		local    func(i int) bool // leaf i is in the store (internal nodes always are when set)
		nodes    bool             // the internal nodes are in the store
		held     func(i int) bool // the sink holds leaf i
		corrupt  bool             // the session hands over a malformed root
		sinkErr  error
		wantOpen bool
		wantErr  error // errors.Is; nil: success
	}{
		{name: "nothing local", wantOpen: true},
		{name: "all local", nodes: true, local: func(int) bool { return true }},
		{name: "even leaves local", nodes: true, local: func(i int) bool { return i%2 == 0 }, wantOpen: true},
		{name: "resumed: the sink holds leaves", held: func(i int) bool { return i < n/2 }, wantOpen: true},
		{name: "malformed node", corrupt: true, wantOpen: true, wantErr: errAny},
		{name: "sink fails", sinkErr: errSink, wantOpen: true, wantErr: errSink},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := blocks{}
			isLeaf := map[cid.Cid]int{}
			for i, l := range leaves {
				isLeaf[l] = i + 1
				if tt.local != nil && tt.local(i) {
					st[l] = dag[l]
				}
			}
			if tt.nodes {
				for c, d := range dag {
					if c.Type() == unixfs.CodecDagPB {
						st[c] = d
					}
				}
			}
			rec := &recorder{got: map[cid.Cid]int{}, hold: map[cid.Cid]bool{}, fail: tt.sinkErr}
			var sink Sink = rec
			if tt.held != nil {
				for i, l := range leaves {
					if tt.held(i) {
						rec.hold[l] = true
					}
				}
				sink = holdingRecorder{rec}
			}
			ss := &fakeSession{from: dag, sizes: map[cid.Cid]int{}}
			if tt.corrupt {
				ss.corrupt = root
			}
			opened := 0
			err := Fetch(t.Context(), root, sink, Options{Store: st, Open: func(context.Context) (Session, error) {
				opened++
				return ss, nil
			}})
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("Fetch: %v, want %v", err, tt.wantErr)
				}
				if !ss.closed {
					t.Error("the session was not closed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.wantOpen]; opened != want {
				t.Fatalf("sessions opened: %d, want %d", opened, want)
			}
			if opened > 0 && !ss.closed {
				t.Error("the session was not closed")
			}
			// Every block went to the sink once, but leaves it held.
			for c := range dag {
				want := 1
				if rec.hold[c] {
					want = 0
				}
				if rec.got[c] != want {
					t.Errorf("block %s (leaf %d) put %d times, want %d", c, isLeaf[c]-1, rec.got[c], want)
				}
			}
			// Only what neither the store nor the sink had was wanted,
			// once, a leaf with its size, and a block only after its
			// parent was handed over (one level a round here).
			seen := map[cid.Cid]bool{}
			for round, ws := range ss.wants {
				for _, c := range ws {
					if seen[c] || st[c] != nil || rec.hold[c] {
						t.Errorf("round %d wanted %s, which was local or wanted before", round, c)
					}
					seen[c] = true
					if i := isLeaf[c]; i > 0 && ss.sizes[c] != len(dag[c]) {
						t.Errorf("leaf %d wanted with size %d, want %d", i-1, ss.sizes[c], len(dag[c]))
					}
				}
			}
			if tt.local == nil && tt.held == nil {
				if len(ss.wants) != 3 || len(ss.wants[0]) != 1 || ss.wants[0][0] != root || len(ss.wants[2]) != n {
					t.Errorf("wants by round: %d rounds, want root, its 3 children, then the %d leaves", len(ss.wants), n)
				}
			}
		})
	}
}

// errAny stands for "some error" in the table.
var errAny = errors.New("any error")

// FuzzChildren: the links of any block, well-formed or not, decode
// without panicking, and a raw block has none.
func FuzzChildren(f *testing.F) {
	pb := unixfs.EncodePBNode([]unixfs.Link{{Cid: unixfs.RawCIDOf([]byte("a")), Tsize: 1}}, nil)
	f.Add(pb, true)
	f.Add([]byte("raw bytes"), false)
	f.Add([]byte{0x12, 0x03, 0x0a}, true)
	f.Fuzz(func(t *testing.T, data []byte, dagpb bool) {
		c := unixfs.RawCIDOf(data)
		if dagpb {
			c = cid.NewCidV1(unixfs.CodecDagPB, c.Hash())
		}
		kids, err := children(c, data)
		if !dagpb && (err != nil || len(kids) != 0) {
			t.Fatalf("raw block: %d children, %v", len(kids), err)
		}
		for _, k := range kids {
			if k.size < 0 || k.size > 4<<20 || (k.size > 0 && k.c.Type() != unixfs.CodecRaw) {
				t.Fatalf("child %s with size %d", k.c, k.size)
			}
		}
	})
}
