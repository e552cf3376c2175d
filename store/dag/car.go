package dag

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/car"
	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// Export writes a CAR v1 with root as its one root and every block of the
// DAG under it, each once (identity CIDs, whose CID is their content,
// never). A missing block is an error.
func Export(ctx context.Context, g unixfs.Getter, root cid.Cid, w io.Writer) error {
	if err := WriteCAR(ctx, g, root, w, CAROptions{}); err != nil {
		return fmt.Errorf("export %s: %w", root, err)
	}
	return nil
}

// ErrIncomplete means a CAR's roots do not have every block of their DAGs,
// neither in the CAR nor in the store.
var ErrIncomplete = errors.New("incomplete DAG")

// Import reads a CAR v1 from r, checks every block against its CID and that
// the DAG under each root is complete (in the CAR or already in the store),
// and only then stores the blocks and pins the roots, in one batch. A CAR
// that fails any check leaves the store as it was. r is read twice, so it
// must be seekable: spool a stream to a temporary file first.
func Import(ctx context.Context, s store.Store, r io.ReadSeeker) ([]cid.Cid, error) {
	roots, links, err := scanCAR(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := checkComplete(ctx, s, roots, links); err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("import: rewind: %w", err)
	}
	cr, err := car.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	b := s.NewBatch(ctx)
	defer b.Discard()
	for {
		c, data, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		if _, ok := unixfs.IdentityData(c); ok {
			continue // its CID is its content: nothing to store
		}
		if err := b.Put(c, data); err != nil {
			return nil, fmt.Errorf("import: store %s: %w", c, err)
		}
	}
	for _, c := range roots {
		if _, ok := unixfs.IdentityData(c); ok {
			continue
		}
		if err := b.Pin(c, store.PinRecursive); err != nil {
			return nil, fmt.Errorf("import: pin %s: %w", c, err)
		}
	}
	if err := b.Commit(); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return roots, nil
}

// scanCAR reads the whole CAR once, verifying each block, and returns its
// roots and the links of every block it holds, keyed by multihash.
func scanCAR(ctx context.Context, r io.Reader) ([]cid.Cid, map[string][]cid.Cid, error) {
	cr, err := car.NewReader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("import: %w", err)
	}
	links := make(map[string][]cid.Cid)
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		c, data, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("import: %w", err)
		}
		ls, err := unixfs.Links(c, data)
		if err != nil {
			return nil, nil, fmt.Errorf("import: block %s: %w", c, err)
		}
		links[string(c.Hash())] = ls
	}
	return cr.Roots(), links, nil
}

// checkComplete walks every root's DAG through the CAR's blocks and the
// store's, and reports the first block found in neither.
func checkComplete(ctx context.Context, s store.Store, roots []cid.Cid, inCAR map[string][]cid.Cid) error {
	seen := make(map[string]bool)
	stack := append([]cid.Cid(nil), roots...)
	parent := make(map[string]cid.Cid)
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		key := string(c.Hash())
		if seen[key] {
			continue
		}
		seen[key] = true
		ls, ok := inCAR[key]
		if data, id := unixfs.IdentityData(c); id && !ok {
			// An identity CID carries its block: nothing to find.
			var err error
			if ls, err = unixfs.Links(c, data); err != nil {
				return fmt.Errorf("import: block %s: %w", c, err)
			}
			ok = true
		}
		if !ok {
			data, err := s.Get(ctx, c)
			if errors.Is(err, store.ErrNotFound) {
				if p, ok := parent[key]; ok {
					return fmt.Errorf("import: %w: block %s (linked from %s) is missing", ErrIncomplete, c, p)
				}
				return fmt.Errorf("import: %w: root %s is missing", ErrIncomplete, c)
			}
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			if ls, err = unixfs.Links(c, data); err != nil {
				return fmt.Errorf("import: block %s: %w", c, err)
			}
		}
		for _, l := range ls {
			if _, ok := parent[string(l.Hash())]; !ok {
				parent[string(l.Hash())] = c
			}
			stack = append(stack, l)
		}
	}
	return nil
}
