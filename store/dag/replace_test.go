package dag_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
)

// getters are the two ways a get writes: from the local store (dag.Get),
// and from blocks as a fetch delivers them (a TreeWriter), as the daemon
// does, with the type check it makes first.
var getters = []struct {
	name string
	get  func(t *testing.T, src store.Store, root cid.Cid, out string, opt dag.GetOptions) error
}{
	{"local", func(t *testing.T, src store.Store, root cid.Cid, out string, opt dag.GetOptions) error {
		return dag.Get(context.Background(), src, root.String(), out, opt)
	}},
	{"fetched", func(t *testing.T, src store.Store, root cid.Cid, out string, opt dag.GetOptions) error {
		info, err := unixfs.Stat(context.Background(), src, root)
		if err != nil {
			return err
		}
		if err := dag.CheckOut(out, opt.Force, info.IsDir()); err != nil {
			return err
		}
		w, err := dag.NewTreeWriter(openStore(t), root, out, opt)
		if err != nil {
			return err
		}
		if err := feedErr(src, root, w); err != nil {
			w.Abort()
			return err
		}
		if err := w.Finish(); err != nil {
			w.Abort()
			return err
		}
		return nil
	}},
}

// feedErr gives w the DAG under root in DAG order, returning Put's error.
func feedErr(src store.Store, root cid.Cid, w *dag.TreeWriter) error {
	ctx := context.Background()
	queue := []cid.Cid{root}
	seen := map[cid.Cid]bool{root: true}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		data, err := src.Get(ctx, c)
		if err != nil {
			return err
		}
		if err := w.Put(ctx, c, data); err != nil {
			return err
		}
		links, err := unixfs.Links(c, data)
		if err != nil {
			return err
		}
		for _, l := range links {
			if !seen[l] {
				seen[l] = true
				queue = append(queue, l)
			}
		}
	}
	return nil
}

// TestGetReplaces gets a file and a tree onto every kind of existing
// output: with --force the output becomes exactly the CID's content
// (nothing merged, nothing of the old left), without it an existing output
// is refused and left as it was (an empty directory takes a tree), and no
// temporary, staged or replaced path stays beside it.
func TestGetReplaces(t *testing.T) {
	src := openStore(t)
	dir := t.TempDir()
	fileData := randBytes(300<<10, 9)
	file := addOne(t, src, writeFile(t, dir, "file", fileData), dag.AddOptions{Chunker: kubo(t)})
	treeDir := filepath.Join(vectors, "tree")
	tree := addOne(t, src, treeDir, dag.AddOptions{Chunker: kubo(t)})

	type existing int
	const (
		none existing = iota
		emptyDir
		fullDir // a directory with a file the tree lacks and one it has, changed
		oneFile
	)
	prepare := func(t *testing.T, out string, e existing) {
		switch e {
		case emptyDir:
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
		case fullDir:
			if err := os.MkdirAll(filepath.Join(out, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, out, "extra.txt", []byte("not in the tree"))
			writeFile(t, out, "hello.txt", []byte("an older hello"))
		case oneFile:
			writeFile(t, filepath.Dir(out), filepath.Base(out), []byte("an old file"))
		}
	}
	tests := []struct {
		name   string
		root   cid.Cid
		exists existing
		force  bool
		refuse bool
	}{
		{"file onto nothing", file, none, false, false},
		{"file onto an empty directory", file, emptyDir, false, true},
		{"file onto an empty directory, forced", file, emptyDir, true, false},
		{"file onto a full directory, forced", file, fullDir, true, false},
		{"file onto a file", file, oneFile, false, true},
		{"file onto a file, forced", file, oneFile, true, false},
		{"tree onto an empty directory", tree, emptyDir, false, false},
		{"tree onto a full directory", tree, fullDir, false, true},
		{"tree onto a full directory, forced", tree, fullDir, true, false},
		{"tree onto a file, forced", tree, oneFile, true, false},
	}
	for _, g := range getters {
		for _, tc := range tests {
			t.Run(g.name+"/"+tc.name, func(t *testing.T) {
				parent := t.TempDir()
				out := filepath.Join(parent, "out")
				prepare(t, out, tc.exists)
				before := snapshot(t, out)
				err := g.get(t, src, tc.root, out, dag.GetOptions{Force: tc.force})
				if tc.refuse {
					if !errors.Is(err, dag.ErrExists) {
						t.Fatalf("get: %v, want ErrExists", err)
					}
					if !strings.Contains(err.Error(), "--force") {
						t.Errorf("refusal %q does not say --force", err)
					}
					if after := snapshot(t, out); after != before {
						t.Errorf("refused get changed the output:\n%s\nwas\n%s", after, before)
					}
				} else {
					if err != nil {
						t.Fatalf("get: %v", err)
					}
					if tc.root == tree {
						assertSameTree(t, treeDir, out)
						if got, want := snapshot(t, out), snapshot(t, treeDir); got != want {
							t.Errorf("output is not exactly the tree:\n%s\nwant\n%s", got, want)
						}
					} else if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, fileData) {
						t.Errorf("output is not the file (%v)", err)
					}
				}
				assertNothingBeside(t, parent, "out")
			})
		}
	}
}

