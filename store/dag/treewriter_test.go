package dag_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
)

// feed gives w every block of the DAG under root from src, in a random
// order in which each block comes after a block linking to it, as a fetch
// from many peers delivers them.
func feed(t *testing.T, src store.Store, root cid.Cid, w *dag.TreeWriter, seed uint64) {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 1))
	frontier := []cid.Cid{root}
	seen := map[cid.Cid]bool{root: true}
	for len(frontier) > 0 {
		i := r.IntN(len(frontier))
		c := frontier[i]
		frontier[i] = frontier[len(frontier)-1]
		frontier = frontier[:len(frontier)-1]
		data, err := src.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Put(ctx, c, data); err != nil {
			t.Fatalf("put %s: %v", c, err)
		}
		links, err := unixfs.Links(c, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if !seen[l] {
				seen[l] = true
				frontier = append(frontier, l)
			}
		}
	}
}

func TestTreeWriter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	big := randBytes(3<<20+5, 3)
	repeated := bytes.Repeat([]byte{7}, 5*1000+3) // the same 1000-byte leaf five times
	tests := []struct {
		name    string
		path    string
		chunker string
	}{
		{"tree", filepath.Join(vectors, "tree"), "size-262144"},
		{"one big file", writeFile(t, dir, "big", big), "fastcdc"},
		{"many levels", writeFile(t, dir, "levels", big), "size-4096"},
		{"repeated leaves", writeFile(t, dir, "rep", repeated), "size-1000"},
		{"single block", writeFile(t, dir, "small", []byte("small")), "fastcdc"},
		{"empty file", writeFile(t, dir, "empty", nil), "fastcdc"},
		// Over flushMin: written to disk and dropped from the page cache
		// behind the writes, in whole steps only.
		{"large file written behind", writeFile(t, dir, "large", randBytes(40<<20+12345, 5)), "fastcdc"},
	}
	for _, tt := range tests {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(tt.name, func(t *testing.T) {
				cfg, err := chunker.Parse(tt.chunker)
				if err != nil {
					t.Fatal(err)
				}
				src := openStore(t)
				root := addOne(t, src, tt.path, dag.AddOptions{Chunker: cfg})
				dst := openStore(t)
				out := filepath.Join(t.TempDir(), "out")
				w, err := dag.NewTreeWriter(dst, root, out, dag.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				feed(t, src, root, w, seed)
				if err := w.Finish(); err != nil {
					t.Fatal(err)
				}
				if fi, _ := os.Stat(tt.path); fi.IsDir() {
					assertSameTree(t, tt.path, out)
				} else {
					want, _ := os.ReadFile(tt.path)
					got, err := os.ReadFile(out)
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("written file differs (%v)", err)
					}
					if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
						t.Fatalf("written file's mode: %v (%v), want 0644 as a local get writes", fi.Mode(), err)
					}
				}
				// The store now serves the content through references to
				// the written files, with no copy of the leaves.
				if missing, err := dag.Missing(ctx, dst, root); err != nil || missing {
					t.Fatalf("store after get: missing=%v err=%v", missing, err)
				}
				var buf bytes.Buffer
				if fi, _ := os.Stat(tt.path); !fi.IsDir() {
					if _, err := dag.Cat(ctx, dst, root.String(), &buf); err != nil {
						t.Fatal(err)
					}
					want, _ := os.ReadFile(tt.path)
					if !bytes.Equal(buf.Bytes(), want) {
						t.Fatal("cat through the references differs")
					}
				}
				st, err := dst.Stats(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.DataBytes > 64<<10 {
					t.Fatalf("store copied %d bytes; only inner nodes should be copies", st.DataBytes)
				}
				leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".shoal-tmp-*"))
				if len(leftovers) > 0 {
					t.Fatalf("temporary files left: %v", leftovers)
				}
			})
		}
	}
}

