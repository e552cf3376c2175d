package dag

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker"
	"github.com/shoal-sync/shoal/store"
)

// AddFile chunks the regular file at path into b, as Add does for one
// file (with opt.NoCopy, leaves become references into the file), and
// returns its root and the size a link to it records. info is the stat
// the caller decided on; the caller checks afterwards that the file did
// not change meanwhile.
func AddFile(ctx context.Context, b store.Batch, path string, info fs.FileInfo, opt AddOptions) (cid.Cid, uint64, error) {
	if opt.Chunker == (chunker.Config{}) {
		opt.Chunker = chunker.DefaultConfig()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("add %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("add %s: %w", path, err)
	}
	defer f.Close()
	a := &adder{ctx: ctx, opt: opt, batch: b}
	root, size, err := a.addReader(f, abs, info)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("add %s: %w", path, err)
	}
	return root, size, nil
}
