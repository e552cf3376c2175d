package testcluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

type remoteEntry struct {
	Path     string `json:"path"`
	Type     string `json:"type"`
	Size     int64  `json:"size"`
	Peers    int    `json:"peers"`
	Here     bool   `json:"here"`
	Present  bool   `json:"present"`
	Selected bool   `json:"selected"`
}

type lsRemote struct {
	Peers   int           `json:"peers"`
	Entries []remoteEntry `json:"entries"`
}

func listRemote(t *testing.T, n *Node, args ...string) lsRemote {
	t.Helper()
	var out lsRemote
	if err := json.Unmarshal([]byte(n.Must(append([]string{"ls-remote", "--json"}, args...)...)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (l lsRemote) entry(p string) (remoteEntry, bool) {
	for _, e := range l.Entries {
		if e.Path == p {
			return e, true
		}
	}
	return remoteEntry{}, false
}

// files lists the regular files under root (no .shoal/), sorted.
func files(t *testing.T, root string) []string {
	t.Helper()
	tree := mustTree(t, root)
	var out []string
	for p, d := range tree {
		if strings.HasPrefix(d, "file ") {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func sameFile(a, b string) error {
	x, err := os.ReadFile(a)
	if err != nil {
		return err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return err
	}
	if !bytes.Equal(x, y) {
		return fmt.Errorf("%s: %d bytes, %s: %d bytes, not the same", a, len(x), b, len(y))
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestSelectiveSync: a peer that joined with --only holds only what it
// selected, lists the rest with ls-remote, fetches one file on demand,
// and deletes nothing on the others; selected files sync both ways; a
// wider selection pulls the new files; the selection survives a restart.
func TestSelectiveSync(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	c := Start(t, bin, "C", "--peer", a.Addr())
	da, db, dc := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")
	write(t, filepath.Join(da, "docs/a.txt"), []byte("doc a"))
	write(t, filepath.Join(da, "docs/sub/b.bin"), random(21, 300<<10))
	write(t, filepath.Join(da, "music/song.mp3"), random(22, 700<<10))
	write(t, filepath.Join(da, "photos/2026/p.jpg"), random(23, 200<<10))
	write(t, filepath.Join(da, "top.txt"), []byte("top"))
	rw, ro := a.Share(da)
	c.Must("join", rw, dc)
	all := []*Node{a, b, c}
	Until(t, syncTimeout, all, "C is a full copy", func() error { return SameTrees(da, dc) })

	// Bad patterns are refused and nothing is joined.
	for _, bad := range []struct{ pattern, says string }{
		{"../elsewhere", "would leave the folder"},
		{"[unclosed", "not a valid glob"},
		{db + "/docs", "patterns are relative to the folder root"},
	} {
		out, err := b.Shoal("join", rw, db, "--only", bad.pattern)
		if err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Fatalf("join --only %q: %v %s, want an error saying %q", bad.pattern, err, out, bad.says)
		}
	}
	if st := b.Status(); len(st) != 0 {
		t.Fatalf("a refused join left a folder: %+v", st)
	}

	b.Must("join", rw, db, "--only", "/docs")
	Until(t, syncTimeout, all, "B holds docs", func() error {
		if err := SameTrees(filepath.Join(da, "docs"), filepath.Join(db, "docs")); err != nil {
			return err
		}
		if st := b.Status()[0]; st.State != "idle" || st.NeedFiles != 0 {
			return fmt.Errorf("B: %+v", st)
		}
		return nil
	})
	if got := files(t, db); strings.Join(got, " ") != "docs/a.txt docs/sub/b.bin" {
		t.Fatalf("B holds %v, want only docs", got)
	}
	if out := b.Must("folders"); !strings.Contains(out, "only /docs") {
		t.Errorf("folders does not show the selection:\n%s", out)
	}

	// The rest is listed, with who holds it.
	ls := listRemote(t, b, db)
	if ls.Peers < 1 {
		t.Fatalf("ls-remote: %d folder peers", ls.Peers)
	}
	for _, want := range []struct {
		path                    string
		size                    int64
		here, present, selected bool
		minPeers                int
	}{
		{"docs/a.txt", 5, true, true, true, 1},
		{"docs/sub/b.bin", 300 << 10, true, true, true, 1},
		{"music/song.mp3", 700 << 10, false, false, false, 1},
		{"photos/2026/p.jpg", 200 << 10, false, false, false, 1},
		{"top.txt", 3, false, false, false, 1},
	} {
		e, ok := ls.entry(want.path)
		switch {
		case !ok:
			t.Errorf("ls-remote lacks %s", want.path)
		case e.Type != "file" || e.Size != want.size || e.Here != want.here || e.Present != want.present || e.Selected != want.selected:
			t.Errorf("ls-remote %s: %+v, want %+v", want.path, e, want)
		case e.Peers < want.minPeers || e.Peers > ls.Peers:
			t.Errorf("ls-remote %s: held by %d of %d peers", want.path, e.Peers, ls.Peers)
		}
	}
	if e, ok := ls.entry("music"); !ok || e.Type != "dir" {
		t.Errorf("ls-remote lacks the music directory: %+v", ls.Entries)
	}
	one := listRemote(t, b, db, "docs", "--depth", "1")
	var names []string
	for _, e := range one.Entries {
		names = append(names, e.Path)
	}
	if strings.Join(names, " ") != "docs/a.txt docs/sub" {
		t.Errorf("ls-remote DIR docs --depth 1: %v", names)
	}
	if out := b.Must("ls-remote", db, "music"); !strings.Contains(out, "music/song.mp3") || !strings.Contains(out, "not selected") {
		t.Errorf("ls-remote table:\n%s", out)
	}

	// Bad fetches.
	for _, bad := range []struct{ path, says string }{
		{filepath.Join(db, "no/such/file"), "not in the folder's index"},
		{filepath.Join(t.TempDir(), "outside"), "not inside a shared folder"},
		{db, "names a file or directory inside"},
	} {
		if _, err := b.Shoal("fetch", bad.path); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("fetch %s: %v, want an error saying %q", bad.path, err, bad.says)
		}
	}
	if _, err := b.Shoal("folder", "select", db, "--add", "docs/../../x"); err == nil || !strings.Contains(err.Error(), "would leave the folder") {
		t.Errorf("select of an escaping pattern: %v", err)
	}

	// One file on demand, through the puller: the same bytes.
	out := b.Must("fetch", filepath.Join(db, "music/song.mp3"))
	if !strings.Contains(out, "selected from now on: /music/song.mp3") {
		t.Errorf("fetch printed %q", out)
	}
	if err := sameFile(filepath.Join(da, "music/song.mp3"), filepath.Join(db, "music/song.mp3")); err != nil {
		t.Fatal(err)
	}
	if e, _ := listRemote(t, b, db, "music/song.mp3").entry("music/song.mp3"); !e.Here || !e.Selected {
		t.Errorf("after fetch: %+v", e)
	}

	// Selected files sync both ways; an unselected file's change on A
	// is not pulled (it travels with the docs change B waits for).
	write(t, filepath.Join(da, "photos/2026/p.jpg"), random(24, 210<<10))
	write(t, filepath.Join(da, "docs/new.txt"), []byte("new on A"))
	Until(t, syncTimeout, all, "A's new doc on B", func() error {
		return sameFile(filepath.Join(da, "docs/new.txt"), filepath.Join(db, "docs/new.txt"))
	})
	write(t, filepath.Join(db, "docs/a.txt"), []byte("doc a, edited on B"))
	Until(t, syncTimeout, all, "B's edit on A and C", func() error {
		if err := sameFile(filepath.Join(db, "docs/a.txt"), filepath.Join(da, "docs/a.txt")); err != nil {
			return err
		}
		return SameTrees(da, dc)
	})
	if exists(filepath.Join(db, "photos")) {
		t.Error("an unselected change reached B")
	}

	// Unselected again: the fetched file stays on B, and deleting it there
	// deletes nothing elsewhere; deleting a selected file deletes it
	// everywhere.
	b.Must("folder", "select", db, "--remove", "/music/song.mp3")
	if !exists(filepath.Join(db, "music/song.mp3")) {
		t.Fatal("unselecting removed the file from B")
	}
	if err := os.Remove(filepath.Join(db, "music/song.mp3")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(db, "docs/sub/b.bin")); err != nil {
		t.Fatal(err)
	}
	Until(t, syncTimeout, all, "B's delete of a selected file reaches A and C", func() error {
		for _, d := range []string{da, dc} {
			if exists(filepath.Join(d, "docs/sub/b.bin")) {
				return fmt.Errorf("%s still has docs/sub/b.bin", d)
			}
		}
		return SameTrees(da, dc)
	})
	for _, d := range []string{da, dc} {
		for _, p := range []string{"music/song.mp3", "photos/2026/p.jpg", "top.txt"} {
			if !exists(filepath.Join(d, p)) {
				t.Errorf("%s lost %s", d, p)
			}
		}
	}

	// A wider selection pulls the new files, and survives a restart.
	b.Must("folder", "select", db, "--add", "/photos")
	Until(t, syncTimeout, all, "B pulls the photos", func() error {
		return sameFile(filepath.Join(da, "photos/2026/p.jpg"), filepath.Join(db, "photos/2026/p.jpg"))
	})
	b.Stop()
	b.Restart()
	Until(t, syncTimeout, all, "B back, its selection kept", func() error {
		st := b.Must("status")
		if !strings.Contains(st, "only /docs /photos") || !strings.Contains(st, "in sync    yes") {
			return fmt.Errorf("status:\n%s", st)
		}
		return nil
	})
	// What B deleted while it was unselected comes back when selected
	// again: the absence was never a delete.
	b.Must("folder", "select", db, "--add", "/music")
	Until(t, syncTimeout, all, "B pulls the music again", func() error {
		return sameFile(filepath.Join(da, "music/song.mp3"), filepath.Join(db, "music/song.mp3"))
	})
	write(t, filepath.Join(db, "docs/last.txt"), []byte("last"))
	Until(t, syncTimeout, all, "the last change on A and C", func() error {
		if err := sameFile(filepath.Join(db, "docs/last.txt"), filepath.Join(da, "docs/last.txt")); err != nil {
			return err
		}
		return SameTrees(da, dc)
	})
	if got := strings.Join(files(t, da), " "); got != "docs/a.txt docs/last.txt docs/new.txt music/song.mp3 photos/2026/p.jpg top.txt" {
		t.Errorf("A holds %s", got)
	}
	if exists(filepath.Join(db, "top.txt")) {
		t.Error("B holds the unselected top.txt")
	}

	// A read-only peer selects too: only the MP3s, wherever they are.
	d := Start(t, bin, "D", "--peer", a.Addr())
	dd := filepath.Join(t.TempDir(), "d")
	d.Must("join", ro, dd, "--only", "*.mp3")
	Until(t, syncTimeout, []*Node{a, d}, "D holds the music", func() error {
		return sameFile(filepath.Join(da, "music/song.mp3"), filepath.Join(dd, "music/song.mp3"))
	})
	if got := strings.Join(files(t, dd), " "); got != "music/song.mp3" {
		t.Errorf("D holds %s", got)
	}
	for _, p := range []string{"docs", "photos"} {
		if exists(filepath.Join(dd, p)) {
			t.Errorf("D made the directory %s, which holds no selected file", p)
		}
	}
	if e, ok := listRemote(t, d, dd).entry("top.txt"); !ok || e.Present || e.Selected {
		t.Errorf("D's ls-remote of top.txt: %+v", e)
	}
	// A whole directory on demand.
	if out := d.Must("fetch", filepath.Join(dd, "photos")); !strings.Contains(out, "1 files") {
		t.Errorf("fetch of a directory printed %q", out)
	}
	if err := sameFile(filepath.Join(da, "photos/2026/p.jpg"), filepath.Join(dd, "photos/2026/p.jpg")); err != nil {
		t.Fatal(err)
	}
}
