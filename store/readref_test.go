package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// TestReadRefForPeer: a block going to a peer is not re-hashed while its
// file's size, mtime, ctime and inode are unchanged (a wrong CID shows it:
// the bytes come back), and is hashed once the ctime moved; a local read
// always hashes; a file replaced by another with the same size and mtime
// is caught by its inode.
func TestReadRefForPeer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := []byte("0123456789abcdef")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ref := store.NewRef(path, fi, 4, 8)
	good, wrong := unixfs.RawCIDOf(data[4:12]), unixfs.RawCIDOf([]byte("other"))
	if got, err := store.ReadRefForPeer(good, ref, nil); err != nil || string(got) != string(data[4:12]) {
		t.Fatalf("for a peer: %q, %v", got, err)
	}
	if ref.Inode == 0 || ref.CTime.IsZero() {
		t.Skip("this platform reports no ctime or inode: every read hashes")
	}
	if got, err := store.ReadRefForPeer(wrong, ref, nil); err != nil || string(got) != string(data[4:12]) {
		t.Fatalf("for a peer, file unchanged: %q, %v; want the bytes, unhashed", got, err)
	}
	if _, err := store.ReadRef(wrong, ref); !errors.Is(err, store.ErrRefChanged) {
		t.Fatalf("local read with a wrong CID: %v, want ErrRefChanged (it hashes)", err)
	}
	// A ctime change (chmod) makes a peer's read hash again.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ReadRefForPeer(wrong, ref, nil); !errors.Is(err, store.ErrRefChanged) {
		t.Fatalf("for a peer after the ctime moved: %v, want it hashed (ErrRefChanged)", err)
	}
	if _, err := store.ReadRefForPeer(good, ref, nil); err != nil {
		t.Fatalf("for a peer after the ctime moved, right bytes: %v", err)
	}
	// Replaced by another file of the same size and mtime: a new inode.
	other := path + ".new"
	if err := os.WriteFile(other, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(other, time.Time{}, fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	keep := path + ".old" // keep the old inode alive so it is not reused
	if err := os.Rename(path, keep); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ReadRef(good, ref); !errors.Is(err, store.ErrRefChanged) {
		t.Fatalf("file replaced: %v, want ErrRefChanged", err)
	}
}
