package dag_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
)

// writeShardedTree writes a folder with a subdirectory big enough for
// kubo to shard it (950 entries of 285 bytes each in its estimate) and a
// file beside it, and returns the folder and big/'s names.
func writeShardedTree(t *testing.T) (string, []string) {
	t.Helper()
	top := filepath.Join(t.TempDir(), "top")
	var names []string
	for i := range 950 {
		name := fmt.Sprintf("%04d-%s.txt", i, strings.Repeat("n", 240))
		writeFile(t, top, filepath.Join("big", name), []byte(fmt.Sprintf("entry %d\n", i)))
		names = append(names, name)
	}
	writeFile(t, top, "small.txt", []byte("beside\n"))
	return top, names
}

// TestHAMTReadPaths adds a folder with a HAMT-sharded subdirectory and
// reads it back every way: stat, list, resolve and cat a path through the
// shards, get to disk, a TreeWriter fed in random order, CAR export and
// import, and a collection that must keep every block of the pinned DAG.
func TestHAMTReadPaths(t *testing.T) {
	ctx := context.Background()
	top, names := writeShardedTree(t)
	s := openStore(t)
	root := addOne(t, s, top, dag.AddOptions{Chunker: kubo(t), Pin: true})

	big, err := unixfs.Resolve(ctx, s, root, "big")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := unixfs.Stat(ctx, s, big); err != nil || info.Type != unixfs.TypeHAMT {
		t.Fatalf("big/ is %v (%v), want a HAMT", info.Type, err)
	}
	links, err := unixfs.ListDir(ctx, s, big)
	if err != nil || len(links) != len(names) {
		t.Fatalf("list big/: %d entries (%v), want %d", len(links), err, len(names))
	}
	var out bytes.Buffer
	p := root.String() + "/big/" + names[777]
	if _, err := dag.Cat(ctx, s, p, &out); err != nil || out.String() != "entry 777\n" {
		t.Fatalf("cat %s = %q, %v", p, out.String(), err)
	}
	if _, err := unixfs.Lookup(ctx, s, big, "no-such-name"); err == nil {
		t.Fatal("lookup of a missing name succeeded")
	}

	got := filepath.Join(t.TempDir(), "got")
	if err := dag.Get(ctx, s, root.String(), got, dag.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, top, got)

	dst := openStore(t)
	tw := filepath.Join(t.TempDir(), "tw")
	w, err := dag.NewTreeWriter(dst, root, tw, dag.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, s, root, w, 7)
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, top, tw)

	var car bytes.Buffer
	if err := dag.Export(ctx, s, root, &car); err != nil {
		t.Fatal(err)
	}
	other := openStore(t)
	if _, err := dag.Import(ctx, other, bytes.NewReader(car.Bytes())); err != nil {
		t.Fatal(err)
	}
	if missing, err := dag.Missing(ctx, other, root); err != nil || missing {
		t.Fatalf("imported DAG: missing=%v err=%v", missing, err)
	}

	gc, ok := s.(interface {
		GC(context.Context) (store.GCStats, error)
	})
	if !ok {
		t.Skip("store has no GC")
	}
	if _, err := gc.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if missing, err := dag.Missing(ctx, s, root); err != nil || missing {
		t.Fatalf("after GC the pinned HAMT lost blocks: missing=%v err=%v", missing, err)
	}
}
