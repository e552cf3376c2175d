package testcluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type version struct {
	Version int    `json:"version"`
	Size    int64  `json:"size"`
	Deleted bool   `json:"deleted"`
	Current bool   `json:"current"`
	Here    bool   `json:"here"`
	Peers   int    `json:"peers"`
	Cid     string `json:"cid"`
}

func history(t *testing.T, n *Node, path string) []version {
	t.Helper()
	vs, err := historyErr(n, path)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// historyErr is `shoal history PATH --json` on n, for conditions waited
// on: until the folder's scan has recorded a path, its history is an
// error ("the folder has no record of it"), not a reason to fail.
func historyErr(n *Node, path string) ([]version, error) {
	out, err := n.Shoal("history", path, "--json")
	if err != nil {
		return nil, fmt.Errorf("history %s: %w: %s", path, err, out)
	}
	var vs []version
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	return vs, nil
}

func TestRestoreOverwrittenAndDeleted(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	report := random(11, 300<<10)
	write(t, filepath.Join(da, "report.doc"), report)
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	both := []*Node{a, b}
	Until(t, syncTimeout, both, "B has the report", func() error { return SameTrees(da, db) })

	// Overwritten on B: A keeps the old version and lists both.
	write(t, filepath.Join(db, "report.doc"), []byte("oops, overwritten"))
	Until(t, syncTimeout, both, "the overwrite reaches A", func() error { return SameTrees(da, db) })
	vs := history(t, a, filepath.Join(da, "report.doc"))
	if len(vs) != 2 || !vs[1].Current || vs[0].Size != int64(len(report)) || !vs[0].Here {
		t.Fatalf("A's history: %+v", vs)
	}
	// -o writes elsewhere and changes nothing.
	out := filepath.Join(t.TempDir(), "old.doc")
	a.Must("restore", filepath.Join(da, "report.doc"), "--version", "1", "-o", out)
	if got, _ := os.ReadFile(out); string(got) != string(report) {
		t.Fatal("restore -o wrote the wrong bytes")
	}
	// In place: a new change, synced to B.
	a.Must("restore", filepath.Join(da, "report.doc"), "--version", "1")
	Until(t, syncTimeout, both, "the restored report on B", func() error {
		got, _ := os.ReadFile(filepath.Join(db, "report.doc"))
		if string(got) != string(report) {
			return fmt.Errorf("B holds %d bytes", len(got))
		}
		return SameTrees(da, db)
	})

	// Deleted on every peer: C, which never had it, joins later and gets
	// it back from A's kept version.
	if err := os.Remove(filepath.Join(db, "report.doc")); err != nil {
		t.Fatal(err)
	}
	Until(t, syncTimeout, both, "the delete reaches A", func() error {
		if _, err := os.Stat(filepath.Join(da, "report.doc")); err == nil {
			return fmt.Errorf("still on A")
		}
		return nil
	})
	c := Start(t, bin, "C", "--peer", a.Addr())
	dc := filepath.Join(t.TempDir(), "c")
	c.Must("join", rw, dc)
	Until(t, syncTimeout, []*Node{a, c}, "C joined", func() error { return SameTrees(da, dc) })
	vs = history(t, c, filepath.Join(dc, "report.doc"))
	var pick int
	for _, v := range vs {
		if v.Size == int64(len(report)) && !v.Deleted {
			pick = v.Version
		}
	}
	if pick == 0 {
		t.Fatalf("C's history lacks the report: %+v", vs)
	}
	c.Must("restore", filepath.Join(dc, "report.doc"), "--version", fmt.Sprint(pick))
	all := []*Node{a, b, c}
	Until(t, syncTimeout, all, "the report back everywhere", func() error {
		got, _ := os.ReadFile(filepath.Join(db, "report.doc"))
		if string(got) != string(report) {
			return fmt.Errorf("B holds %d bytes", len(got))
		}
		return SameTrees(da, db, dc)
	})
	// A version nobody holds fails clearly and changes nothing.
	if _, err := c.Shoal("restore", filepath.Join(dc, "report.doc"), "--version", "99"); err == nil {
		t.Fatal("restore of a version that does not exist succeeded")
	}
}

// TestRestoreFolderAtTime: every file overwritten on one peer (the
// ransomware case) reaches the others; restore DIR --at brings the whole
// folder back everywhere, and a file created after that time is removed
// (kept as a version).
func TestRestoreFolderAtTime(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	old := time.Now().Add(-3 * time.Hour)
	for i := range 6 {
		p := filepath.Join(da, fmt.Sprintf("docs/%d.txt", i))
		write(t, p, random(uint64(i+20), 50<<10))
		os.Chtimes(p, old, old)
	}
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	both := []*Node{a, b}
	Until(t, syncTimeout, both, "B filled", func() error { return SameTrees(da, db) })
	before := mustTree(t, da)
	for i := range 6 { // encrypted on B
		write(t, filepath.Join(db, fmt.Sprintf("docs/%d.txt", i)), []byte("ENCRYPTED"))
	}
	write(t, filepath.Join(db, "README-ransom.txt"), []byte("pay"))
	Until(t, syncTimeout, both, "the damage reaches A", func() error {
		if got, _ := os.ReadFile(filepath.Join(da, "docs/5.txt")); string(got) != "ENCRYPTED" {
			return fmt.Errorf("not yet")
		}
		return SameTrees(da, db)
	})
	dry := a.Must("restore", da, "--at", "1h", "--dry-run")
	if !strings.Contains(dry, "would restore 7 paths") {
		t.Fatalf("dry run: %s", dry)
	}
	if got, _ := os.ReadFile(filepath.Join(da, "docs/0.txt")); string(got) != "ENCRYPTED" {
		t.Fatal("the dry run changed a file")
	}
	a.Must("restore", da, "--at", "1h")
	Until(t, syncTimeout, both, "restored everywhere", func() error {
		if err := SameTrees(da, db); err != nil {
			return err
		}
		now := mustTree(t, db)
		for p, v := range before {
			if now[p] != v {
				return fmt.Errorf("%s not restored on B", p)
			}
		}
		if _, ok := now["README-ransom.txt"]; ok {
			return fmt.Errorf("the ransom note is still there")
		}
		return nil
	})
}
