package badgerstore

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// TestGetInto: GetInto returns the block's bytes, in the given buffer's
// memory when it is large enough, for copies and references alike, and
// refuses a reference whose file changed.
func TestGetInto(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	copyData := bytes.Repeat([]byte("copy"), 3000)
	refData := bytes.Repeat([]byte("ref!"), 5000)
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, append([]byte("head"), refData...), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	copyCid := unixfs.RawCID(sha256.Sum256(copyData))
	refCid := unixfs.RawCID(sha256.Sum256(refData))
	b := s.NewBatch(ctx)
	if err := b.Put(copyCid, copyData); err != nil {
		t.Fatal(err)
	}
	ref := store.Ref{Path: path, Offset: 4, Length: uint32(len(refData)), FileSize: fi.Size(), ModTime: fi.ModTime()}
	if err := b.PutRef(refCid, ref); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		c      cid.Cid
		want   []byte
		bufCap int
		reuses bool
	}{
		{"copy, large buffer", copyCid, copyData, 64 << 10, true},
		{"copy, small buffer", copyCid, copyData, 10, false},
		{"copy, no buffer", copyCid, copyData, 0, false},
		{"reference, large buffer", refCid, refData, 64 << 10, true},
		{"reference, exact buffer", refCid, refData, len(refData), true},
		{"reference, small buffer", refCid, refData, 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 0, tt.bufCap)
			got, err := s.GetInto(ctx, tt.c, buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatal("bytes differ")
			}
			shared := cap(buf) > 0 && &got[:1][0] == &buf[:1][0]
			if shared != tt.reuses {
				t.Fatalf("result in the buffer's memory: %v, want %v", shared, tt.reuses)
			}
		})
	}
	// The file changes under the reference: refused, whatever the buffer.
	if err := os.WriteFile(path, []byte("something else entirely"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetInto(ctx, refCid, make([]byte, 0, 64<<10)); !errors.Is(err, store.ErrRefChanged) {
		t.Fatalf("GetInto after the file changed = %d bytes, %v; want ErrRefChanged", len(got), err)
	}
}
