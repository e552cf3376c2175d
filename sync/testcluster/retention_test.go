package testcluster

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keptFile is a version in a folder's .shoal/versions.
type keptFile struct {
	path string // the file it was a version of
	size int64
	at   time.Time
}

func keptFiles(t *testing.T, root string) []keptFile {
	t.Helper()
	vdir := filepath.Join(root, ".shoal", "versions")
	var out []keptFile
	filepath.WalkDir(vdir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(vdir, p)
		i := strings.LastIndexByte(rel, '~')
		if i < 0 {
			t.Fatalf("version file %s has no stamp", rel)
		}
		at, err := time.Parse("20060102-150405.000000000", rel[i+1:])
		if err != nil {
			t.Fatalf("version file %s: %v", rel, err)
		}
		info, _ := d.Info()
		out = append(out, keptFile{path: filepath.ToSlash(rel[:i]), size: info.Size(), at: at})
		return nil
	})
	return out
}

// TestRetentionUnderChurn: B rewrites A's files again and again; A keeps
// the versions the changes replace, and after every gc they are within
// its limits: at most versions= per file, none older than max-age, at
// most max-size in all. What it keeps still restores (gc took none of
// it), the index's history is trimmed alike, and the settings outlive a
// restart.
func TestRetentionUnderChurn(t *testing.T) {
	a := Start(t, bin, "A")
	b := Start(t, bin, "B", "--peer", a.Addr())
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	const files, size = 4, 40 << 10
	for i := range files {
		write(t, filepath.Join(da, fmt.Sprintf("f%d", i)), random(uint64(100+i), size))
	}
	rw, _ := a.Share(da)
	b.Must("join", rw, db)
	both := []*Node{a, b}
	Until(t, syncTimeout, both, "B filled", func() error { return SameTrees(da, db) })
	out := a.Must("folder", "set", da, "versions=3", "max-size=400KiB", "max-age=1h")
	if !strings.Contains(out, "versions=3") || !strings.Contains(out, "max-size=400 KiB") {
		t.Fatalf("folder set printed %q", out)
	}
	const maxSize = 400 << 10
	for round := range 6 {
		for i := range files {
			write(t, filepath.Join(db, fmt.Sprintf("f%d", i)), random(uint64(1000*round+i), size+round))
		}
		Until(t, syncTimeout, both, fmt.Sprintf("round %d on A", round), func() error { return SameTrees(da, db) })
	}
	// Retention runs every 10 minutes and before gc: gc runs it now.
	a.Must("gc")
	kept := keptFiles(t, da)
	perFile := map[string]int{}
	var total int64
	for _, k := range kept {
		perFile[k.path]++
		total += k.size
	}
	for p, n := range perFile {
		if n > 3 {
			t.Errorf("%s: %d versions kept, limit 3", p, n)
		}
	}
	if total > maxSize {
		t.Errorf("versions take %d bytes, limit %d", total, maxSize)
	}
	if len(kept) < 6 {
		t.Errorf("only %d versions kept: retention removed more than its limits ask", len(kept))
	}
	// The index keeps 3 superseded records and the current one.
	vs := history(t, a, filepath.Join(da, "f0"))
	if len(vs) != 4 {
		t.Fatalf("history of f0: %d versions, want 4: %+v", len(vs), vs)
	}
	// Every version still kept restores: gc kept its blocks.
	restored := 0
	for _, v := range vs {
		if !v.Here || v.Current {
			continue
		}
		dst := filepath.Join(t.TempDir(), "v")
		a.Must("restore", filepath.Join(da, "f0"), "--version", fmt.Sprint(v.Version), "-o", dst)
		if info, err := os.Stat(dst); err != nil || info.Size() != v.Size {
			t.Fatalf("version %d restored as %v, %v", v.Version, info, err)
		}
		restored++
	}
	if restored == 0 {
		t.Fatal("no kept version of f0 to restore")
	}

	// Age: with max-age=1s every version is past it by the next gc.
	a.Stop()
	a.Restart()
	if st := a.Must("status", da); !strings.Contains(st, "versions=3") {
		t.Fatalf("settings lost in a restart:\n%s", st)
	}
	a.Must("folder", "set", da, "max-age=1s")
	// Without the daemon no folder says what it needs: gc refuses.
	a.Stop()
	if _, err := a.Shoal("gc"); err == nil || !strings.Contains(err.Error(), "start the daemon") {
		t.Fatalf("gc without the daemon on a home with folders: %v", err)
	}
	a.Restart()
	Until(t, syncTimeout, []*Node{a}, "every version past max-age removed", func() error {
		before := time.Now()
		a.Must("gc")
		for _, k := range keptFiles(t, da) {
			if k.at.Before(before.Add(-time.Second)) {
				return fmt.Errorf("%s kept from %s, older than max-age", k.path, k.at)
			}
		}
		return nil
	})
}

// TestVersioningAll: a folder with versioning=all keeps what a local
// edit in place overwrote (from the blocks copied as it was scanned); the
// default keeps only what peers' changes replace, so there the old
// version is nowhere.
func TestVersioningAll(t *testing.T) {
	a := Start(t, bin, "A")
	for seed, mode := range []string{"all", "remote"} {
		t.Run(mode, func(t *testing.T) {
			da := filepath.Join(t.TempDir(), mode)
			file := filepath.Join(da, "notes.txt")
			v1 := random(uint64(70+seed), 200<<10) // unlike the other's: blocks are shared by hash
			write(t, file, v1)
			a.Must("share", "--versioning", mode, da)
			Until(t, syncTimeout, []*Node{a}, "scanned", func() error {
				vs, err := historyErr(a, file)
				if err != nil {
					return err
				}
				if len(vs) != 1 {
					return fmt.Errorf("%d versions", len(vs))
				}
				return nil
			})
			// Edited in place: the same inode, the old bytes gone from disk.
			fh, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			fh.Write([]byte("rewritten in place"))
			fh.Close()
			var vs []version
			Until(t, syncTimeout, []*Node{a}, "the edit recorded", func() error {
				var err error
				if vs, err = historyErr(a, file); err != nil {
					return err
				}
				if len(vs) != 2 {
					return fmt.Errorf("%d versions", len(vs))
				}
				return nil
			})
			dst := filepath.Join(t.TempDir(), "v1")
			_, err = a.Shoal("restore", file, "--version", "1", "-o", dst)
			switch mode {
			case "all":
				if err != nil || !vs[0].Here {
					t.Fatalf("versioning=all: version 1 here=%v, restore: %v", vs[0].Here, err)
				}
				if got, _ := os.ReadFile(dst); string(got) != string(v1) {
					t.Fatal("versioning=all restored the wrong bytes")
				}
			case "remote":
				if err == nil || vs[0].Here {
					t.Fatalf("versioning=remote kept a local edit's old version (here=%v, restore err %v)", vs[0].Here, err)
				}
				if !strings.Contains(err.Error(), "no reachable peer has the blocks") {
					t.Fatalf("restore of a version nobody has: %v", err)
				}
			}
		})
	}
}
