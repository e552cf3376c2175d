package testcluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nobody is the user the sharing daemon runs as, so that files this
// root test makes unreadable really are to it.
const nobody = 65534

// TestUnreadablePathsAreSkipped: a daemon that cannot read a file or a
// directory of its folder reports each in status, syncs the rest, and
// never takes them for deleted: a synced file that turns unreadable
// stays on the peers, and one that turns readable is synced.
func TestUnreadablePathsAreSkipped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the daemon as another user")
	}
	base, err := os.MkdirTemp("", "shoal-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	userBin := filepath.Join(base, "shoal")
	copyFile(t, bin, userBin, 0o755)
	home, da := filepath.Join(base, "home"), filepath.Join(base, "a")
	write(t, filepath.Join(da, "ok.txt"), []byte("readable"))
	write(t, filepath.Join(da, "secret.txt"), []byte("only root reads this"))
	write(t, filepath.Join(da, "locked", "inner.txt"), []byte("behind a locked door"))
	for _, p := range []string{home, da, filepath.Join(da, "ok.txt")} {
		os.MkdirAll(p, 0o755)
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Skipf("cannot hand a directory to uid %d: %v", nobody, err)
		}
	}
	// Root's, and closed to others: the daemon cannot read them.
	if err := os.Chmod(filepath.Join(da, "secret.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(da, "locked"), 0o700); err != nil {
		t.Fatal(err)
	}

	a := StartAs(t, userBin, "A", home, nobody, nobody)
	b := Start(t, bin, "B", "--peer", a.Addr())
	db := filepath.Join(t.TempDir(), "b")
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	Until(t, syncTimeout, []*Node{a, b}, "ok.txt on B, the unreadable paths reported on A", func() error {
		if err := sameFile(filepath.Join(da, "ok.txt"), filepath.Join(db, "ok.txt")); err != nil {
			return err
		}
		return reports(a, "secret.txt", "locked")
	})
	if st := a.Status()[0]; st.State == "stopped" {
		t.Fatalf("A stopped over unreadable paths: %s", st.Error)
	}
	for _, p := range []string{"secret.txt", "locked/inner.txt"} {
		if _, err := os.Lstat(filepath.Join(db, filepath.FromSlash(p))); err == nil {
			t.Errorf("%s reached B although A cannot read it", p)
		}
	}

	// Readable now: synced, and no longer reported.
	if err := os.Chmod(filepath.Join(da, "secret.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	Until(t, syncTimeout, []*Node{a, b}, "secret.txt on B once readable", func() error {
		return sameFile(filepath.Join(da, "secret.txt"), filepath.Join(db, "secret.txt"))
	})

	// A synced file turns unreadable: reported, and still on A's index
	// and on B, never published as deleted.
	files := a.Status()[0].Files
	if err := os.Chmod(filepath.Join(da, "ok.txt"), 0o000); err != nil {
		t.Fatal(err)
	}
	Until(t, syncTimeout, []*Node{a}, "ok.txt reported on A", func() error { return reports(a, "ok.txt") })
	if got := a.Status()[0].Files; got != files {
		t.Fatalf("A's index holds %d files after ok.txt turned unreadable, %d before", got, files)
	}
	if err := sameFile(filepath.Join(da, "secret.txt"), filepath.Join(db, "secret.txt")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(db, "ok.txt")); err != nil || string(got) != "readable" {
		t.Fatalf("ok.txt on B: %q, %v", got, err)
	}
}

// reports says whether n's folder reports an error for each path.
func reports(n *Node, paths ...string) error {
	st := n.Status()[0]
	for _, p := range paths {
		found := false
		for _, e := range st.PathErrors {
			found = found || e.Path == p && strings.Contains(e.Err, "permission denied")
		}
		if !found {
			return fmt.Errorf("%s not reported (errors %+v)", p, st.PathErrors)
		}
	}
	return nil
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
