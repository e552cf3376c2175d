package folder

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/folder/conflict"
	"github.com/shoal-sync/shoal/sync/folder/history"
	"github.com/shoal-sync/shoal/sync/folder/index"
	"github.com/shoal-sync/shoal/sync/folder/pull"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
)

type noFetch struct{}

func (noFetch) Fetch(context.Context, cid.Cid, swarm.Sink) error { return errors.New("no peers") }

func testFolder(t *testing.T, pol history.Policy) *Folder {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rw, _ := identity.NewRWKey()
	key := identity.FolderKeyFromRW(rw)
	sk, _ := key.RW()
	ix, err := index.Open(index.Options{KV: st.KV("f"), Folder: key.ID(), Pub: key.SigningPublicKey(), Key: sk.SigningKey(), Device: 1, Wins: conflict.Wins})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := Init(root); err != nil {
		t.Fatal(err)
	}
	f, err := New(Options{Key: key, Root: root, Store: st, Index: ix, Fetch: noFetch{}, History: func() history.Policy { return pol }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func put(t *testing.T, p string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPruneHoldsWhatARestoreReads: retention shrinking to nothing while
// a restore reads a version leaves that version until the restore is
// done; the others go at once.
func TestPruneHoldsWhatARestoreReads(t *testing.T) {
	f := testFolder(t, history.Policy{Versions: 0})
	ctx := context.Background()
	var roots []cid.Cid
	for _, name := range []string{"a.txt", "b.txt"} {
		p := filepath.Join(f.opt.Root, name)
		put(t, p, name+" old")
		c := unixfs.RawCIDOf([]byte(name + " old"))
		roots = append(roots, c)
		l := &index.Local{Type: index.TypeFile, Size: int64(len(name) + 4), Root: c.Bytes()}
		if err := pull.KeepVersionWith(f.pullOptions(), name, l); err != nil {
			t.Fatal(err)
		}
	}
	release := f.hold(roots[0])
	st, err := f.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Versions != 1 || st.Kept != 1 {
		t.Fatalf("prune while a.txt's version is read: %+v, want 1 removed and 1 kept", st)
	}
	kept, _, _ := f.keptList(ctx)
	if len(kept) != 1 || kept[0].Path != "a.txt" {
		t.Fatalf("kept %+v, want a.txt's version", kept)
	}
	release()
	if st, err = f.Prune(ctx); err != nil || st.Versions != 1 || st.Kept != 0 {
		t.Fatalf("prune after the restore: %+v, %v", st, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.opt.Root, filepath.FromSlash(pull.VersionsDir))); len(ents) != 0 {
		t.Fatalf("%d entries left in the versions directory", len(ents))
	}
}

// TestPruneCountsUnrecordedVersionFiles: a version file the index has no
// entry for (kept before entries existed, or by a crash between rename
// and entry) still counts, by its name's time.
func TestPruneCountsUnrecordedVersionFiles(t *testing.T) {
	f := testFolder(t, history.Policy{Versions: 10, MaxAge: time.Hour})
	vdir := filepath.Join(f.opt.Root, filepath.FromSlash(pull.VersionsDir))
	old := time.Now().Add(-2 * time.Hour).UTC().Format("20060102-150405.000000000")
	recent := time.Now().UTC().Format("20060102-150405.000000000")
	put(t, filepath.Join(vdir, "d/x.txt~"+old), "old")
	put(t, filepath.Join(vdir, "d/x.txt~"+recent), "recent")
	put(t, filepath.Join(vdir, "stray"), "not a version name: left alone")
	st, err := f.Prune(context.Background())
	if err != nil || st.Versions != 1 || st.Kept != 1 {
		t.Fatalf("prune: %+v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(vdir, "d/x.txt~"+old)); err == nil {
		t.Fatal("the version past max-age is still there")
	}
	if _, err := os.Stat(filepath.Join(vdir, "stray")); err != nil {
		t.Fatal("a file that is no version was removed")
	}
}

// TestResumeRestoreFinishesTheJournal: a crash after the journal was
// written and some renames made: the next start makes the rest, so the
// folder ends as restored; the replaced files are kept as versions.
func TestResumeRestoreFinishesTheJournal(t *testing.T) {
	f := testFolder(t, history.Policy{Versions: 10})
	ctx := context.Background()
	root := f.opt.Root
	tmp := filepath.Join(root, filepath.FromSlash(pull.TempDir))
	put(t, filepath.Join(root, "a"), "encrypted a") // not yet renamed
	put(t, filepath.Join(root, "b"), "restored b")  // renamed before the crash
	put(t, filepath.Join(root, "gone"), "ransom note")
	put(t, filepath.Join(root, "x", "y"), "x was a directory")
	put(t, pull.TempPath(root, "restore-a"), "restored a")
	put(t, filepath.Join(tmp, "restore-c"), "restored c") // a file that had been deleted, staged by an earlier version
	put(t, pull.TempPath(root, "restore-x"), "restored x")
	j := journal{Entries: []entry{
		{Path: "a", Action: actFile, Staged: "restore-a"},
		{Path: "b", Action: actFile, Staged: "restore-b"},
		{Path: "c", Action: actFile, Staged: "restore-c"},
		{Path: "d", Action: actDir},
		{Path: "gone", Action: actRemove},
		{Path: "x", Action: actFile, Staged: "restore-x"}, // before its directory's file goes
		{Path: "x/y", Action: actRemove},
	}}
	data, _ := json.Marshal(j)
	put(t, filepath.Join(root, filepath.FromSlash(JournalFile)), string(data))
	if err := f.resumeRestore(ctx); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"a": "restored a", "b": "restored b", "c": "restored c", "x": "restored x"} {
		if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", p, got, err, want)
		}
	}
	if info, err := os.Stat(filepath.Join(root, "d")); err != nil || !info.IsDir() {
		t.Error("directory d not made")
	}
	if _, err := os.Stat(filepath.Join(root, "gone")); err == nil {
		t.Error("a path the restore removes is still there")
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(JournalFile))); err == nil {
		t.Error("the journal is still there")
	}
	kept, _, _ := f.keptList(ctx)
	if len(kept) != 3 { // "encrypted a", the ransom note and x/y
		t.Errorf("%d versions kept, want 3: %+v", len(kept), kept)
	}
	// Run again (a second crash while finishing): nothing more changes.
	if err := f.resumeRestore(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestResumeRestoreDropsABadJournal: a journal naming a path outside the
// folder is refused, changing nothing.
func TestResumeRestoreDropsABadJournal(t *testing.T) {
	f := testFolder(t, history.Policy{})
	put(t, filepath.Join(f.opt.Root, filepath.FromSlash(pull.TempDir), "x"), "x")
	data, _ := json.Marshal(journal{Entries: []entry{{Path: "../escape", Action: actFile, Staged: "x"}}})
	put(t, filepath.Join(f.opt.Root, filepath.FromSlash(JournalFile)), string(data))
	if err := f.resumeRestore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(f.opt.Root), "escape")); err == nil {
		t.Fatal("a journal wrote outside the folder")
	}
}
