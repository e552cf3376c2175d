package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

var ctx = context.Background()

func testPutGet(t *testing.T, s store.Store) {
	// Sizes around the varint and value-threshold boundaries a store may
	// use to compute lengths.
	sizes := []int{0, 1, 100, 1023, 1024, 1025, 16383, 16384, 16385, 65536, 262144, 2097151, 2097152}
	var blocks []block
	for _, n := range sizes {
		blocks = append(blocks, rawBlock(fmt.Sprintf("putget-%d", n), n))
	}
	putAll(t, s, blocks)
	for _, blk := range blocks {
		t.Run(fmt.Sprint(len(blk.data)), func(t *testing.T) {
			mustGet(t, s, blk)
			if !has(t, s, blk.c) {
				t.Fatal("Has = false after Put")
			}
			n, err := s.Size(ctx, blk.c)
			if err != nil || n != len(blk.data) {
				t.Fatalf("Size = %d, %v; want %d", n, err, len(blk.data))
			}
		})
	}
	// The CIDv0 and the dag-pb CIDv1 of the same bytes share a multihash:
	// the store keys blocks by multihash.
	v0 := cid.NewCidV0(blocks[2].c.Hash())
	mustGet(t, s, block{v0, blocks[2].data})
	// Put again: still one block, same bytes.
	putAll(t, s, blocks[2:3])
	mustGet(t, s, blocks[2])
}

func testNotFound(t *testing.T, s store.Store) {
	blk := rawBlock("absent", 10)
	wantMissing(t, s, blk.c)
	if _, err := s.Size(ctx, blk.c); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Size of absent block = %v, want ErrNotFound", err)
	}
}