// TestGetUnsafeNameLeavesNothing gets a directory whose second entry
// would escape the output: the get is refused, and neither the output
// directory nor the entry written before the bad one is left.
func TestGetUnsafeNameLeavesNothing(t *testing.T) {
	ctx := context.Background()
	src := openStore(t)
	leaf := addOne(t, src, writeFile(t, t.TempDir(), "ok", []byte("fine")), dag.AddOptions{Chunker: kubo(t)})
	data := unixfs.EncodePBNode([]unixfs.Link{
		{Name: "ok.txt", Cid: leaf, Tsize: 4},
		{Name: "../escaped.txt", Cid: leaf, Tsize: 4},
	}, (&unixfs.FSData{Type: unixfs.TDirectory}).Encode())
	root := unixfs.NodeCID(data)
	b := src.NewBatch(ctx)
	if err := b.Put(root, data); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, g := range getters {
		t.Run(g.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			err := g.get(t, src, root, out, dag.GetOptions{})
			if err == nil || !strings.Contains(err.Error(), "unsafe entry name") {
				t.Fatalf("get: %v, want an unsafe entry name refused", err)
			}
			if strings.Contains(err.Error(), ".shoal-") {
				t.Errorf("error %q names a temporary path, not the output", err)
			}
			assertNothingBeside(t, parent, "")
		})
	}
}

// snapshot lists every path under root with its kind and content, one a
// line, relative to root ("" when root does not exist).
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) && p == root {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			b.WriteString(rel + "/\n")
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %x\n", rel, sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// assertNothingBeside checks that parent holds only want (or nothing).
func assertNothingBeside(t *testing.T, parent, want string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != want {
			t.Errorf("%s left beside the output", e.Name())
		}
	}
	if want != "" && len(ents) != 1 {
		t.Errorf("%s: %d entries, want only %s", parent, len(ents), want)
	}
}

// TestGetLongOutputName replaces an output whose name is near the 255
// bytes filesystems allow: the staged tree and the old one set aside
// beside it get names that fit.
func TestGetLongOutputName(t *testing.T) {
	src := openStore(t)
	treeDir := filepath.Join(vectors, "tree")
	tree := addOne(t, src, treeDir, dag.AddOptions{Chunker: kubo(t)})
	for _, g := range getters {
		t.Run(g.name, func(t *testing.T) {
			parent := t.TempDir()
			name := strings.Repeat("é", 120) // 240 bytes
			out := filepath.Join(parent, name)
			writeFile(t, parent, name, []byte("an old file"))
			if err := g.get(t, src, tree, out, dag.GetOptions{Force: true}); err != nil {
				t.Fatalf("get: %v", err)
			}
			assertSameTree(t, treeDir, out)
			assertNothingBeside(t, parent, name)
		})
	}
}
