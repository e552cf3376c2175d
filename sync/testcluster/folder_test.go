package testcluster

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var bin string

func TestMain(m *testing.M) {
	b, cleanup, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := m.Run()
	cleanup()
	os.Exit(code)
}

const syncTimeout = 60 * time.Second

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// pair starts A sharing a folder with some files and B joined to it.
func pair(t *testing.T) (a, b *Node, da, db, rw, ro string) {
	a = Start(t, bin, "A")
	b = Start(t, bin, "B", "--peer", a.Addr())
	da, db = filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	write(t, filepath.Join(da, "hello.txt"), []byte("hello\n"))
	write(t, filepath.Join(da, "sub/deep/big.bin"), random(1, 3<<20))
	write(t, filepath.Join(da, "empty"), nil)
	if err := os.Mkdir(filepath.Join(da, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(da, "run.sh"), []byte("#!/bin/sh\necho hi\n"))
	os.Chmod(filepath.Join(da, "run.sh"), 0o755)
	if err := os.Symlink("hello.txt", filepath.Join(da, "link")); err != nil {
		t.Fatal(err)
	}
	rw, ro = a.Share(da)
	b.Must("join", rw, db)
	Until(t, syncTimeout, []*Node{a, b}, "B filled from A", func() error { return SameTrees(da, db) })
	return a, b, da, db, rw, ro
}

func TestShareJoinLiveBothWays(t *testing.T) {
	a, b, da, db, _, _ := pair(t)
	both := []*Node{a, b}
	steps := []struct {
		name string
		on   string
		do   func(dir string) error
	}{
		{"create", db, func(d string) error { return os.WriteFile(filepath.Join(d, "new.txt"), []byte("from B"), 0o644) }},
		{"modify", da, func(d string) error {
			return os.WriteFile(filepath.Join(d, "hello.txt"), []byte("hello, changed\n"), 0o644)
		}},
		{"append to a big file", db, func(d string) error {
			f, err := os.OpenFile(filepath.Join(d, "sub/deep/big.bin"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			f.Write([]byte("tail"))
			return f.Close()
		}},
		{"delete", da, func(d string) error { return os.Remove(filepath.Join(d, "empty")) }},
		{"rename", db, func(d string) error { return os.Rename(filepath.Join(d, "new.txt"), filepath.Join(d, "renamed.txt")) }},
		{"mkdir -p", da, func(d string) error { return os.MkdirAll(filepath.Join(d, "x/y/z"), 0o755) }},
		{"rmdir", db, func(d string) error { return os.Remove(filepath.Join(d, "emptydir")) }},
		{"chmod +x", da, func(d string) error { return os.Chmod(filepath.Join(d, "hello.txt"), 0o755) }},
		{"rm -r a tree", db, func(d string) error { return os.RemoveAll(filepath.Join(d, "sub")) }},
	}
	for _, st := range steps {
		if err := st.do(st.on); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		Until(t, syncTimeout, both, st.name, func() error { return SameTrees(da, db) })
	}
	// Replaced and deleted files are kept as versions on the side that
	// received the change.
	vs, _ := filepath.Glob(filepath.Join(db, ".shoal/versions/hello.txt~*"))
	if len(vs) == 0 {
		t.Error("B kept no old version of hello.txt")
	}
	for _, n := range both {
		for _, st := range n.Status() {
			if st.State != "idle" || st.NeedFiles != 0 || len(st.Peers) != 1 {
				t.Errorf("%s status %+v", n.Name, st)
			}
		}
		m := n.Metrics()
		for _, want := range []string{"shoal_folder_need_files{folder=", "shoal_folder_peers{folder=", "shoal_folder_records_received_total "} {
			if !strings.Contains(m, want) {
				t.Errorf("%s /metrics lacks %s", n.Name, want)
			}
		}
		if strings.Contains(m, "shoal_folder_records_received_total 0\n") {
			t.Errorf("%s counted no records received", n.Name)
		}
	}
}

func TestChainRelays(t *testing.T) {
	// Without peer exchange, C never learns of A: records and blocks
	// must travel through B.
	a := Start(t, bin, "A", "--no-pex")
	b := Start(t, bin, "B", "--peer", a.Addr(), "--no-pex")
	c := Start(t, bin, "C", "--peer", b.Addr(), "--no-pex")
	da, db, dc := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")
	write(t, filepath.Join(da, "one.txt"), []byte("one"))
	rw, ro := a.Share(da)
	b.Must("join", ro, db) // a read-only relay: records pass through it unchanged
	c.Must("join", rw, dc)
	all := []*Node{a, b, c}
	Until(t, syncTimeout, all, "C has A's file through B", func() error { return SameTrees(da, db, dc) })
	write(t, filepath.Join(dc, "from-c.txt"), random(2, 200<<10))
	Until(t, syncTimeout, all, "A has C's file through B", func() error { return SameTrees(da, db, dc) })
	for _, p := range c.Status()[0].Peers {
		if p == a.ID {
			t.Fatal("C is connected to A")
		}
	}
}

func TestConcurrentEditKeepsOneConflictCopy(t *testing.T) {
	a, b, da, db, _, _ := pair(t)
	b.Stop()
	write(t, filepath.Join(da, "hello.txt"), []byte("A's version\n"))
	later := time.Now().Add(time.Minute)
	write(t, filepath.Join(db, "hello.txt"), []byte("B's version, newer\n"))
	os.Chtimes(filepath.Join(db, "hello.txt"), later, later) // B's mtime is newer: B wins everywhere
	b.Restart()
	both := []*Node{a, b}
	Until(t, syncTimeout, both, "one conflict copy on both", func() error {
		if err := SameTrees(da, db); err != nil {
			return err
		}
		ca, _ := filepath.Glob(filepath.Join(da, "hello.sync-conflict-*.txt"))
		if len(ca) != 1 {
			return fmt.Errorf("A has %d conflict copies", len(ca))
		}
		return nil
	})
	got, _ := os.ReadFile(filepath.Join(da, "hello.txt"))
	if string(got) != "B's version, newer\n" {
		t.Fatalf("winner is %q", got)
	}
	ca, _ := filepath.Glob(filepath.Join(da, "hello.sync-conflict-*.txt"))
	lost, _ := os.ReadFile(ca[0])
	if string(lost) != "A's version\n" {
		t.Fatalf("conflict copy holds %q", lost)
	}
}

func TestReadOnlyPeerChangesNothing(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	write(t, filepath.Join(da, "f.txt"), []byte("original"))
	_, ro := a.Share(da)
	b.Must("join", ro, db)
	both := []*Node{a, b}
	Until(t, syncTimeout, both, "B filled", func() error { return SameTrees(da, db) })
	write(t, filepath.Join(db, "f.txt"), []byte("edited on the read-only peer"))
	write(t, filepath.Join(db, "extra.txt"), []byte("x"))
	Until(t, syncTimeout, both, "B reports its local changes", func() error {
		if st := b.Status()[0]; st.LocalChanged != 2 {
			return fmt.Errorf("local_changed = %d", st.LocalChanged)
		}
		return nil
	})
	// A change on A still arrives; the edits never reach A.
	write(t, filepath.Join(da, "g.txt"), []byte("new on A"))
	Until(t, syncTimeout, both, "B gets A's new file", func() error {
		_, err := os.Stat(filepath.Join(db, "g.txt"))
		return err
	})
	if got, _ := os.ReadFile(filepath.Join(da, "f.txt")); string(got) != "original" {
		t.Fatalf("A's file became %q", got)
	}
	if _, err := os.Stat(filepath.Join(da, "extra.txt")); err == nil {
		t.Fatal("the read-only peer's new file reached A")
	}
	// revert brings B back to A's state and keeps B's edits aside.
	b.Must("revert", db)
	Until(t, syncTimeout, both, "B reverted", func() error { return SameTrees(da, db) })
	kept, _ := filepath.Glob(filepath.Join(db, ".shoal/versions/f.txt~*"))
	if len(kept) != 1 {
		t.Fatalf("B kept %d versions of its edit", len(kept))
	}
	if got, _ := os.ReadFile(kept[0]); string(got) != "edited on the read-only peer" {
		t.Fatalf("kept edit holds %q", got)
	}
	if st := b.Status()[0]; st.LocalChanged != 0 {
		t.Fatalf("after revert: %d local changes", st.LocalChanged)
	}
}

func TestMissingMarkerStopsInsteadOfDeleting(t *testing.T) {
	a, b, da, db, _, _ := pair(t)
	// Wipe B's folder, marker and all (an unmounted disk looks the same).
	ents, _ := os.ReadDir(db)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(db, e.Name()))
	}
	Until(t, syncTimeout, []*Node{b}, "B stops", func() error {
		if st := b.Status()[0]; st.State != "stopped" || !strings.Contains(st.Error, "marker") {
			return fmt.Errorf("B is %s: %s", st.State, st.Error)
		}
		return nil
	})
	// A keeps every file: nothing was read as deleted.
	write(t, filepath.Join(da, "probe"), []byte("x"))
	Until(t, syncTimeout, []*Node{a}, "A scanned", func() error {
		if st := a.Status()[0]; st.Files < 5 {
			return fmt.Errorf("A has %d files", st.Files)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(da, "hello.txt")); err != nil {
		t.Fatalf("A lost hello.txt: %v", err)
	}
	if !bytes.Contains([]byte(b.Log()), []byte("marker")) {
		t.Error("B's log does not say why it stopped")
	}
}

func TestJoinMergesExistingFiles(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	write(t, filepath.Join(da, "same.txt"), []byte("identical"))
	write(t, filepath.Join(da, "differs.txt"), []byte("A's content"))
	write(t, filepath.Join(da, "only-a.txt"), []byte("a"))
	write(t, filepath.Join(db, "same.txt"), []byte("identical"))
	write(t, filepath.Join(db, "differs.txt"), []byte("B's content, which must not be lost"))
	write(t, filepath.Join(db, "only-b.txt"), []byte("b"))
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	both := []*Node{a, b}
	Until(t, syncTimeout, both, "merged", func() error {
		if err := SameTrees(da, db); err != nil {
			return err
		}
		if c, _ := filepath.Glob(filepath.Join(da, "differs.sync-conflict-*.txt")); len(c) != 1 {
			return fmt.Errorf("%d conflict copies of differs.txt", len(c))
		}
		return nil
	})
	tr, _ := Tree(da)
	var contents []string
	for p, v := range tr {
		if strings.HasPrefix(p, "differs") {
			contents = append(contents, v)
		}
	}
	joined := strings.Join(contents, "|")
	if !strings.Contains(joined, "A's content") || !strings.Contains(joined, "B's content, which must not be lost") {
		t.Fatalf("a version of differs.txt was lost: %v", contents)
	}
	for _, p := range []string{"only-a.txt", "only-b.txt", "same.txt"} {
		if _, ok := tr[p]; !ok {
			t.Errorf("%s missing after the merge", p)
		}
	}
}

func TestShoalignore(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	write(t, filepath.Join(da, ".shoalignore"), []byte("*.tmp\nbuild/\n!keep.tmp\n"))
	write(t, filepath.Join(da, "x.tmp"), []byte("ignored"))
	write(t, filepath.Join(da, "keep.tmp"), []byte("kept"))
	write(t, filepath.Join(da, "build/out.o"), []byte("ignored"))
	write(t, filepath.Join(da, "src/main.go"), []byte("package main"))
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	both := []*Node{a, b}
	Until(t, syncTimeout, both, "synced", func() error {
		for _, p := range []string{".shoalignore", "keep.tmp", "src/main.go"} {
			if _, err := os.Stat(filepath.Join(db, p)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, p := range []string{"x.tmp", "build"} {
		if _, err := os.Stat(filepath.Join(db, p)); err == nil {
			t.Errorf("ignored %s reached B", p)
		}
	}
	// B's own ignored file stays on B and is never deleted on A.
	write(t, filepath.Join(db, "b-only.tmp"), []byte("local"))
	write(t, filepath.Join(db, "after.txt"), []byte("synced"))
	Until(t, syncTimeout, both, "after.txt on A", func() error {
		_, err := os.Stat(filepath.Join(da, "after.txt"))
		return err
	})
	if _, err := os.Stat(filepath.Join(da, "b-only.tmp")); err == nil {
		t.Error("B's ignored file reached A")
	}
	if _, err := os.Stat(filepath.Join(da, "x.tmp")); err != nil {
		t.Error("A's ignored file was deleted")
	}
}

func TestSnapshotIsAddHidden(t *testing.T) {
	a := Start(t, bin, "A")
	da := filepath.Join(t.TempDir(), "a")
	write(t, filepath.Join(da, ".shoalignore"), []byte("*.log\n"))
	write(t, filepath.Join(da, "big.bin"), random(3, 2<<20)) // a multi-block file
	write(t, filepath.Join(da, "x/y/z.txt"), []byte("deep"))
	write(t, filepath.Join(da, "x/empty"), nil)
	if err := os.MkdirAll(filepath.Join(da, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	a.Share(da)
	Until(t, syncTimeout, []*Node{a}, "scanned", func() error {
		if st := a.Status()[0]; st.Files != 4 {
			return fmt.Errorf("%d files", st.Files)
		}
		return nil
	})
	snap := strings.TrimSpace(a.Must("snapshot", da))
	// The same tree, without .shoal/, added by shoal add --hidden.
	copyDir := filepath.Join(t.TempDir(), "a")
	for p, v := range mustTree(t, da) {
		switch {
		case v == "dir":
			os.MkdirAll(filepath.Join(copyDir, p), 0o755)
		case strings.HasPrefix(v, "file "):
			write(t, filepath.Join(copyDir, p), []byte(strings.TrimPrefix(v, "file ")))
		}
	}
	other := Start(t, bin, "other")
	added := strings.TrimSpace(other.Must("add", "--hidden", "-Q", copyDir))
	if snap != added {
		t.Fatalf("snapshot %s, shoal add --hidden %s", snap, added)
	}
	// A peer outside the folder fetches it by CID.
	c := Start(t, bin, "C", "--peer", a.Addr())
	out := filepath.Join(t.TempDir(), "got")
	c.Must("get", snap, "-o", out)
	if err := SameTrees(copyDir, out); err != nil {
		t.Fatal(err)
	}
}

func mustTree(t *testing.T, root string) map[string]string {
	t.Helper()
	tr, err := Tree(root)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
