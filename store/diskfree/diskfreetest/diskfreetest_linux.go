package diskfreetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory and
// returns it; it is unmounted when the test ends. It skips the test, saying
// why, where that cannot be done (not Linux, not root).
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("disk-full test: needs Linux to mount a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Skip("disk-full test: needs root to mount a tmpfs of its own")
	}
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("disk-full test: cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file at path until the filesystem has no byte left and
// returns its size. Remove the file to give the space back.
func Fill(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for len(buf) > 0 {
		k, err := f.Write(buf)
		n += int64(k)
		switch {
		case errors.Is(err, syscall.ENOSPC):
			buf = buf[:len(buf)/2] // fill the last blocks too
		case err != nil:
			t.Fatal(err)
		}
	}
	return n
}

// Resize gives the tmpfs that Mount mounted on dir a new size: space
// coming back, as when other files go.
func Resize(t testing.TB, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Fatalf("resize the tmpfs on %s: %v", dir, err)
	}
}
