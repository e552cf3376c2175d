package car

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/shoal-sync/shoal/chunker/unixfs"
)

const (
	vectors = "../../testdata/vectors"
	treeCID = "bafybeietbxsukkfzd2gghzmjxculomeoceyqy3nepwjee43w2oaq66uwfm"
)

// blockMap is an in-memory unixfs.Getter; blocks reach it only after the
// CAR reader verified them.
type blockMap map[string][]byte

func (m blockMap) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	d, ok := m[c.KeyString()]
	if !ok {
		return nil, fmt.Errorf("block %s not found", c)
	}
	return d, nil
}

func readAll(t testing.TB, data []byte) ([]cid.Cid, blockMap, []cid.Cid) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	m := blockMap{}
	var order []cid.Cid
	for {
		c, d, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := m[c.KeyString()]; dup {
			t.Fatalf("block %s twice", c)
		}
		m[c.KeyString()] = d
		order = append(order, c)
	}
	if r.Offset() != int64(len(data)) {
		t.Fatalf("reader consumed %d of %d bytes", r.Offset(), len(data))
	}
	return r.Roots(), m, order
}

// TestTreeCAR reads kubo's tree.car, verifies every block, and rebuilds
// every file of the tree from it byte for byte.
func TestTreeCAR(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(vectors, "tree.car"))
	if err != nil {
		t.Fatal(err)
	}
	roots, m, _ := readAll(t, data)
	if len(roots) != 1 || roots[0].String() != treeCID {
		t.Fatalf("roots %v, want [%s]", roots, treeCID)
	}
	ctx := context.Background()
	files := 0
	err = filepath.WalkDir(filepath.Join(vectors, "tree"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(vectors, "tree"), p)
		c, err := unixfs.Resolve(ctx, m, roots[0], filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		fr, err := unixfs.NewFileReader(ctx, m, c)
		if err != nil {
			return err
		}
		got, err := io.ReadAll(fr)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes from the CAR differ from the file (%d bytes)", rel, len(got), len(want))
		}
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 5 {
		t.Fatalf("checked %d files, want 5", files)
	}
	// The CAR holds exactly the DAG of the root, nothing more.
	walked := 0
	if err := unixfs.Walk(ctx, m, roots[0], func(cid.Cid, []byte) error { walked++; return nil }); err != nil {
		t.Fatal(err)
	}
	if walked != len(m) {
		t.Fatalf("DAG has %d blocks, CAR %d", walked, len(m))
	}
}

// TestRoundTrip exports tree.car's DAG with Writer (putting every block
// twice) and reads it back: same root, same blocks, same header bytes as
// kubo's, each block once.
func TestRoundTrip(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(vectors, "tree.car"))
	if err != nil {
		t.Fatal(err)
	}
	roots, m, _ := readAll(t, orig)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, roots)
	if err != nil {
		t.Fatal(err)
	}
	hdrLen := buf.Len()
	if !bytes.Equal(buf.Bytes(), orig[:hdrLen]) {
		t.Fatalf("header %x differs from kubo's %x", buf.Bytes(), orig[:hdrLen])
	}
	ctx := context.Background()
	for range 2 {
		err := unixfs.Walk(ctx, m, roots[0], func(c cid.Cid, d []byte) error { return w.Put(c, d) })
		if err != nil {
			t.Fatal(err)
		}
	}
	roots2, m2, order := readAll(t, buf.Bytes())
	if len(roots2) != 1 || !roots2[0].Equals(roots[0]) {
		t.Fatalf("roots %v", roots2)
	}
	if len(m2) != len(m) {
		t.Fatalf("%d blocks, want %d", len(m2), len(m))
	}
	for k, d := range m {
		if !bytes.Equal(m2[k], d) {
			t.Fatal("block differs after round trip")
		}
	}
	if !order[0].Equals(roots[0]) {
		t.Fatalf("first block %s, want the root", order[0])
	}
	if buf.Len() != len(orig) {
		t.Fatalf("export is %d bytes, kubo's %d", buf.Len(), len(orig))
	}
	if _, err := NewWriter(io.Discard, nil); !errors.Is(err, ErrNoRoots) {
		t.Fatalf("writer without roots: %v", err)
	}
}

func uvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func withHeader(h []byte, rest ...[]byte) []byte {
	b := append(uvarint(uint64(len(h))), h...)
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

func section(c cid.Cid, data []byte) []byte {
	b := append(uvarint(uint64(c.ByteLen()+len(data))), c.Bytes()...)
	return append(b, data...)
}

func TestMalformed(t *testing.T) {
	data := []byte("hello world\n")
	leaf := cid.NewCidV1(0x55, mustSum(t, data, mh.SHA2_256))
	hdr := encodeHeader([]cid.Cid{leaf})
	good := withHeader(hdr, section(leaf, data))
	if _, m, _ := readAll(t, good); len(m) != 1 {
		t.Fatal("good CAR does not read")
	}
	sha512Leaf := cid.NewCidV1(0x55, mustSum(t, data, mh.SHA2_512))
	identity := cid.NewCidV1(0x55, mustSum(t, data, mh.IDENTITY))
	cborStr := func(s string) []byte { return append(appendHead(nil, majText, uint64(len(s))), s...) }
	version := func(v uint64) []byte { return append(cborStr("version"), appendHead(nil, majUint, v)...) }
	roots := append(append(cborStr("roots"), appendHead(nil, majArray, 1)...),
		append(append(appendHead(nil, majTag, 42), appendHead(nil, majBytes, uint64(leaf.ByteLen()+1))...), append([]byte{0}, leaf.Bytes()...)...)...)
	mapOf := func(n uint64, parts ...[]byte) []byte {
		return append(appendHead(nil, majMap, n), bytes.Join(parts, nil)...)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty input", nil, ErrTruncated},
		{"truncated header varint", []byte{0x80}, ErrTruncated},
		{"non-minimal header varint", []byte{0x80, 0x00}, ErrMalformed},
		{"overlong varint", bytes.Repeat([]byte{0xff}, 10), ErrMalformed},
		{"zero header length", []byte{0x00}, ErrMalformed},
		{"header too large", uvarint(MaxHeaderSize + 1), ErrTooLarge},
		{"truncated header", good[:10], ErrTruncated},
		{"header not a map", withHeader(appendHead(nil, majArray, 0)), ErrMalformed},
		{"CARv2 pragma", withHeader(mapOf(1, version(2))), ErrVersion},
		{"version 2 with roots", withHeader(mapOf(2, roots, version(2))), ErrVersion},
		{"no roots key", withHeader(mapOf(1, version(1))), ErrNoRoots},
		{"empty roots", withHeader(mapOf(2, append(cborStr("roots"), appendHead(nil, majArray, 0)...), version(1))), ErrNoRoots},
		{"no version", withHeader(mapOf(1, roots)), ErrMalformed},
		{"duplicate version", withHeader(mapOf(3, roots, version(1), version(1))), ErrMalformed},
		{"unknown key", withHeader(mapOf(3, roots, version(1), cborStr("x"), cborStr("y"))), ErrMalformed},
		{"trailing header byte", withHeader(append(bytes.Clone(hdr), 0)), ErrMalformed},
		{"root without tag", withHeader(mapOf(2, append(append(cborStr("roots"), appendHead(nil, majArray, 1)...), appendHead(nil, majBytes, 0)...), version(1))), ErrMalformed},
		{"root bad CID", withHeader(mapOf(2, append(append(cborStr("roots"), appendHead(nil, majArray, 1)...), append(appendHead(nil, majTag, 42), appendHead(nil, majBytes, 3)...)...), []byte{0, 1, 2}, version(1))), ErrMalformed},
		{"indefinite map", withHeader([]byte{0xbf, 0xff}), ErrMalformed},
		{"truncated section varint", withHeader(hdr, []byte{0x81}), ErrTruncated},
		{"bad section varint", withHeader(hdr, []byte{0x80, 0x00}), ErrMalformed},
		{"zero-length section", withHeader(hdr, []byte{0x00}), ErrMalformed},
		{"section too large", withHeader(hdr, uvarint(maxSection+1)), ErrTooLarge},
		{"truncated section", good[:len(good)-1], ErrTruncated},
		{"bad CID in section", withHeader(hdr, []byte{3, 1, 0x55, 0x12}), ErrMalformed},
		{"hash mismatch", flipped, ErrHashMismatch},
		{"sha2-512 block", withHeader(hdr, section(sha512Leaf, data)), ErrUnsupportedHash},
		{"identity block with other bytes", withHeader(hdr, section(identity, []byte("not its digest"))), ErrHashMismatch},
	}
	for _, tt := range tests {
		err := readErr(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), "byte ") && tt.want != ErrNoRoots && tt.want != ErrVersion {
			t.Errorf("%s: error %q names no byte offset", tt.name, err)
		}
	}
}

func readErr(in []byte) error {
	r, err := NewReader(bytes.NewReader(in))
	if err != nil {
		return err
	}
	for {
		_, _, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func mustSum(t testing.TB, data []byte, code uint64) mh.Multihash {
	h, err := mh.Sum(data, code, -1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// FuzzReader: arbitrary input never panics or over-allocates, and every
// block the reader returns hashes to its CID.
func FuzzReader(f *testing.F) {
	tree, err := os.ReadFile(filepath.Join(vectors, "tree.car"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tree)
	for _, n := range []int{0, 1, 30, 59, 60, 61, 100, 400, len(tree) / 2, len(tree) - 1} {
		f.Add(tree[:n])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := NewReader(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(r.Roots()) == 0 {
			t.Fatal("reader accepted a header without roots")
		}
		for {
			c, d, err := r.Next()
			if err != nil {
				return
			}
			sum := sha256.Sum256(d)
			dec, _ := mh.Decode(c.Hash())
			if !bytes.Equal(dec.Digest, sum[:]) {
				t.Fatalf("block %s returned with bytes that do not match", c)
			}
		}
	})
}
