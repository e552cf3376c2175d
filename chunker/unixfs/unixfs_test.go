package unixfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestRoundTripNodes decodes every dag-pb node of the vector tree and of a
// multi-level file and checks it re-encodes to the same bytes.
func TestRoundTripNodes(t *testing.T) {
	m := newMemStore()
	addTree(t, m, filepath.Join(vectorsDir, "tree"))
	addFile(t, m, patterned(175*chunk+1, 249))
	nodes := 0
	for k, data := range m.blocks {
		c, err := cid.Cast([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if c.Type() != CodecDagPB {
			continue
		}
		nodes++
		n, err := Decode(c, data)
		if err != nil {
			t.Fatalf("decode %s: %v", c, err)
		}
		if got := n.Encode(); !bytes.Equal(got, data) {
			t.Fatalf("%s re-encodes to %x, want %x", c, got, data)
		}
		if b := n.Block(); !b.Cid.Equals(c) {
			t.Fatalf("re-encoded CID %s, want %s", b.Cid, c)
		}
		pb, err := DecodePBNode(data)
		if err != nil {
			t.Fatal(err)
		}
		if got := EncodePBNode(pb.Links, pb.Data); !bytes.Equal(got, data) {
			t.Fatalf("%s: PBNode round trip differs", c)
		}
	}
	if nodes < 6 {
		t.Fatalf("only %d dag-pb nodes checked", nodes)
	}
}

// TestBigFile builds a file of more than 174 chunks (a two-level tree) and
// reads it back byte-equal, through Read with odd buffer sizes and WriteTo.
func TestBigFile(t *testing.T) {
	sizes := []int{174 * chunk, 174*chunk + 1, 175*chunk + 1}
	if !testing.Short() {
		sizes = append(sizes, 174*174*chunk/64) // many small leaves below
	}
	for _, size := range sizes {
		data := patterned(size, 241)
		m := newMemStore()
		root, tsize := addFile(t, m, data)
		ctx := context.Background()
		info, err := Stat(ctx, m, root)
		if err != nil {
			t.Fatal(err)
		}
		if info.Type != TypeFile || info.Size != uint64(size) || info.CumulativeSize != tsize {
			t.Fatalf("size %d: Stat %+v, tsize %d", size, info, tsize)
		}
		r, err := NewFileReader(ctx, m, root)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		buf := make([]byte, 100003)
		for {
			n, err := r.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("size %d: Read gives %d bytes, not equal", size, got.Len())
		}
		// Walk visits every stored block exactly once.
		visited := map[string]int{}
		if err := Walk(ctx, m, root, func(c cid.Cid, _ []byte) error { visited[c.KeyString()]++; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(visited) != len(m.blocks) {
			t.Fatalf("size %d: Walk visited %d blocks, store has %d", size, len(visited), len(m.blocks))
		}
	}
}

// TestBuilderShape checks kubo's balanced layout: leaves all at one depth,
// nodes full from the left, at most 174 links each.
func TestBuilderShape(t *testing.T) {
	tests := []struct {
		leaves     int
		nodes      int // internal nodes emitted
		rootLinks  int
		rootIsLeaf bool
	}{
		{1, 0, 0, true},
		{2, 1, 2, false},
		{174, 1, 174, false},
		{175, 3, 2, false},
		{174 * 174, 175, 174, false},
		{174*174 + 1, 175 + 3, 2, false},
	}
	for _, tt := range tests {
		var emitted []Block
		b := NewFileBuilder(func(blk Block) error { emitted = append(emitted, blk); return nil })
		for i := range tt.leaves {
			leaf := []byte{byte(i), byte(i >> 8), byte(i >> 16)}
			if err := b.Add(RawCID(sha256.Sum256(leaf)), 3); err != nil {
				t.Fatal(err)
			}
		}
		root, tsize, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if len(emitted) != tt.nodes {
			t.Errorf("%d leaves: %d nodes, want %d", tt.leaves, len(emitted), tt.nodes)
		}
		if tt.rootIsLeaf {
			if root.Type() != CodecRaw || tsize != 3 {
				t.Errorf("%d leaves: root %s tsize %d", tt.leaves, root, tsize)
			}
			continue
		}
		last := emitted[len(emitted)-1]
		if !last.Cid.Equals(root) {
			t.Fatalf("%d leaves: root is not the last emitted node", tt.leaves)
		}
		n, err := Decode(root, last.Data)
		if err != nil {
			t.Fatal(err)
		}
		if len(n.Links) != tt.rootLinks || n.FS.Size() != uint64(3*tt.leaves) {
			t.Errorf("%d leaves: root has %d links, size %d", tt.leaves, len(n.Links), n.FS.Size())
		}
		var tsum uint64
		for _, blk := range emitted {
			n, _ := Decode(blk.Cid, blk.Data)
			if len(n.Links) > MaxLinks {
				t.Fatalf("node with %d links", len(n.Links))
			}
			if blk.Cid.Equals(root) {
				tsum = uint64(len(blk.Data))
				for _, l := range n.Links {
					tsum += l.Tsize
				}
			}
		}
		if tsum != tsize {
			t.Errorf("%d leaves: tsize %d, root says %d", tt.leaves, tsize, tsum)
		}
	}
}

// TestRepeatedLeaves: a file of identical chunks reads back whole, and
// Walk visits the shared leaf once.
func TestRepeatedLeaves(t *testing.T) {
	ctx := context.Background()
	data := make([]byte, 5*chunk+7)
	m := newMemStore()
	root, _ := addFile(t, m, data)
	r, err := NewFileReader(ctx, m, root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	var visits []cid.Cid
	if err := Walk(ctx, m, root, func(c cid.Cid, _ []byte) error { visits = append(visits, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(visits) != 3 || !visits[0].Equals(root) { // root, zero chunk, tail
		t.Fatalf("Walk visited %v", visits)
	}
	stop := errors.New("stop")
	if err := Walk(ctx, m, root, func(cid.Cid, []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Walk does not return fn's error: %v", err)
	}
	delete(m.blocks, visits[2].KeyString())
	if err := Walk(ctx, m, root, func(cid.Cid, []byte) error { return nil }); err == nil {
		t.Fatal("Walk over a missing block succeeded")
	}
}

func TestEmitErrorStops(t *testing.T) {
	boom := errors.New("disk full")
	b := NewFileBuilder(func(Block) error { return boom })
	leaf := RawCIDOf([]byte("x"))
	for range MaxLinks {
		if err := b.Add(leaf, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(leaf, 1); !errors.Is(err, boom) {
		t.Fatalf("Add after failing emit: %v", err)
	}
	if _, _, err := b.Finish(); !errors.Is(err, boom) {
		t.Fatalf("Finish after failing emit: %v", err)
	}
}

func TestDirectory(t *testing.T) {
	a, b := RawCIDOf([]byte("a")), RawCIDOf([]byte("b"))
	blk, err := NewDirectory([]DirEntry{{"zeta", a, 1}, {"Alpha", b, 1}, {"alpha", a, 1}, {"é", b, 1}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Decode(blk.Cid, blk.Data)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range n.Links {
		names = append(names, l.Name)
	}
	if want := []string{"Alpha", "alpha", "zeta", "é"}; !slices.Equal(names, want) {
		t.Fatalf("order %q, want %q", names, want)
	}
	empty, err := NewDirectory(nil)
	if err != nil {
		t.Fatal(err)
	}
	// kubo's empty directory.
	if empty.Cid.String() != "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354" {
		t.Fatalf("empty directory %s", empty.Cid)
	}
	bad := []struct {
		name string
		ents []DirEntry
		want error
	}{
		{"empty name", []DirEntry{{"", a, 1}}, ErrBadName},
		{"dot", []DirEntry{{".", a, 1}}, ErrBadName},
		{"dotdot", []DirEntry{{"..", a, 1}}, ErrBadName},
		{"slash", []DirEntry{{"a/b", a, 1}}, ErrBadName},
		{"nul", []DirEntry{{"a\x00", a, 1}}, ErrBadName},
		{"duplicate", []DirEntry{{"x", a, 1}, {"y", a, 1}, {"x", b, 1}}, ErrBadName},
		{"too large", manyEntries(30000), ErrTooLarge},
	}
	for _, tt := range bad {
		if _, err := NewDirectory(tt.ents); !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := NewDirectory([]DirEntry{{"x", cid.Undef, 0}}); err == nil {
		t.Error("undefined CID accepted")
	}
}

func manyEntries(n int) []DirEntry {
	c := RawCIDOf(nil)
	out := make([]DirEntry, n)
	for i := range out {
		out[i] = DirEntry{Name: strings.Repeat("n", 8) + string(rune('a'+i%26)) + itoa(i), Cid: c}
	}
	return out
}

func itoa(i int) string {
	return string([]byte{byte('0' + i/10000%10), byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}