func TestTreeWriterIncomplete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := writeFile(t, dir, "f", randBytes(1<<20, 9))
	src := openStore(t)
	cfg, _ := chunker.Parse("size-65536")
	root := addOne(t, src, p, dag.AddOptions{Chunker: cfg})
	data, _ := src.Get(ctx, root)
	dst := openStore(t)
	out := filepath.Join(t.TempDir(), "out")
	w, err := dag.NewTreeWriter(dst, root, out, dag.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, root, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err == nil {
		t.Fatal("Finish succeeded with leaves missing")
	}
	w.Abort()
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("an incomplete get left %s: %v", out, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".shoal-tmp-*"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

// TestTreeWriterAbortLarge: aborting a large file while it is written
// behind stops its flusher, leaves no output, and keeps the temporary file
// for the next get, which resumes from it.
func TestTreeWriterAbortLarge(t *testing.T) {
	ctx := context.Background()
	p := writeFile(t, t.TempDir(), "f", randBytes(40<<20, 11))
	src := openStore(t)
	cfg, _ := chunker.Parse("size-262144")
	root := addOne(t, src, p, dag.AddOptions{Chunker: cfg})
	dst := openStore(t)
	out := filepath.Join(t.TempDir(), "out")
	w, err := dag.NewTreeWriter(dst, root, out, dag.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Every block but the file's last leaf: most steps are whole.
	var last cid.Cid
	put := 0
	frontier := []cid.Cid{root}
	for len(frontier) > 0 {
		c := frontier[0]
		frontier = frontier[1:]
		data, err := src.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		links, err := unixfs.Links(c, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(links) == 0 && len(frontier) == 0 {
			last = c
			break
		}
		if err := w.Put(ctx, c, data); err != nil {
			t.Fatal(err)
		}
		put++
		frontier = append(frontier, links...)
	}
	if !last.Defined() || put < 100 {
		t.Fatalf("fed %d blocks, held back %s", put, last)
	}
	if err := w.Finish(); err == nil {
		t.Fatal("Finish succeeded with a leaf missing")
	}
	w.Abort()
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("an incomplete get left %s: %v", out, err)
	}
	// The large file's temporary file stays, for the next get to resume.
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".shoal-tmp-*"))
	if len(leftovers) != 1 {
		t.Fatalf("temporary files left: %v, want the one to resume from", leftovers)
	}
	resumeGet(t, src, root, out, map[cid.Cid]bool{last: true})
}

// resumeGet gets root from src into out with a new TreeWriter that should
// find every leaf except those in missing in a leftover temporary file: it
// feeds the inner nodes, checks which leaves the writer has (HasBlock),
// feeds the rest, and checks the file and that no temporary file is left.
func resumeGet(t *testing.T, src store.Store, root cid.Cid, out string, missing map[cid.Cid]bool) {
	t.Helper()
	ctx := context.Background()
	w, err := dag.NewTreeWriter(openStore(t), root, out, dag.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var leaves []cid.Cid
	frontier := []cid.Cid{root}
	for len(frontier) > 0 {
		c := frontier[0]
		frontier = frontier[1:]
		if c.Type() == cid.Raw {
			leaves = append(leaves, c)
			continue
		}
		data, err := src.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Put(ctx, c, data); err != nil {
			t.Fatal(err)
		}
		links, _ := unixfs.Links(c, data)
		frontier = append(frontier, links...)
	}
	for _, c := range leaves {
		if got := w.HasBlock(c); got == missing[c] {
			t.Fatalf("leaf %s: resumed %v, want %v", c, got, !missing[c])
		}
		if !w.HasBlock(c) {
			data, _ := src.Get(ctx, c)
			if err := w.Put(ctx, c, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	want, err := dag.Cat(ctx, src, root.String(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Size() != want {
		t.Fatalf("resumed file: %v, %d bytes of %d", err, fi.Size(), want)
	}
	var buf bytes.Buffer
	if _, err := dag.Cat(ctx, src, root.String(), &buf); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, buf.Bytes()) {
		t.Fatal("resumed file differs")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".shoal-tmp-*")); len(left) > 0 {
		t.Fatalf("temporary files left after the resumed get: %v", left)
	}
}

// TestTreeWriterResumeAfterCrash: a get killed midway (its temporary file
// as it was, torn pages included) is resumed by the next: leaves whose
// bytes match their hash are kept, the rest fetched; a leftover of
// another size (an older version) is removed.
func TestTreeWriterResumeAfterCrash(t *testing.T) {
	ctx := context.Background()
	p := writeFile(t, t.TempDir(), "f", randBytes(36<<20+4321, 17))
	src := openStore(t)
	cfg, _ := chunker.Parse("size-262144")
	root := addOne(t, src, p, dag.AddOptions{Chunker: cfg})
	content, _ := os.ReadFile(p)
	out := filepath.Join(t.TempDir(), "out")
	// What a crash leaves: the temporary file at full size, some leaves
	// written, some not, one torn.
	var leaves []cid.Cid
	var offs []int64
	var off int64
	var walk func(c cid.Cid)
	walk = func(c cid.Cid) {
		data, _ := src.Get(ctx, c)
		if c.Type() == cid.Raw {
			leaves, offs = append(leaves, c), append(offs, off)
			off += int64(len(data))
			return
		}
		links, _ := unixfs.Links(c, data)
		for _, l := range links {
			walk(l)
		}
	}
	walk(root)
	tmp := filepath.Join(filepath.Dir(out), ".shoal-tmp-out-123456")
	crashed := make([]byte, len(content))
	missing := map[cid.Cid]bool{}
	for i, c := range leaves {
		end := int64(len(content))
		if i+1 < len(leaves) {
			end = offs[i+1]
		}
		switch {
		case i%3 == 0: // never written
			missing[c] = true
		case i == 4: // torn: half written
			copy(crashed[offs[i]:], content[offs[i]:offs[i]+(end-offs[i])/2])
			missing[c] = true
		default:
			copy(crashed[offs[i]:end], content[offs[i]:end])
		}
	}
	if err := os.WriteFile(tmp, crashed, 0o644); err != nil {
		t.Fatal(err)
	}
	older := filepath.Join(filepath.Dir(out), ".shoal-tmp-out-99")
	if err := os.WriteFile(older, []byte("an older version"), 0o644); err != nil {
		t.Fatal(err)
	}
	resumeGet(t, src, root, out, missing)
	if _, err := os.Stat(older); !os.IsNotExist(err) {
		t.Fatalf("older leftover still there: %v", err)
	}
}

// TestTreeWriterGetBlock: while a get runs, every block placed so far
// reads back, checked against its hash, so a fetch can serve it on;
// blocks not yet placed are not found, bytes changed underneath are
// refused, and nothing reads once the writer is finished.
func TestTreeWriterGetBlock(t *testing.T) {
	ctx := context.Background()
	p := writeFile(t, t.TempDir(), "f", randBytes(2<<20+77, 13))
	src := openStore(t)
	cfg, _ := chunker.Parse("size-65536")
	root := addOne(t, src, p, dag.AddOptions{Chunker: cfg})
	rootData, err := src.Get(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	links, err := unixfs.Links(root, rootData)
	if err != nil || len(links) < 4 {
		t.Fatalf("root links: %d, %v", len(links), err)
	}
	out := filepath.Join(t.TempDir(), "out")
	w, err := dag.NewTreeWriter(openStore(t), root, out, dag.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, root, rootData); err != nil {
		t.Fatal(err)
	}
	half := links[:len(links)/2]
	for _, c := range half {
		data, _ := src.Get(ctx, c)
		if err := w.Put(ctx, c, data); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range append([]cid.Cid{root}, half...) {
		want, _ := src.Get(ctx, c)
		if !w.HasBlock(c) {
			t.Fatalf("HasBlock(%s) false after Put", c)
		}
		got, err := w.GetBlock(ctx, c, make([]byte, 0, 1024))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("GetBlock(%s): %d bytes, %v; want the %d bytes put", c, len(got), err, len(want))
		}
	}
	notYet := links[len(links)-1]
	if w.HasBlock(notYet) {
		t.Fatal("HasBlock true for a block not put")
	}
	if _, err := w.GetBlock(ctx, notYet, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetBlock of a block not put: %v, want ErrNotFound", err)
	}
	// Someone scribbles over the temporary file: the block no longer
	// matches its hash and is refused.
	tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".shoal-tmp-*"))
	if len(tmps) != 1 {
		t.Fatalf("temporary files: %v", tmps)
	}
	f, err := os.OpenFile(tmps[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("scribble"), 100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := w.GetBlock(ctx, half[0], nil); err == nil {
		t.Fatal("a changed block was read back")
	}
	w.Abort()
	if _, err := w.GetBlock(ctx, half[1], nil); err == nil {
		t.Fatal("a block was read back after Abort")
	}
}
