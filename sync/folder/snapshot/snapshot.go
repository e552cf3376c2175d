// Package snapshot builds the UnixFS directory of a synced folder from its
// index: every file's DAG is there already (its root node is in the store,
// its leaves are references into the folder), so a snapshot reads no file
// data and copies none; only the directory nodes are new. Its CID is what
// `shoal add --hidden` of the same files gives with the same chunker.
package snapshot

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/sync/folder/index"
)

// Records yields a folder's records.
type Records interface {
	Globals(ctx context.Context, prefix string, fn func(r *index.Record) error) error
}

// Getter reads a block (a file's root node).
type Getter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// Build returns the root of the folder's tree as the records say it is
// now; emit receives each directory block to store. Symlinks are left out,
// as `shoal add` leaves them out.
func Build(ctx context.Context, recs Records, g Getter, emit func(unixfs.Block) error) (cid.Cid, error) {
	dirs := map[string][]unixfs.DirEntry{"": nil}
	var order []string
	err := recs.Globals(ctx, "", func(r *index.Record) error {
		if r.Deleted || r.Type == index.TypeSymlink {
			return nil
		}
		switch r.Type {
		case index.TypeDir:
			if _, ok := dirs[r.Path]; !ok {
				dirs[r.Path] = nil
			}
			order = append(order, r.Path)
		case index.TypeFile:
			c := r.Cid()
			size, err := tsize(ctx, g, c, r.Size)
			if err != nil {
				return fmt.Errorf("snapshot %s: %w", r.Path, err)
			}
			dir := path.Dir(r.Path)
			if dir == "." {
				dir = ""
			}
			dirs[dir] = append(dirs[dir], unixfs.DirEntry{Name: path.Base(r.Path), Cid: c, Tsize: size})
		}
		return nil
	})
	if err != nil {
		return cid.Undef, err
	}
	// Deepest directories first, each linked into its parent.
	sort.Slice(order, func(i, j int) bool { return strings.Count(order[i], "/") > strings.Count(order[j], "/") })
	for _, d := range order {
		c, size, err := build(dirs[d], emit)
		if err != nil {
			return cid.Undef, fmt.Errorf("snapshot %s: %w", d, err)
		}
		parent := path.Dir(d)
		if parent == "." {
			parent = ""
		}
		dirs[parent] = append(dirs[parent], unixfs.DirEntry{Name: path.Base(d), Cid: c, Tsize: size})
	}
	root, _, err := build(dirs[""], emit)
	return root, err
}

func build(entries []unixfs.DirEntry, emit func(unixfs.Block) error) (cid.Cid, uint64, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return unixfs.BuildDirectory(entries, emit)
}

// tsize is the cumulative size a link to the file's DAG records: the
// leaf's length for a one-block file, else the root node's length and its
// links' sizes (read from the root node alone).
func tsize(ctx context.Context, g Getter, c cid.Cid, size int64) (uint64, error) {
	if c.Type() == unixfs.CodecRaw {
		return uint64(size), nil
	}
	data, err := g.Get(ctx, c)
	if err != nil {
		return 0, err
	}
	n, err := unixfs.Decode(c, data)
	if err != nil {
		return 0, err
	}
	t := uint64(len(data))
	for _, l := range n.Links {
		t += l.Tsize
	}
	return t, nil
}
