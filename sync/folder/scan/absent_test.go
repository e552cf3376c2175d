package scan

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/shoal-sync/shoal/sync/folder/selection"
)

// TestScanSelective: under a selection, a path the index holds here and
// the disk lost is a delete only when it is selected; unselected paths
// are neither scanned nor deleted.
func TestScanSelective(t *testing.T) {
	ctx := context.Background()
	st, ix := testIndex(t)
	root := t.TempDir()
	for _, p := range []string{"docs/a.txt", "music/b.mp3", "photos/2026/c.jpg"} {
		full := filepath.Join(root, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scan := func(flt Ignorer) []string {
		t.Helper()
		res := scanSettled(t, ctx, Options{Root: root, Store: st, Index: ix, Ignore: flt})
		if _, err := ix.CommitLocal(ctx, res.Changes); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range res.Changes {
			s := c.Record.Path
			if c.Record.Deleted {
				s += " deleted"
			}
			out = append(out, s)
		}
		sort.Strings(out)
		return out
	}
	if got := scan(nil); len(got) != 7 {
		t.Fatalf("full scan: %v", got)
	}
	sel, err := selection.Parse(root, []string{"/docs", "photos/2026/*.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	flt := selection.Filter{Set: sel}
	// Everything is gone from disk: only the selected paths are deletes.
	if err := os.RemoveAll(filepath.Join(root, "docs")); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(root, "music"))
	os.RemoveAll(filepath.Join(root, "photos"))
	got := scan(flt)
	want := []string{"docs deleted", "docs/a.txt deleted", "photos/2026/c.jpg deleted"}
	if len(got) != len(want) {
		t.Fatalf("selective scan: %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("selective scan: %v, want %v", got, want)
		}
	}
	// An unselected file written here is not picked up.
	os.MkdirAll(filepath.Join(root, "music"), 0o755)
	os.WriteFile(filepath.Join(root, "music", "new.mp3"), []byte("x"), 0o644)
	if got := scan(flt); len(got) != 0 {
		t.Fatalf("unselected new file scanned: %v", got)
	}
	// New directories on the way to a selected file are walked, not
	// recorded; the file is.
	os.MkdirAll(filepath.Join(root, "photos", "2026"), 0o755)
	os.WriteFile(filepath.Join(root, "photos", "2026", "new.jpg"), []byte("y"), 0o644)
	if got := scan(flt); len(got) != 1 || got[0] != "photos/2026/new.jpg" {
		t.Fatalf("a selected file in new directories: %v", got)
	}
}
