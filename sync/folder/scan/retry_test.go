package scan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/folder/conflict"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/identity"
)

// TestFileChangingWhileHashed rewrites a large file while the scan hashes
// it. Whatever the timing, the scan either records the content the file
// holds afterwards or reports the path for a rescan: never a root made of
// half the old bytes and half the new. It tries until one scan has seen
// the change mid-hash, so the retry path is known to be exercised.
func TestFileChangingWhileHashed(t *testing.T) {
	ctx := context.Background()
	st, ix := testIndex(t)
	root := t.TempDir()
	abs := filepath.Join(root, "big.bin")
	size := 64 << 20
	retried := false
	for try := byte(0); try < 20 && !retried; try++ {
		old := bytes.Repeat([]byte{try}, size)
		if err := os.WriteFile(abs, old, 0o644); err != nil {
			t.Fatal(err)
		}
		res := make(chan *Result, 1)
		errc := make(chan error, 1)
		started := make(chan struct{})
		go func() {
			close(started)
			r, err := Scan(ctx, Options{Root: root, Store: st, Index: ix})
			res <- r
			errc <- err
		}()
		<-started
		// Rewrite the second half in place while the scan (probably)
		// reads the first.
		f, err := os.OpenFile(abs, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(bytes.Repeat([]byte{try + 100}, size/2), int64(size/2)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		r, err := <-res, <-errc
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(r.Retry, "big.bin") {
			retried = true
			continue
		}
		// The file held old, then (after the write) new: a scan that
		// finished before the write records old, one that began after it
		// new; anything else is a torn read.
		now, err := os.ReadFile(abs)
		if err != nil {
			t.Fatal(err)
		}
		whole := map[string]bool{}
		for _, content := range [][]byte{old, now} {
			cp := filepath.Join(t.TempDir(), "content.bin")
			if err := os.WriteFile(cp, content, 0o644); err != nil {
				t.Fatal(err)
			}
			roots, err := dag.Add(ctx, st, []string{cp}, dag.AddOptions{}, nil)
			if err != nil || len(roots) != 1 {
				t.Fatal(roots, err)
			}
			whole[string(roots[0].Bytes())] = true
		}
		for _, c := range r.Changes {
			if c.Record.Path == "big.bin" && !whole[string(c.Record.Root)] {
				t.Fatalf("try %d: recorded root %x is neither the old content nor the new", try, c.Record.Root)
			}
		}
		if _, err := ix.CommitLocal(ctx, r.Changes); err != nil {
			t.Fatal(err)
		}
	}
	if !retried {
		t.Skip("no scan saw the file change while it hashed it (a very fast or very slow machine); the invariant held every time")
	}
}

// scanSettled scans as the folder engine does: paths the scan asks to
// look at again (changed too recently to trust their timestamps) are
// scanned again once the time it names has passed, and the results joined.
func scanSettled(t *testing.T, ctx context.Context, opt Options, paths ...string) *Result {
	t.Helper()
	res, err := Scan(ctx, opt, paths...)
	if err != nil {
		t.Fatal(err)
	}
	for try := 0; len(res.Retry) > 0; try++ {
		if try > 10 {
			t.Fatalf("still retrying %v", res.Retry)
		}
		<-time.After(res.RetryAfter) // the scanner's own deadline for these paths
		more, err := Scan(ctx, opt, res.Retry...)
		if err != nil {
			t.Fatal(err)
		}
		res.Changes = append(res.Changes, more.Changes...)
		res.Blocks = append(res.Blocks, more.Blocks...)
		res.Errors = append(res.Errors, more.Errors...)
		res.Retry, res.RetryAfter = more.Retry, more.RetryAfter
	}
	return res
}

func TestRacy(t *testing.T) {
	seen := time.Date(2026, 12, 2, 12, 0, 0, 500_000_000, time.UTC)
	for _, c := range []struct {
		name  string
		mtime time.Time
		want  time.Duration
	}{
		{"long ago", seen.Add(-time.Hour), 0},
		{"just before the window", seen.Add(-racyWindow), 0},
		{"10 ms before", seen.Add(-10 * time.Millisecond), racyWindow - 10*time.Millisecond},
		{"in the same instant", seen, racyWindow},
		{"a moment after (written as we looked)", seen.Add(time.Millisecond), racyWindow + time.Millisecond},
		{"an hour in the future", seen.Add(time.Hour), 0},
		{"whole seconds, 1 s before", time.Date(2026, 12, 2, 11, 59, 59, 0, time.UTC), coarseRacyWindow - 1500*time.Millisecond},
		{"whole seconds, 3 s before", time.Date(2026, 12, 2, 11, 59, 57, 0, time.UTC), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := racy(fakeInfo{mtime: c.mtime}, seen); got != c.want {
				t.Errorf("racy = %v, want %v", got, c.want)
			}
		})
	}
}

// fakeInfo is a FileInfo with only an mtime (no ctime: Sys is nil).
type fakeInfo struct{ mtime time.Time }

func (f fakeInfo) Name() string       { return "f" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() os.FileMode  { return 0o644 }
func (f fakeInfo) ModTime() time.Time { return f.mtime }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

// testIndex opens a real badger store and a writable folder index on it,
// both closed when the test ends.
func testIndex(t *testing.T) (*badgerstore.Store, *index.Index) {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	ix, err := index.Open(index.Options{KV: st.KV("f"), Folder: key.ID(), Pub: key.SigningPublicKey(), Key: rw.SigningKey(), Device: 1, Wins: conflict.Wins})
	if err != nil {
		t.Fatal(err)
	}
	return st, ix
}
