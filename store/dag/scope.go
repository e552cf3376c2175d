package dag

import (
	"context"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/car"
	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// Scope is how much of the DAG at the end of a path a CAR carries, as
// the trustless gateway's dag-scope names it.
type Scope int

// The scopes.
const (
	// ScopeAll is the whole DAG under the block.
	ScopeAll Scope = iota
	// ScopeEntity is what it takes to read the UnixFS entity: every
	// block of a file (or of a byte range of it), the shards of a HAMT
	// directory, the node of a plain directory; the block itself for
	// anything else.
	ScopeEntity
	// ScopeBlock is the block alone.
	ScopeBlock
)

// String returns the scope as dag-scope spells it.
func (s Scope) String() string {
	switch s {
	case ScopeEntity:
		return "entity"
	case ScopeBlock:
		return "block"
	}
	return "all"
}

// CAROptions says what WriteCAR writes.
type CAROptions struct {
	// Roots go in the CAR's header; default the target.
	Roots []cid.Cid
	// Path are the blocks that lead to the target (the directories and
	// shards a path resolution read), written first.
	Path  []unixfs.Block
	Scope Scope
	// Range, with ScopeEntity and a file target, limits the file's
	// blocks to those that hold bytes From to To (inclusive).
	Range *ByteRange
	// Dups writes a block every time the walk meets it (dups=y); by
	// default each block goes once.
	Dups bool
}

// ByteRange is an inclusive range of a file's bytes.
type ByteRange struct{ From, To int64 }

// WriteCAR writes a CAR v1 of the blocks that opt selects under target,
// depth first, in link order, streaming each block as g returns it.
// Identity-hashed CIDs are never written: their CID is their content.
func WriteCAR(ctx context.Context, g unixfs.Getter, target cid.Cid, w io.Writer, opt CAROptions) error {
	roots := opt.Roots
	if len(roots) == 0 {
		roots = []cid.Cid{target}
	}
	cw, err := car.NewWriter(w, roots)
	if err != nil {
		return err
	}
	if opt.Dups {
		cw.KeepDuplicates()
	}
	put := func(c cid.Cid, data []byte) error {
		if _, ok := unixfs.IdentityData(c); ok {
			return nil
		}
		return cw.Put(c, data)
	}
	for _, b := range opt.Path {
		if err := put(b.Cid, b.Data); err != nil {
			return err
		}
	}
	sw := scopeWriter{ctx: ctx, g: g, put: put, dups: opt.Dups}
	switch {
	case opt.Scope == ScopeBlock:
		data, err := sw.get(target)
		if err != nil {
			return err
		}
		return put(target, data)
	case opt.Scope == ScopeEntity:
		return sw.entity(target, opt.Range)
	case opt.Dups:
		return sw.all(target)
	}
	return unixfs.Walk(ctx, g, target, put)
}

type scopeWriter struct {
	ctx  context.Context
	g    unixfs.Getter
	put  func(cid.Cid, []byte) error
	dups bool
}

func (sw scopeWriter) get(c cid.Cid) ([]byte, error) {
	if data, ok := unixfs.IdentityData(c); ok {
		return data, nil
	}
	data, err := sw.g.Get(sw.ctx, c)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", c, err)
	}
	return data, nil
}

// all writes every block under c, depth first, repeated blocks each time
// (the dups=y walk; the dups=n one is unixfs.Walk).
func (sw scopeWriter) all(c cid.Cid) error {
	data, err := sw.get(c)
	if err != nil {
		return err
	}
	links, err := unixfs.Links(c, data)
	if err != nil {
		return err
	}
	if err := sw.put(c, data); err != nil {
		return err
	}
	for _, l := range links {
		if err := sw.all(l); err != nil {
			return err
		}
	}
	return nil
}

// entity writes what it takes to read the UnixFS entity c.
func (sw scopeWriter) entity(c cid.Cid, rng *ByteRange) error {
	data, err := sw.get(c)
	if err != nil {
		return err
	}
	if c.Type() != unixfs.CodecDagPB {
		return sw.put(c, data)
	}
	n, err := unixfs.Decode(c, data)
	if err != nil {
		return err
	}
	switch n.FS.Type {
	case unixfs.TFile, unixfs.TRaw:
		if rng == nil {
			if sw.dups {
				return sw.all(c)
			}
			return unixfs.Walk(sw.ctx, sw.g, c, sw.put)
		}
		if err := sw.put(c, data); err != nil {
			return err
		}
		return sw.fileRange(c, n, 0, *rng)
	case unixfs.THAMTShard:
		// The shards, not the entries they point to.
		return unixfs.EachEntry(sw.ctx, sw.g, c, sw.put, func(unixfs.Link) error { return nil })
	}
	return sw.put(c, data)
}

// fileRange writes the children of file node n (whose bytes start at
// off) that hold bytes of rng, and their children in turn; nothing
// outside the range is read.
func (sw scopeWriter) fileRange(c cid.Cid, n *unixfs.Node, off int64, rng ByteRange) error {
	if len(n.FS.BlockSizes) != len(n.Links) {
		return fmt.Errorf("%w: %s has %d links and %d blocksizes", unixfs.ErrInconsistent, c, len(n.Links), len(n.FS.BlockSizes))
	}
	off += int64(len(n.FS.Data))
	for i, l := range n.Links {
		end := off + int64(n.FS.BlockSizes[i]) // exclusive
		if end > rng.From && off <= rng.To {
			data, err := sw.get(l.Cid)
			if err != nil {
				return err
			}
			if err := sw.put(l.Cid, data); err != nil {
				return err
			}
			if l.Cid.Type() == unixfs.CodecDagPB {
				child, err := unixfs.Decode(l.Cid, data)
				if err != nil {
					return err
				}
				if err := sw.fileRange(l.Cid, child, off, rng); err != nil {
					return err
				}
			}
		}
		if off > rng.To {
			break
		}
		off = end
	}
	return nil
}
