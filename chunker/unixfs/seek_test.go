package unixfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
)

// addLeaves builds data's DAG with the project's FileBuilder from leaves of
// leaf bytes, storing everything in m.
func addLeaves(t testing.TB, m *memStore, data []byte, leaf int) cid.Cid {
	t.Helper()
	b := NewFileBuilder(func(blk Block) error { m.put(blk.Cid, blk.Data); return nil })
	for off := 0; off < len(data); off += leaf {
		l := data[off:min(off+leaf, len(data))]
		c := RawCIDOf(l)
		m.put(c, l)
		if err := b.Add(c, uint64(len(l))); err != nil {
			t.Fatal(err)
		}
	}
	root, _, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		m.put(root, []byte{})
	}
	return root
}

// fileNodeWith stores a file node with inline data and links to children
// of the given sizes, as older writers (and kubo with inline data) make.
func fileNodeWith(m *memStore, inline []byte, kids []cid.Cid, sizes []uint64) cid.Cid {
	total := uint64(len(inline))
	links := make([]Link, len(kids))
	for i, k := range kids {
		links[i] = Link{Cid: k, Tsize: sizes[i]}
		total += sizes[i]
	}
	n := &Node{Links: links, FS: &FSData{Type: TFile, Data: inline, FileSize: &total, BlockSizes: sizes}}
	blk := n.Block()
	m.put(blk.Cid, blk.Data)
	return blk.Cid
}

func randData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// seekFixture is a file DAG and the bytes it holds.
type seekFixture struct {
	name  string
	m     *memStore
	root  cid.Cid
	data  []byte
	leaf  int // leaf size of the builder part
	depth int // blocks on the path below the root to a leaf (most)
}

func seekFixtures(t *testing.T) []seekFixture {
	const leaf = 64
	var fx []seekFixture
	// Three levels of internal nodes: more than 174*174 leaves.
	{
		m := newMemStore()
		data := randData(MaxLinks*MaxLinks*leaf+5*leaf+17, 1)
		fx = append(fx, seekFixture{"three-level", m, addLeaves(t, m, data, leaf), data, leaf, 3})
	}
	// Two levels.
	{
		m := newMemStore()
		data := randData(3*MaxLinks*leaf+1, 2)
		fx = append(fx, seekFixture{"two-level", m, addLeaves(t, m, data, leaf), data, leaf, 2})
	}
	// A single raw leaf as the root.
	{
		m := newMemStore()
		data := randData(1000, 3)
		fx = append(fx, seekFixture{"raw-root", m, addLeaves(t, m, data, 4096), data, 4096, 0})
	}
	// Inline data in the root and in an inner node, around builder
	// subtrees and raw leaves.
	{
		m := newMemStore()
		head, mid := []byte("HEAD-inline-data"), []byte("mid-inline")
		a := randData(MaxLinks*leaf+3, 4)
		l1, l2, l3 := randData(leaf, 5), randData(leaf, 6), randData(leaf, 7)
		for _, l := range [][]byte{l1, l2, l3} {
			m.put(RawCIDOf(l), l)
		}
		subA := addLeaves(t, m, a, leaf)
		midNode := fileNodeWith(m, mid, []cid.Cid{RawCIDOf(l1), RawCIDOf(l2)}, []uint64{leaf, leaf})
		root := fileNodeWith(m, head, []cid.Cid{subA, midNode, RawCIDOf(l3)},
			[]uint64{uint64(len(a)), uint64(len(mid) + 2*leaf), leaf})
		data := bytes.Join([][]byte{head, a, mid, l1, l2, l3}, nil)
		fx = append(fx, seekFixture{"inline", m, root, data, leaf, 3})
	}
	return fx
}

// TestSeekOffsets seeks to every class of offset and checks the bytes read
// from there against the original, and that a one-byte read after a seek
// fetches only the blocks on the path to the leaf.
func TestSeekOffsets(t *testing.T) {
	for _, fx := range seekFixtures(t) {
		size := int64(len(fx.data))
		leaf := int64(fx.leaf)
		offsets := []struct {
			name string
			off  int64
		}{
			{"zero", 0},
			{"inside first leaf", 1},
			{"leaf boundary", leaf},
			{"inside a leaf", 3*leaf + 5},
			{"node boundary", MaxLinks * leaf},
			{"middle", size / 2},
			{"last byte", size - 1},
			{"size", size},
		}
		if fx.name == "inline" {
			offsets = append(offsets,
				struct {
					name string
					off  int64
				}{"inside root inline data", 4},
				struct {
					name string
					off  int64
				}{"first byte after root inline data", int64(len("HEAD-inline-data"))},
				struct {
					name string
					off  int64
				}{"inside inner node inline data", int64(len("HEAD-inline-data")+MaxLinks*64+3) + 2},
			)
		}
		for _, o := range offsets {
			if o.off > size {
				continue
			}
			t.Run(fx.name+"/"+o.name, func(t *testing.T) {
				ctx := context.Background()
				r, err := NewFileReader(ctx, fx.m, fx.root)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if got, err := r.Seek(o.off, io.SeekStart); err != nil || got != o.off {
					t.Fatalf("Seek(%d) = %d, %v", o.off, got, err)
				}
				fx.m.mu.Lock()
				before := fx.m.gets
				fx.m.mu.Unlock()
				one := make([]byte, 1)
				n, err := r.Read(one)
				fx.m.mu.Lock()
				gets := fx.m.gets - before
				fx.m.mu.Unlock()
				if o.off == size {
					if n != 0 || err != io.EOF {
						t.Fatalf("Read at size = %d, %v; want 0, EOF", n, err)
					}
					return
				}
				if err != nil || n != 1 || one[0] != fx.data[o.off] {
					t.Fatalf("Read at %d = %d %x, %v; want %x", o.off, n, one[:n], err, fx.data[o.off])
				}
				if gets > fx.depth {
					t.Fatalf("a one-byte read at %d fetched %d blocks, the path has %d", o.off, gets, fx.depth)
				}
				rest, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(rest, fx.data[o.off+1:]) {
					t.Fatalf("bytes after %d differ (%d bytes read, want %d)", o.off, len(rest), size-o.off-1)
				}
			})
		}
	}
}

