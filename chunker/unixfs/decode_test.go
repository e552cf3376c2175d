package unixfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"
)

func u64(v uint64) *uint64 { return &v }

// pbBytes builds raw protobuf bytes from (field, wiretype, value) triples so
// tests can write malformed nodes by hand.
func field(b []byte, num protowire.Number, v any) []byte {
	switch v := v.(type) {
	case []byte:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	case uint64:
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, v)
	case uint32:
		b = protowire.AppendTag(b, num, protowire.Fixed32Type)
		return protowire.AppendFixed32(b, v)
	}
	panic("bad field value")
}

func TestDecodePBNodeMalformed(t *testing.T) {
	leaf := RawCIDOf([]byte("x"))
	goodLink := field(field(field(nil, 1, leaf.Bytes()), 2, []byte("n")), 3, uint64(1))
	dirData := (&FSData{Type: TDirectory}).Encode()
	tests := []struct {
		name string
		data []byte
	}{
		{"truncated tag", []byte{0x80}},
		{"truncated length", []byte{0x0a, 0x05, 1, 2}},
		{"varint Data", field(nil, 1, uint64(3))},
		{"unknown field", field(nil, 3, []byte{})},
		{"duplicate Data", field(field(nil, 1, dirData), 1, dirData)},
		{"link without Hash", field(nil, 2, field(nil, 2, []byte("n")))},
		{"link bad CID", field(nil, 2, field(nil, 1, []byte{1, 0x55, 0x12, 5, 1}))},
		{"link CID trailing byte", field(nil, 2, field(nil, 1, append(leaf.Bytes(), 0)))},
		{"link fields out of order", field(nil, 2, field(field(nil, 2, []byte("n")), 1, leaf.Bytes()))},
		{"link duplicate Hash", field(nil, 2, field(field(nil, 1, leaf.Bytes()), 1, leaf.Bytes()))},
		{"link Tsize as bytes", field(nil, 2, field(field(nil, 1, leaf.Bytes()), 3, []byte{1}))},
		{"link unknown field", field(nil, 2, field(field(nil, 1, leaf.Bytes()), 4, uint64(1)))},
		{"link truncated", field(nil, 2, goodLink[:len(goodLink)-1])},
		{"trailing junk", append(field(nil, 1, dirData), 0x00)},
	}
	for _, tt := range tests {
		if _, err := DecodePBNode(tt.data); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: err %v, want ErrDecode", tt.name, err)
		}
	}
	// Data before Links is accepted (old IPFS data), and Links round-trip.
	old := append(field(nil, 1, dirData), field(nil, 2, goodLink)...)
	n, err := DecodePBNode(old)
	if err != nil {
		t.Fatalf("Data-first node rejected: %v", err)
	}
	if len(n.Links) != 1 || n.Links[0].Name != "n" || !n.Links[0].Cid.Equals(leaf) || !bytes.Equal(n.Data, dirData) {
		t.Fatalf("Data-first node decoded as %+v", n)
	}
	// The empty block is a valid dag-pb node without Data.
	if n, err := DecodePBNode(nil); err != nil || n.HasData || len(n.Links) != 0 {
		t.Fatalf("empty node: %+v, %v", n, err)
	}
}

func TestDecodeFSDataMalformed(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"no Type", field(nil, 3, uint64(5))},
		{"unknown Type", field(nil, 1, uint64(9))},
		{"Type as bytes", field(nil, 1, []byte{2})},
		{"duplicate Type", field(field(nil, 1, uint64(2)), 1, uint64(2))},
		{"duplicate filesize", field(field(field(nil, 1, uint64(2)), 3, uint64(1)), 3, uint64(1))},
		{"Data as varint", field(field(nil, 1, uint64(2)), 2, uint64(1))},
		{"unknown field", field(field(nil, 1, uint64(2)), 9, uint64(1))},
		{"mode > 32 bits", field(field(nil, 1, uint64(2)), 7, uint64(1)<<33)},
		{"mtime no seconds", field(field(nil, 1, uint64(2)), 8, field(nil, 2, uint32(5)))},
		{"mtime nanos too big", field(field(nil, 1, uint64(2)), 8, field(field(nil, 1, uint64(5)), 2, uint32(1e9)))},
		{"mtime nanos as varint", field(field(nil, 1, uint64(2)), 8, field(field(nil, 1, uint64(5)), 2, uint64(7)))},
		{"bad packed blocksizes", field(field(nil, 1, uint64(2)), 4, []byte{0x80})},
		{"truncated", field(nil, 1, uint64(300))[:2]},
	}
	for _, tt := range tests {
		if _, err := DecodeFSData(tt.data); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: err %v, want ErrDecode", tt.name, err)
		}
	}
	// Every field round-trips.
	mode := uint32(0o644)
	full := &FSData{Type: TFile, Data: []byte("hi"), FileSize: u64(2), BlockSizes: []uint64{0, 2},
		HashType: u64(0x22), Fanout: u64(256), Mode: &mode, Mtime: &UnixTime{Seconds: -5, Nanos: 7}}
	enc := full.Encode()
	got, err := DecodeFSData(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), enc) || *got.Mode != mode || got.Mtime.Seconds != -5 || got.Mtime.Nanos != 7 {
		t.Fatalf("round trip: %+v", got)
	}
	// Packed blocksizes decode to the same list.
	packed := field(field(field(nil, 1, uint64(2)), 3, uint64(3)), 4, protowire.AppendVarint(protowire.AppendVarint(nil, 1), 2))
	got, err = DecodeFSData(packed)
	if err != nil || len(got.BlockSizes) != 2 || got.BlockSizes[1] != 2 {
		t.Fatalf("packed blocksizes: %+v, %v", got, err)
	}
}