func testUnsupportedCid(t *testing.T, s store.Store) {
	data := []byte("sha2-512 block")
	c := otherHashCid(t, data)
	b := s.NewBatch(ctx)
	defer b.Discard()
	if err := b.Put(c, data); !errors.Is(err, store.ErrUnsupportedCid) {
		t.Fatalf("Put of sha2-512 CID = %v, want ErrUnsupportedCid", err)
	}
	if err := b.Pin(c, store.PinRecursive); !errors.Is(err, store.ErrUnsupportedCid) {
		t.Fatalf("batch Pin of sha2-512 CID = %v, want ErrUnsupportedCid", err)
	}
	if err := s.Pin(ctx, c, store.PinDirect); !errors.Is(err, store.ErrUnsupportedCid) {
		t.Fatalf("Pin of sha2-512 CID = %v, want ErrUnsupportedCid", err)
	}
	if _, err := s.Get(ctx, c); !errors.Is(err, store.ErrUnsupportedCid) {
		t.Fatalf("Get of sha2-512 CID = %v, want ErrUnsupportedCid", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func testDelete(t *testing.T, s store.Store) {
	a, p := rawBlock("delete-a", 3000), rawBlock("delete-pinned", 10)
	putAll(t, s, []block{a, p}, store.Pin{Cid: p.c, Mode: store.PinDirect})
	if err := s.Delete(ctx, a.c); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, a.c)
	if err := s.Delete(ctx, a.c); err != nil {
		t.Fatalf("Delete of a missing block = %v, want nil", err)
	}
	if err := s.Delete(ctx, p.c); !errors.Is(err, store.ErrPinned) {
		t.Fatalf("Delete of a pinned block = %v, want ErrPinned", err)
	}
	mustGet(t, s, p)
}

func testBatchInvisible(t *testing.T, s store.Store) {
	blocks := []block{rawBlock("inv-1", 10), rawBlock("inv-2", 70000)}
	b := s.NewBatch(ctx)
	defer b.Discard()
	for _, blk := range blocks {
		if err := b.Put(blk.c, blk.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Pin(blocks[0].c, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	for _, blk := range blocks {
		if has(t, s, blk.c) {
			t.Fatalf("block %s visible before Commit", blk.c)
		}
	}
	if pins, _ := s.Pins(ctx); len(pins) != 0 {
		t.Fatalf("pins visible before Commit: %v", pins)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, blk := range blocks {
		mustGet(t, s, blk)
	}
	if pins, _ := s.Pins(ctx); len(pins) != 1 || !pins[0].Cid.Equals(blocks[0].c) {
		t.Fatalf("pins after Commit = %v, want %s", pins, blocks[0].c)
	}
}

func testBatchDiscard(t *testing.T, s store.Store) {
	blk := rawBlock("discard", 5000)
	b := s.NewBatch(ctx)
	if err := b.Put(blk.c, blk.data); err != nil {
		t.Fatal(err)
	}
	if err := b.Pin(blk.c, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	b.Discard()
	b.Discard() // twice is fine
	wantMissing(t, s, blk.c)
	if pins, _ := s.Pins(ctx); len(pins) != 0 {
		t.Fatalf("discarded pin kept: %v", pins)
	}
	// A discarded batch does not hold off collection.
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
}

func testBatchDone(t *testing.T, s store.Store) {
	blk := rawBlock("done", 10)
	b := s.NewBatch(ctx)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b.Discard() // no-op after Commit
	if err := b.Put(blk.c, blk.data); err == nil {
		t.Fatal("Put after Commit succeeded")
	}
	if err := b.Commit(); err == nil {
		t.Fatal("second Commit succeeded")
	}
	b2 := s.NewBatch(ctx)
	b2.Discard()
	if err := b2.Commit(); err == nil {
		t.Fatal("Commit after Discard succeeded")
	}
	wantMissing(t, s, blk.c)
	// A batch whose context ends cannot commit.
	cctx, cancel := context.WithCancel(ctx)
	b3 := s.NewBatch(cctx)
	defer b3.Discard()
	if err := b3.Put(blk.c, blk.data); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := b3.Commit(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with cancelled context = %v, want context.Canceled", err)
	}
	wantMissing(t, s, blk.c)
}

// refFile writes a file of n bytes and returns its path, its bytes and the
// block of each consecutive chunk of size chunk.
func refFile(t *testing.T, name string, n, chunk int) (string, []block, []store.Ref) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	data := rawBlock(name, n).data
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []block
	var refs []store.Ref
	for off := 0; off < n; off += chunk {
		end := min(off+chunk, n)
		blocks = append(blocks, block{unixfs.RawCIDOf(data[off:end]), data[off:end]})
		refs = append(refs, store.Ref{Path: path, Offset: int64(off), Length: uint32(end - off),
			FileSize: fi.Size(), ModTime: fi.ModTime()})
	}
	return path, blocks, refs
}

func putRefs(t *testing.T, s store.Store, blocks []block, refs []store.Ref) {
	t.Helper()
	b := s.NewBatch(ctx)
	defer b.Discard()
	for i := range blocks {
		if err := b.PutRef(blocks[i].c, refs[i]); err != nil {
			t.Fatalf("PutRef %s: %v", blocks[i].c, err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

func testRefs(t *testing.T, s store.Store) {
	tests := []struct {
		name   string
		change func(t *testing.T, path string, mtime time.Time)
	}{
		{"unchanged", nil},
		{"appended", func(t *testing.T, path string, _ time.Time) {
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte("more")); err != nil {
				t.Fatal(err)
			}
		}},
		{"rewritten with new mtime", func(t *testing.T, path string, mtime time.Time) {
			flipByte(t, path, 5)
			if err := os.Chtimes(path, mtime, mtime.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", func(t *testing.T, path string, _ time.Time) {
			if err := os.Truncate(path, 100); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted", func(t *testing.T, path string, _ time.Time) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"bytes changed, size and mtime restored", func(t *testing.T, path string, mtime time.Time) {
			for _, off := range []int64{0, 40000, 70000, 99999} { // a byte in every block
				flipByte(t, path, off)
			}
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, blocks, refs := refFile(t, "ref-"+strings.ReplaceAll(tc.name, " ", "-"), 100000, 32768)
			putRefs(t, s, blocks, refs)
			if tc.change == nil {
				for _, blk := range blocks {
					mustGet(t, s, blk)
				}
				return
			}
			tc.change(t, path, refs[0].ModTime)
			for _, blk := range blocks {
				got, err := s.Get(ctx, blk.c)
				if !errors.Is(err, store.ErrRefChanged) {
					t.Fatalf("Get %s after the file changed = %d bytes, %v; want ErrRefChanged", blk.c, len(got), err)
				}
				if got != nil {
					t.Fatalf("Get returned %d bytes with its error", len(got))
				}
				if !strings.Contains(err.Error(), path) {
					t.Fatalf("error %q does not name the file %s", err, path)
				}
				// A reference that no longer reads back is dropped: the
				// block is missing, for a fetch to bring it again.
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Get %s after the file changed = %v; want it to wrap ErrNotFound too (dropped)", blk.c, err)
				}
				if has(t, s, blk.c) {
					t.Fatal("Has = true for a reference that no longer reads back")
				}
			}
		})
	}
}

// flipByte inverts the byte at off in the file.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func testRefSize(t *testing.T, s store.Store) {
	path, blocks, refs := refFile(t, "refsize", 5000, 3000)
	putRefs(t, s, blocks, refs)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for i, blk := range blocks {
		n, err := s.Size(ctx, blk.c)
		if err != nil || n != int(refs[i].Length) {
			t.Fatalf("Size of reference = %d, %v; want %d", n, err, refs[i].Length)
		}
	}
}

func testCopyAndRef(t *testing.T, s store.Store) {
	path, blocks, refs := refFile(t, "copyref", 3000, 1500)
	// blocks[0]: reference, then a copy: the copy wins and outlives the file.
	putRefs(t, s, blocks[:1], refs[:1])
	putAll(t, s, blocks[:1])
	// blocks[1]: copy, then a reference: it stays a copy.
	putAll(t, s, blocks[1:])
	putRefs(t, s, blocks[1:], refs[1:])
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for _, blk := range blocks {
		mustGet(t, s, blk)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks != 2 || st.Refs != 0 || st.DataBytes != 3000 {
		t.Fatalf("Stats = %+v, want 2 copies of 3000 bytes and no references", st)
	}
}

func testBadRef(t *testing.T, s store.Store) {
	_, blocks, refs := refFile(t, "badref", 100, 100)
	tests := []struct {
		name string
		edit func(r *store.Ref)
	}{
		{"relative path", func(r *store.Ref) { r.Path = "rel/file" }},
		{"past end", func(r *store.Ref) { r.Offset = 50 }},
		{"negative offset", func(r *store.Ref) { r.Offset = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := refs[0]
			tc.edit(&r)
			b := s.NewBatch(ctx)
			defer b.Discard()
			if err := b.PutRef(blocks[0].c, r); err == nil {
				t.Fatalf("PutRef(%+v) succeeded", r)
			}
		})
	}
}
