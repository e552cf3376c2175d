package testcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSnapshotAtTime: a snapshot at a time before the folder changed is
// the CID shoal add --hidden gives for the tree as it was then; times in
// the future or before anything was known are refused.
func TestSnapshotAtTime(t *testing.T) {
	a := Start(t, bin, "A")
	da := filepath.Join(t.TempDir(), "a")
	old := time.Now().Add(-3 * time.Hour)
	for i := range 5 {
		p := filepath.Join(da, fmt.Sprintf("docs/%d.txt", i))
		write(t, p, random(uint64(300+i), 30<<10))
		os.Chtimes(p, old, old)
	}
	write(t, filepath.Join(da, "big.bin"), random(9, 1<<20))
	os.Chtimes(filepath.Join(da, "big.bin"), old, old)
	a.Share(da)
	Until(t, syncTimeout, []*Node{a}, "scanned", func() error {
		if st := a.Status()[0]; st.Files != 6 {
			return fmt.Errorf("%d files", st.Files)
		}
		return nil
	})
	then := mustTree(t, da)
	// Changed since: files overwritten, one removed, one added.
	for i := range 3 {
		write(t, filepath.Join(da, fmt.Sprintf("docs/%d.txt", i)), []byte("changed"))
	}
	os.Remove(filepath.Join(da, "big.bin"))
	write(t, filepath.Join(da, "new.txt"), []byte("new"))
	Until(t, syncTimeout, []*Node{a}, "changes recorded", func() error {
		if st := a.Status()[0]; st.Files != 6 {
			return fmt.Errorf("%d files", st.Files)
		}
		vs, err := historyErr(a, filepath.Join(da, "docs/2.txt"))
		if err != nil {
			return err
		}
		if len(vs) != 2 {
			return fmt.Errorf("docs/2.txt has %d versions", len(vs))
		}
		return nil
	})
	snap := strings.TrimSpace(a.Must("snapshot", da, "--at", "1h"))
	copyDir := filepath.Join(t.TempDir(), "then")
	for p, v := range then {
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
		t.Fatalf("snapshot --at 1h %s, shoal add --hidden of the tree then %s", snap, added)
	}
	if now := strings.TrimSpace(a.Must("snapshot", da)); now == snap {
		t.Fatal("the snapshot of now is the one of then")
	}
	for _, at := range []string{time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "10d", "yesterday"} {
		if out, err := a.Shoal("snapshot", da, "--at", at); err == nil {
			t.Fatalf("snapshot --at %s succeeded: %s", at, out)
		} else if at == "10d" && !strings.Contains(err.Error(), "oldest version known") {
			t.Fatalf("snapshot before the folder existed: %v", err)
		}
	}
}

// TestRestoreBadInput: every refusal says why and changes nothing.
func TestRestoreBadInput(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	v1 := random(41, 100<<10)
	write(t, filepath.Join(da, "doc"), v1)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(da, "doc"), old, old)
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	both := []*Node{a, b}
	Until(t, syncTimeout, both, "B has doc", func() error { return SameTrees(da, db) })
	write(t, filepath.Join(da, "doc"), []byte("v2"))
	Until(t, syncTimeout, both, "v2 on B", func() error { return SameTrees(da, db) })
	file := filepath.Join(db, "doc")
	outside := filepath.Join(t.TempDir(), "elsewhere")
	write(t, outside, []byte("x"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", file, "--at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, "in the future"},
		{[]string{"restore", file, "--at", "30d"}, "oldest known"},
		{[]string{"restore", file, "--version", "3"}, "no version 3"},
		{[]string{"restore", file, "--version", "1", "--at", "1h"}, "not both"},
		{[]string{"restore", outside, "--version", "1"}, "not inside a shared folder"},
		{[]string{"restore", filepath.Join(db, "..", "b", "..", "x"), "--version", "1"}, "not inside a shared folder"},
		{[]string{"restore", db, "--at", "30d"}, "held nothing at 30d"},
		{[]string{"history", filepath.Join(db, "nothing-here")}, "no record"},
	} {
		out, err := b.Shoal(tc.args...)
		if got, _ := os.ReadFile(file); string(got) != "v2" {
			t.Fatalf("%v changed doc: %q (%s, %v)", tc.args, got, out, err)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v (out %q), want an error saying %q", tc.args, err, out, tc.want)
		}
	}
	// The blocks of version 1 are on A (it replaced them locally... no:
	// A's own edit left no old bytes there) and on B (kept when A's change
	// replaced them). With B's kept copy removed and A not holding it, no
	// reachable peer has them: the restore fails, naming it, and nothing
	// changes on B.
	vs := history(t, b, file)
	if len(vs) != 2 || !vs[0].Here {
		t.Fatalf("B's history: %+v", vs)
	}
	aVs := history(t, a, filepath.Join(da, "doc"))
	if aVs[0].Here || aVs[0].Peers != 1 {
		t.Fatalf("A's view of version 1: here=%v peers=%d, want only B", aVs[0].Here, aVs[0].Peers)
	}
	// A restores version 1 from B's kept copy.
	a.Must("restore", filepath.Join(da, "doc"), "--version", "1", "-o", filepath.Join(t.TempDir(), "fromB"))
	b.Stop()
	before := keptFiles(t, da)
	_, err := a.Shoal("restore", filepath.Join(da, "doc"), "--version", "1")
	if err == nil || !strings.Contains(err.Error(), "no reachable peer has the blocks") || !strings.Contains(err.Error(), "doc") {
		t.Fatalf("restore with the only holder gone: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(da, "doc")); string(got) != "v2" {
		t.Fatalf("a failed restore changed the file: %q", got)
	}
	if after := keptFiles(t, da); len(after) != len(before) {
		t.Fatalf("a failed restore moved files into versions: %d then %d", len(before), len(after))
	}
	if vs := history(t, a, filepath.Join(da, "doc")); vs[0].Here || vs[0].Peers != 0 {
		t.Fatalf("with B gone, version 1: here=%v peers=%d, want nowhere", vs[0].Here, vs[0].Peers)
	}
	if out := a.Must("history", filepath.Join(da, "doc")); !strings.Contains(out, "nowhere") {
		t.Fatalf("history does not say nowhere:\n%s", out)
	}
}

// TestVersionBlocksOnlyForFolderPeers: a node that did not prove the
// folder asks a peer for a kept version's blocks by CID: refused.
func TestVersionBlocksOnlyForFolderPeers(t *testing.T) {
	a, b, da, db, _, _ := pair(t)
	write(t, filepath.Join(db, "hello.txt"), []byte("replaced on B"))
	Until(t, syncTimeout, []*Node{a, b}, "replaced on A", func() error { return SameTrees(da, db) })
	vs := history(t, a, filepath.Join(da, "hello.txt"))
	if len(vs) != 2 || !vs[0].Here {
		t.Fatalf("A's history: %+v", vs)
	}
	c := Start(t, bin, "C", "--peer", a.Addr())
	out, err := c.Shoal("--timeout", "8s", "cat", vs[0].Cid)
	if err == nil || strings.Contains(out, "hello") {
		t.Fatalf("a node outside the folder got a kept version: %q, %v", out, err)
	}
}