func TestLinks(t *testing.T) {
	m := newMemStore()
	root, _ := addFile(t, m, patterned(3*chunk, 7))
	links, err := Links(root, m.blocks[root.KeyString()])
	if err != nil || len(links) != 3 {
		t.Fatalf("Links: %v, %v", links, err)
	}
	for i, l := range links {
		if l.Type() != CodecRaw {
			t.Fatalf("link %d is %s", i, l)
		}
		if links, err := Links(l, m.blocks[l.KeyString()]); err != nil || links != nil {
			t.Fatalf("raw Links: %v, %v", links, err)
		}
	}
	if _, err := Links(root, []byte{0xff}); !errors.Is(err, ErrDecode) {
		t.Fatalf("bad node: %v", err)
	}
	cbor := cid.NewCidV1(0x71, root.Hash())
	if _, err := Links(cbor, nil); !errors.Is(err, ErrCodec) {
		t.Fatalf("dag-cbor: %v", err)
	}
}

// TestInconsistentDAG: a node whose sizes disagree with its children must
// fail the read, never yield wrong bytes.
func TestInconsistentDAG(t *testing.T) {
	ctx := context.Background()
	data := patterned(3*chunk+10, 13)
	build := func(mutate func(n *Node, m *memStore)) (*memStore, cid.Cid) {
		m := newMemStore()
		root, _ := addFile(t, m, data)
		n, err := Decode(root, m.blocks[root.KeyString()])
		if err != nil {
			t.Fatal(err)
		}
		mutate(n, m)
		blk := n.Block()
		m.put(blk.Cid, blk.Data)
		return m, blk.Cid
	}
	tests := []struct {
		name   string
		mutate func(n *Node, m *memStore)
		want   error
	}{
		{"filesize too big", func(n *Node, _ *memStore) { *n.FS.FileSize++ }, ErrInconsistent},
		{"blocksize wrong", func(n *Node, _ *memStore) { n.FS.BlockSizes[1]--; *n.FS.FileSize-- }, ErrInconsistent},
		{"missing blocksize", func(n *Node, _ *memStore) { n.FS.BlockSizes = n.FS.BlockSizes[:3] }, ErrInconsistent},
		{"swapped leaf", func(n *Node, _ *memStore) { n.Links[3].Cid = n.Links[0].Cid }, ErrInconsistent},
		{"directory child", func(n *Node, m *memStore) {
			d, _ := NewDirectory(nil)
			m.put(d.Cid, d.Data)
			n.Links[3].Cid = d.Cid
		}, ErrInconsistent},
		{"missing leaf", func(n *Node, _ *memStore) { n.Links[2].Cid = RawCIDOf([]byte("absent")) }, nil},
		{"corrupt leaf", func(n *Node, m *memStore) { m.blocks[n.Links[1].Cid.KeyString()] = []byte("bad") }, nil},
	}
	for _, tt := range tests {
		m, root := build(tt.mutate)
		r, err := NewFileReader(ctx, m, root)
		if err == nil {
			var got []byte
			got, err = io.ReadAll(r)
			if err == nil {
				t.Errorf("%s: read %d bytes without error", tt.name, len(got))
				continue
			}
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}
	// A directory is not a file.
	m := newMemStore()
	d, _ := NewDirectory(nil)
	m.put(d.Cid, d.Data)
	if _, err := NewFileReader(ctx, m, d.Cid); !errors.Is(err, ErrNotFile) {
		t.Fatalf("directory read: %v", err)
	}
	if _, err := ListDir(ctx, m, RawCIDOf(nil)); !errors.Is(err, ErrNotDir) {
		t.Fatalf("ListDir of raw: %v", err)
	}
}

func TestResolveAndList(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	root, _ := addTree(t, m, vectorsDir+"/tree")
	links, err := ListDir(ctx, m, root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Name)
	}
	want := []string{"empty", "hello.txt", "sub", "unicodé ñame.txt"}
	if len(names) != len(want) {
		t.Fatalf("names %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("names %q, want %q", names, want)
		}
	}
	c, err := Resolve(ctx, m, root, "sub/pattern-300000.bin")
	if err != nil || c.String() != "bafybeihig3h67ypnp4xnye4nhjye7o7meedx3tkllsikjr25p6lbil4mnu" {
		t.Fatalf("Resolve: %s, %v", c, err)
	}
	if c, err := Resolve(ctx, m, root, ""); err != nil || !c.Equals(root) {
		t.Fatalf("Resolve empty path: %s, %v", c, err)
	}
	if _, err := Resolve(ctx, m, root, "sub/nope"); !errors.Is(err, ErrNoLink) {
		t.Fatalf("missing entry: %v", err)
	}
	if _, err := Resolve(ctx, m, root, "hello.txt/x"); !errors.Is(err, ErrNotDir) {
		t.Fatalf("through a file: %v", err)
	}
	info, err := Stat(ctx, m, root)
	if err != nil || info.Type != TypeDirectory || info.Links != 4 {
		t.Fatalf("Stat dir: %+v, %v", info, err)
	}
	hello, _ := Resolve(ctx, m, root, "hello.txt")
	info, err = Stat(ctx, m, hello)
	if err != nil || info.Type != TypeRaw || info.Size != 12 {
		t.Fatalf("Stat raw: %+v, %v", info, err)
	}
}

