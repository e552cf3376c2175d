package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/diskfree/diskfreetest"
)

// TestDiskFull fills a small filesystem of the test's own with blocks: the
// write that would go below the floor fails with ENOSPC, not a SIGBUS;
// what was stored reads back; on a disk filled to the last byte the store
// still opens (read-only) and reads; with room again, writes work.
func TestDiskFull(t *testing.T) {
	fs := diskfreetest.Mount(t, 200<<20)
	ctx := context.Background()
	dir := filepath.Join(fs, "blocks")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	rng := rand.NewChaCha8([32]byte{7})
	block := func() (cid.Cid, []byte) {
		data := make([]byte, 64<<10)
		rng.Read(data)
		return unixfs.RawCIDOf(data), data
	}
	var kept []cid.Cid
	var data [][]byte
	var werr error
	for i := 0; werr == nil && i < 200; i++ { // 200 batches of 1 MiB: more than fits
		b := s.NewBatch(ctx)
		var cs []cid.Cid
		var ds [][]byte
		for range 16 {
			c, d := block()
			if werr = b.Put(c, d); werr != nil {
				break
			}
			cs, ds = append(cs, c), append(ds, d)
		}
		if werr == nil {
			werr = b.Commit()
		}
		b.Discard()
		if werr == nil {
			kept, data = append(kept, cs...), append(data, ds...)
		}
	}
	if !errors.Is(werr, syscall.ENOSPC) || !strings.Contains(werr.Error(), "no space left on device") {
		t.Fatalf("writing past the floor: %v, want ENOSPC", werr)
	}
	t.Logf("stored %d blocks, then: %v", len(kept), werr)
	check := func(when string) {
		for i, c := range kept {
			got, err := s.Get(ctx, c)
			if err != nil || !bytes.Equal(got, data[i]) {
				t.Fatalf("%s: block %d of %d: %v", when, i, len(kept), err)
			}
		}
	}
	check("at the floor")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Filled to the last byte by someone else: the store opens read-only.
	filler := filepath.Join(fs, "filler")
	diskfreetest.Fill(t, filler)
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	check("opened on a full disk")
	if _, err := s.Stats(ctx); err != nil {
		t.Fatalf("stats on a full disk: %v", err)
	}
	b := s.NewBatch(ctx)
	c, d := block()
	b.Put(c, d)
	if err := b.Commit(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Room again: writes work.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{MinFree: DefaultMinFree}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx); err != nil { // nothing pinned: frees room
		t.Fatal(err)
	}
	b = s.NewBatch(ctx)
	if err := b.Put(c, d); err != nil {
		t.Fatal(err)
	}
	if err := b.Pin(c, store.PinDirect); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("write with room again: %v", err)
	}
	if got, err := s.Get(ctx, c); err != nil || !bytes.Equal(got, d) {
		t.Fatalf("read back: %v", err)
	}
}
