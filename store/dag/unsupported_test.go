package dag_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/shoal-sync/shoal/chunker/car"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/dag"
)

func sum(t *testing.T, data []byte, code uint64) mh.Multihash {
	t.Helper()
	m, err := mh.Sum(data, code, -1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// carOf writes a CAR of blocks with the first as its root (car.Writer
// does not check what it is given).
func carOf(t *testing.T, blocks ...unixfs.Block) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := car.NewWriter(&buf, []cid.Cid{blocks[0].Cid})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(b.Cid, b.Data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestImportUnsupported imports CARs holding what shoal does not store:
// each fails with an error that names the codec or hash, and nothing is
// stored; identity CIDs, which need no storing, import and read back.
func TestImportUnsupported(t *testing.T) {
	ctx := context.Background()
	cbor := []byte{0xa1, 0x61, 0x61, 0x01} // {"a": 1}
	dagCBOR := unixfs.Block{Cid: cid.NewCidV1(0x71, sum(t, cbor, mh.SHA2_256)), Data: cbor}
	dagJSON := unixfs.Block{Cid: cid.NewCidV1(0x0129, sum(t, []byte(`{"a":1}`), mh.SHA2_256)), Data: []byte(`{"a":1}`)}
	sha512 := unixfs.Block{Cid: cid.NewCidV1(unixfs.CodecRaw, sum(t, []byte("x"), mh.SHA2_512)), Data: []byte("x")}
	dirTo := func(child unixfs.Block) unixfs.Block {
		d, err := unixfs.NewDirectory([]unixfs.DirEntry{{Name: "child", Cid: child.Cid, Tsize: uint64(len(child.Data))}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tt := range []struct {
		name   string
		car    []byte
		is     error
		saying string
	}{
		{"dag-cbor root", carOf(t, dagCBOR), unixfs.ErrCodec, "dag-cbor (0x71)"},
		{"dag-json inside a directory", carOf(t, dirTo(dagJSON), dagJSON), unixfs.ErrCodec, "dag-json (0x129)"},
		{"sha2-512 block", carOf(t, dirTo(sha512), sha512), car.ErrUnsupportedHash, "sha2-512"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			_, err := dag.Import(ctx, s, bytes.NewReader(tt.car))
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.saying) {
				t.Fatalf("import: %v, want %v saying %q", err, tt.is, tt.saying)
			}
		})
	}
	t.Run("identity file in a directory", func(t *testing.T) {
		id := cid.NewCidV1(unixfs.CodecRaw, sum(t, []byte("inline"), mh.IDENTITY))
		dir := dirTo(unixfs.Block{Cid: id, Data: []byte("inline")})
		s := openStore(t)
		roots, err := dag.Import(ctx, s, bytes.NewReader(carOf(t, dir, unixfs.Block{Cid: id, Data: []byte("inline")})))
		if err != nil || len(roots) != 1 {
			t.Fatalf("import: %v", err)
		}
		var out bytes.Buffer
		if _, err := dag.Cat(ctx, s, dir.Cid.String()+"/child", &out); err != nil || out.String() != "inline" {
			t.Fatalf("cat: %q, %v", out.String(), err)
		}
		var exp bytes.Buffer
		if err := dag.Export(ctx, s, dir.Cid, &exp); err != nil {
			t.Fatal(err)
		}
		cr, _ := car.NewReader(&exp)
		n := 0
		for {
			if _, _, err := cr.Next(); err != nil {
				break
			}
			n++
		}
		if n != 1 {
			t.Fatalf("export holds %d blocks, want the directory alone (identity blocks are never written)", n)
		}
	})
}
