package testcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPullOnFullDisk joins a folder into a small tmpfs the test mounts:
// the pull stops cleanly with a clear error (no partial file at the
// target), and completes once the filesystem has room again.
func TestPullOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs of its own")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(mnt, "b")
	write(t, filepath.Join(da, "small.txt"), []byte("fits"))
	write(t, filepath.Join(da, "big.bin"), random(9, 12<<20))
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	Until(t, syncTimeout, []*Node{b}, "B stops on the full disk", func() error {
		st := b.Status()[0]
		if st.State != "stopped" || !strings.Contains(st.Error, "no space left on device") {
			return fmt.Errorf("B is %s: %q", st.State, st.Error)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(db, "big.bin")); err == nil {
		t.Fatal("a partial big.bin is at the target")
	}
	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	Until(t, 2*syncTimeout, []*Node{a, b}, "B completes once there is room", func() error { return SameTrees(da, db) })
}