// FuzzDecode feeds arbitrary bytes to the dag-pb and UnixFS decoders; any
// node that decodes must re-encode to bytes that decode to the same node.
func FuzzDecode(f *testing.F) {
	m := newMemStore()
	addTree(f, m, vectorsDir+"/tree")
	for k, data := range m.blocks {
		if c, _ := cid.Cast([]byte(k)); c.Type() == CodecDagPB {
			f.Add(data)
		}
	}
	mode := uint32(0o755)
	f.Add(EncodePBNode(nil, (&FSData{Type: TFile, Data: []byte("x"), FileSize: u64(1), Mode: &mode, Mtime: &UnixTime{Seconds: 1, Nanos: 2}}).Encode()))
	f.Add([]byte{})
	dagpb := NodeCID(nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Links(dagpb, data); err != nil && !errors.Is(err, ErrDecode) {
			t.Fatalf("Links error not ErrDecode: %v", err)
		}
		n, err := Decode(dagpb, data)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error not ErrDecode: %v", err)
			}
			return
		}
		enc := n.Encode()
		n2, err := Decode(dagpb, enc)
		if err != nil {
			t.Fatalf("re-encoded node does not decode: %v", err)
		}
		if !bytes.Equal(n2.Encode(), enc) {
			t.Fatal("encoding is not stable")
		}
	})
}

// TestInnerNodeMismatch: an inner node that is consistent by itself but
// holds fewer bytes than its parent says fails the read.
func TestInnerNodeMismatch(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	root, _ := addFile(t, m, patterned(175*chunk+1, 11))
	rn, err := Decode(root, m.blocks[root.KeyString()])
	if err != nil || len(rn.Links) != 2 {
		t.Fatalf("root: %v, %v", rn, err)
	}
	inner := rn.Links[1].Cid
	in, err := Decode(inner, m.blocks[inner.KeyString()])
	if err != nil || len(in.Links) != 2 {
		t.Fatalf("inner: %v, %v", in, err)
	}
	in.Links, in.FS.BlockSizes = in.Links[:1], in.FS.BlockSizes[:1]
	*in.FS.FileSize = in.FS.BlockSizes[0]
	blk := in.Block()
	m.put(blk.Cid, blk.Data)
	rn.Links[1].Cid = blk.Cid
	rblk := rn.Block()
	m.put(rblk.Cid, rblk.Data)
	r, err := NewFileReader(ctx, m, rblk.Cid)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, r); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("read %d bytes, err %v; want ErrInconsistent", n, err)
	}
}

// TestDagPBLeaves reads a file whose leaves are UnixFS nodes carrying their
// bytes in Data (kubo's CIDv0 layout) and whose root carries inline data.
func TestDagPBLeaves(t *testing.T) {
	m := newMemStore()
	parts := [][]byte{[]byte("first "), []byte("second "), []byte("third")}
	var links []Link
	var sizes []uint64
	for _, p := range parts {
		leaf := &Node{FS: &FSData{Type: TFile, Data: p, FileSize: u64(uint64(len(p)))}}
		blk := leaf.Block()
		m.put(blk.Cid, blk.Data)
		links = append(links, Link{Cid: blk.Cid, Tsize: uint64(len(blk.Data))})
		sizes = append(sizes, uint64(len(p)))
	}
	root := &Node{Links: links, FS: &FSData{Type: TFile, Data: []byte("zero "), FileSize: u64(5 + 6 + 7 + 5), BlockSizes: sizes}}
	blk := root.Block()
	m.put(blk.Cid, blk.Data)
	r, err := NewFileReader(context.Background(), m, blk.Cid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "zero first second third" {
		t.Fatalf("read %q, %v", got, err)
	}
}