// TestSeekErrors checks that offsets outside the file are refused and
// leave the position where it was.
func TestSeekErrors(t *testing.T) {
	fx := seekFixtures(t)[1]
	size := int64(len(fx.data))
	tests := []struct {
		name   string
		off    int64
		whence int
	}{
		{"past the end", size + 1, io.SeekStart},
		{"past the end from end", 1, io.SeekEnd},
		{"negative", -1, io.SeekStart},
		{"before start from end", -size - 1, io.SeekEnd},
		{"before start from current", -11, io.SeekCurrent},
		{"huge", 1 << 62, io.SeekCurrent},
		{"bad whence", 0, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewFileReader(context.Background(), fx.m, fx.root)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.Seek(10, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Seek(tt.off, tt.whence); !errors.Is(err, ErrSeek) {
				t.Fatalf("Seek(%d, %d) err = %v, want ErrSeek", tt.off, tt.whence, err)
			}
			got, err := io.ReadAll(io.LimitReader(r, 100))
			if err != nil || !bytes.Equal(got, fx.data[10:110]) {
				t.Fatalf("after a refused seek read %d bytes (%v), not the bytes at 10", len(got), err)
			}
		})
	}
}

// TestSeekSequence interleaves reads and seeks of every whence, as
// http.ServeContent does for multi-range requests, and compares every
// range with the original.
func TestSeekSequence(t *testing.T) {
	for _, fx := range seekFixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			size := int64(len(fx.data))
			r, err := NewFileReader(context.Background(), fx.m, fx.root)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if end, err := r.Seek(0, io.SeekEnd); err != nil || end != size {
				t.Fatalf("Seek end = %d, %v; want %d", end, err, size)
			}
			rng := rand.New(rand.NewPCG(uint64(size), 1))
			pos := size
			for i := range 60 {
				var want int64
				switch i % 3 {
				case 0:
					want = rng.Int64N(size + 1)
					if _, err := r.Seek(want, io.SeekStart); err != nil {
						t.Fatal(err)
					}
				case 1:
					d := rng.Int64N(size+1) - pos
					want = pos + d
					if got, err := r.Seek(d, io.SeekCurrent); err != nil || got != want {
						t.Fatalf("Seek(%d, current) = %d, %v; want %d", d, got, err, want)
					}
				case 2:
					d := -rng.Int64N(size + 1)
					want = size + d
					if got, err := r.Seek(d, io.SeekEnd); err != nil || got != want {
						t.Fatalf("Seek(%d, end) = %d, %v; want %d", d, got, err, want)
					}
				}
				n := rng.Int64N(3*int64(fx.leaf)) + 1
				buf := make([]byte, n)
				got, err := io.ReadFull(r, buf)
				end := min(want+n, size)
				if int64(got) != end-want || (err != nil && end == want+n) {
					t.Fatalf("read %d at %d: got %d, %v", n, want, got, err)
				}
				if !bytes.Equal(buf[:got], fx.data[want:end]) {
					t.Fatalf("bytes %d..%d differ", want, end)
				}
				pos = end
				if cur, err := r.Seek(0, io.SeekCurrent); err != nil || cur != pos {
					t.Fatalf("position %d, %v; want %d", cur, err, pos)
				}
			}
			// Back to the start, then WriteTo gives the whole file.
			if _, err := r.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			var all bytes.Buffer
			if _, err := r.WriteTo(&all); err != nil || !bytes.Equal(all.Bytes(), fx.data) {
				t.Fatalf("WriteTo after seek: %d bytes, %v", all.Len(), err)
			}
		})
	}
}

// TestSeekAfterClose checks a closed reader refuses to seek and read.
func TestSeekAfterClose(t *testing.T) {
	fx := seekFixtures(t)[1]
	r, err := NewFileReader(context.Background(), fx.m, fx.root)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := r.Seek(0, io.SeekStart); err == nil {
		t.Fatal("Seek after Close succeeded")
	}
	if _, err := r.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}
