package badgerstore

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// TestTrimMapped writes 128 MiB through one batch and checks that the
// value log does not stay resident (Linux) and that every block still
// reads back intact after its pages were advised out.
func TestTrimMapped(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 128 MiB")
	}
	const n, size = 2048, 64 << 10
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	var before rssPeak
	before.sample()
	block := func(i int) []byte {
		b := make([]byte, size)
		for off := 0; off < size; off += 32 {
			sum := sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i*size+off)))
			copy(b[off:], sum[:])
		}
		return b
	}
	b := s.NewBatch(ctx)
	defer b.Discard()
	for i := range n {
		data := block(i)
		if err := b.Put(unixfs.RawCIDOf(data), data); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	var after rssPeak
	after.sample()
	if runtime.GOOS == "linux" && before.file > 0 {
		if grew := (after.file - before.file) >> 20; grew > 80 {
			t.Errorf("file-backed RSS grew by %d MiB writing 128 MiB; the value log stays mapped", grew)
		}
	}
	for i := range n {
		data := block(i)
		got, err := s.Get(ctx, unixfs.RawCIDOf(data))
		if err != nil || string(got) != string(data) {
			t.Fatalf("block %d after trim: %d bytes, %v", i, len(got), err)
		}
	}
}
