package daemon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/store/dag"
)

// TestMovedFileFetchedAgain: b gets a's file with get -o, which leaves b
// references into the output file; the file is moved away. b's stat no
// longer counts those references, and cat, get and pin add fetch the
// content from a again instead of failing with "referenced file changed".
func TestMovedFileFetchedAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := startPair(t, ctx, Options{})
	data, root := addRandom(t, ctx, a, 2<<20, 5)
	be := newBackend(b.Node(), b.Swarm())
	out := filepath.Join(t.TempDir(), "out")
	if err := be.Get(ctx, root.String(), out, dag.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	st := b.Node().Store()
	before, err := st.Stats(ctx)
	if err != nil || before.Refs == 0 {
		t.Fatalf("after get -o: %+v, %v; want references", before, err)
	}
	if err := os.Rename(out, out+".moved"); err != nil {
		t.Fatal(err)
	}
	after, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Refs != 0 || after.StaleRefs != before.Refs {
		t.Fatalf("stat after the move: %d references, %d stale; want 0 and %d", after.Refs, after.StaleRefs, before.Refs)
	}
	var buf bytes.Buffer
	if err := be.Cat(ctx, root.String(), &buf); err != nil {
		t.Fatalf("cat after the file moved: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("cat after the file moved: bytes differ")
	}
	out2 := filepath.Join(t.TempDir(), "again")
	if err := be.Get(ctx, root.String(), out2, dag.GetOptions{}); err != nil {
		t.Fatalf("get after the file moved: %v", err)
	}
	if got, _ := os.ReadFile(out2); !bytes.Equal(got, data) {
		t.Fatal("get after the file moved: bytes differ")
	}
	if err := be.PinAdd(ctx, root, dag.PinOptions{Recursive: true}); err != nil {
		t.Fatalf("pin add after the file moved: %v", err)
	}
	if after, err = st.Stats(ctx); err != nil || after.StaleRefs != 0 {
		t.Fatalf("stat at the end: %+v, %v; want no stale references", after, err)
	}
}
