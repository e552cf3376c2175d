package scan

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/folder/ignore"
	"github.com/shoal-sync/shoal/sync/folder/index"
)

// TestScanFindsChanges runs its steps twice: with every change in the
// result, and with changes handed to Flush as the scan goes (deletions
// still in the result; directories before the files in them).
func TestScanFindsChanges(t *testing.T) {
	for _, flush := range []bool{false, true} {
		t.Run(map[bool]string{false: "result", true: "flush"}[flush], func(t *testing.T) { testScanFindsChanges(t, flush) })
	}
}

func testScanFindsChanges(t *testing.T, flush bool) {
	ctx := context.Background()
	st, ix := testIndex(t)
	root := t.TempDir()
	put := func(p, data string) {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		// An hour old: hashed at once, not retried as racily clean, so
		// that a file's directory must be flushed before the file.
		past := time.Now().Add(-time.Hour)
		if err := os.Chtimes(full, past, past); err != nil {
			t.Fatal(err)
		}
	}
	put("a.txt", "a")
	put("dir/b.txt", "b")
	put("skip.log", "ignored")
	put(".shoal/folder", "marker")
	os.Symlink("a.txt", filepath.Join(root, "link"))
	opt := Options{Root: root, Store: st, Index: ix, Ignore: ignore.Parse([]string{"*.log"})}
	var flushed []index.Change
	var mu sync.Mutex // Flush runs on the scan's flusher goroutine
	if flush {
		opt.Flush = func(ctx context.Context, changes []index.Change, _ []cid.Cid) error {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range changes {
				if c.Record.Deleted {
					t.Errorf("deletion of %s flushed before the scan ended", c.Record.Path)
				}
				if d := path.Dir(c.Record.Path); d != "." && !slices.ContainsFunc(flushed, func(f index.Change) bool { return f.Record.Path == d }) {
					if g, _ := ix.Global(ctx, d); g == nil {
						t.Errorf("%s flushed before its directory", c.Record.Path)
					}
				}
			}
			flushed = append(flushed, changes...)
			_, err := ix.CommitLocal(ctx, changes)
			return err
		}
	}
	scan := func(paths ...string) []string {
		t.Helper()
		flushed = nil
		res := scanSettled(t, ctx, opt, paths...)
		if _, err := ix.CommitLocal(ctx, res.Changes); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range append(flushed, res.Changes...) {
			kind := c.Record.Type.String()
			switch {
			case c.Record.Type == 0:
				kind = "touch"
			case c.Record.Deleted:
				kind = "deleted"
			}
			out = append(out, c.Record.Path+" "+kind)
		}
		sort.Strings(out)
		return out
	}
	check := func(name string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", name, got, want)
			}
		}
	}
	check("first scan", scan(), "a.txt file", "dir dir", "dir/b.txt file", "link symlink")
	check("nothing changed", scan())
	put("a.txt", "a, changed")
	check("modified", scan(), "a.txt file")
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(root, "dir/b.txt"), later, later)
	check("touched, same bytes", scan("dir"), "dir/b.txt touch")
	os.Chmod(filepath.Join(root, "dir/b.txt"), 0o755)
	check("exec bit", scan("dir/b.txt"), "dir/b.txt file")
	os.RemoveAll(filepath.Join(root, "dir"))
	check("tree removed", scan("dir"), "dir deleted", "dir/b.txt deleted")
	check("deleted once", scan())
	if g, _ := ix.Global(ctx, "skip.log"); g != nil {
		t.Fatal("an ignored file was recorded")
	}
	if g, _ := ix.Global(ctx, "link"); g == nil || g.Target != "a.txt" {
		t.Fatalf("symlink record %+v", g)
	}
}
