package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// rawCID is the raw-leaf CID of data (the unixfs package imports this one).
func rawCID(t *testing.T, data []byte) cid.Cid {
	t.Helper()
	sum, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, sum)
}

// writeRef writes data to path and returns the reference to its bytes
// [off, off+n) and their CID.
func writeRef(t *testing.T, path string, data []byte, off, n int) (Ref, cid.Cid) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil { // a new inode each time
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return NewRef(path, fi, int64(off), uint32(n)), rawCID(t, data[off:off+n])
}

// openDeleted reports whether this process holds path open although it
// was removed (Linux: /proc/self/fd); ok is false where it cannot tell.
func openDeleted(path string) (open, ok bool) {
	if runtime.GOOS != "linux" {
		return false, false
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false, false
	}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && l == path+" (deleted)" {
			return true, true
		}
	}
	return false, true
}

// TestRefFiles: reads through held files return the referenced bytes and
// hold the file open; a file replaced at its path is read from the new
// file, not reported stale; one changed in place is stale; a removed file
// is let go once idle; Close lets every file go and reads still work.
func TestRefFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows: RefFiles holds no file open")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	var r RefFiles
	defer r.Close()

	ref, c := writeRef(t, path, []byte("0123456789abcdef"), 4, 8)
	for range 3 {
		got, err := r.ReadRefForPeer(c, ref, nil)
		if err != nil || string(got) != "456789ab" {
			t.Fatalf("read: %q, %v", got, err)
		}
	}
	if r.Held() != 1 {
		t.Fatalf("%d files held after reads of one, want 1", r.Held())
	}

	// Replaced by rename, the scanner recorded the new file: the held
	// old file does not match, the path is opened again.
	ref2, c2 := writeRef(t, path, []byte("fedcba9876543210"), 2, 6)
	if got, err := r.ReadRefForPeer(c2, ref2, nil); err != nil || string(got) != "dcba98" {
		t.Fatalf("read after the file was replaced: %q, %v", got, err)
	}
	// The old reference no longer reads: its file is not at the path,
	// and the held one is the new file now.
	if _, err := r.ReadRefForPeer(c, ref, nil); !errors.Is(err, ErrRefChanged) || !RefStale(err) {
		t.Fatalf("old reference after the replace: %v, want a stale reference", err)
	}

	// Changed in place (appended to): stale, even through a held file.
	if _, err := r.ReadRefForPeer(c2, ref2, nil); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("more"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := r.ReadRefForPeer(c2, ref2, nil); !RefStale(err) {
		t.Fatalf("read after the file grew: %v, want a stale reference", err)
	}

	// Removed: an idle expiry closes the held file, its space is free.
	ref3, c3 := writeRef(t, path, []byte("the third file"), 0, 9)
	if _, err := r.ReadRefForPeer(c3, ref3, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if open, ok := openDeleted(path); ok && !open {
		t.Fatal("the held file is not open (the test would prove nothing)")
	}
	r.mu.Lock()
	for _, h := range r.held {
		h.last = time.Now().Add(-2 * refFilesIdle)
	}
	r.mu.Unlock()
	r.expire()
	if r.Held() != 0 {
		t.Fatalf("%d files held after an idle expiry", r.Held())
	}
	if open, ok := openDeleted(path); ok && open {
		t.Fatal("a removed file is still held open after an idle expiry")
	}

	// After Close, nothing is held and reads open their file each time.
	ref4, c4 := writeRef(t, path, []byte("the fourth file"), 4, 6)
	if _, err := r.ReadRefForPeer(c4, ref4, nil); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if r.Held() != 0 {
		t.Fatalf("%d files held after Close", r.Held())
	}
	if got, err := r.ReadRefForPeer(c4, ref4, nil); err != nil || string(got) != "fourth" || r.Held() != 0 {
		t.Fatalf("read after Close: %q, %v, %d held", got, err, r.Held())
	}
}

// TestRefFilesBound: reads across more files than refFilesMax, from
// several goroutines at once, each get their bytes and never hold more
// than refFilesMax files.
func TestRefFilesBound(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows: RefFiles holds no file open")
	}
	dir := t.TempDir()
	var r RefFiles
	defer r.Close()
	type blk struct {
		ref  Ref
		c    cid.Cid
		want string
	}
	var blks []blk
	for i := range 3 * refFilesMax {
		data := fmt.Appendf(nil, "file %03d with some bytes", i)
		ref, c := writeRef(t, filepath.Join(dir, fmt.Sprint(i)), data, 5, 3)
		blks = append(blks, blk{ref, c, string(data[5:8])})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 5 * len(blks) {
				b := blks[(i*7+g)%len(blks)]
				got, err := r.ReadRefForPeer(b.c, b.ref, nil)
				if err == nil && string(got) != b.want {
					err = fmt.Errorf("%s: %q, want %q", b.ref.Path, got, b.want)
				}
				if n := r.Held(); err == nil && n > refFilesMax {
					err = fmt.Errorf("%d files held, at most %d", n, refFilesMax)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r.Held() == 0 {
		t.Errorf("%d files held after the reads", r.Held())
	}
}
