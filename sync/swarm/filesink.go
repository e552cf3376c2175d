package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// ErrNotFileDAG is returned by FileSink for a block that is not part of a
// UnixFS file (a directory, another codec) or does not fit its parent.
var ErrNotFileDAG = errors.New("not a UnixFS file DAG")

// OutFile is what FileSink writes into; an *os.File is one (and is also
// truncated to the file's size as soon as the root arrives).
type OutFile interface {
	io.ReaderAt
	io.WriterAt
}

// FileSink writes the bytes of a UnixFS file fetched by Fetch straight
// into F at their offsets, in whatever order blocks arrive; Fetch always
// passes a node before the blocks it links to, which is what lets the sink
// place them. A block that appears at several offsets arrives once and is
// copied to the others. It is for `shoal get -o`: OnLeaf, if set, is called
// for every raw leaf written, to record a store reference to it. Use one
// FileSink per Fetch; it is not safe for concurrent use.
type FileSink struct {
	F OutFile
	// OnLeaf is called after a raw leaf is written at off.
	OnLeaf func(ctx context.Context, c cid.Cid, off int64, data []byte) error

	started bool
	size    int64
	want    map[cid.Cid][]int64 // blocks announced by a parent: where they go
	placed  map[cid.Cid]span    // blocks written: where and how long
}

type span struct{ off, n int64 }

// Size returns the file's size, known once the root has arrived.
func (s *FileSink) Size() int64 { return s.size }

// Put writes block c wherever its parents placed it.
func (s *FileSink) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if !s.started {
		s.started = true
		s.want = map[cid.Cid][]int64{c: {0}}
		s.placed = make(map[cid.Cid]span)
	}
	offs, ok := s.want[c]
	if !ok {
		return fmt.Errorf("block %s: %w: no parent placed it", c, ErrNotFileDAG)
	}
	delete(s.want, c)
	switch c.Type() {
	case unixfs.CodecRaw:
		for _, off := range offs {
			if err := s.leaf(ctx, c, off, data); err != nil {
				return err
			}
		}
		s.placed[c] = span{offs[0], int64(len(data))}
		s.grow(offs[len(offs)-1] + int64(len(data)))
		return nil
	case unixfs.CodecDagPB:
		n, err := unixfs.Decode(c, data)
		if err != nil {
			return fmt.Errorf("block %s: %w", c, err)
		}
		if n.FS.Type != unixfs.TFile && n.FS.Type != unixfs.TRaw {
			return fmt.Errorf("block %s: %w: UnixFS %s node", c, ErrNotFileDAG, n.FS.Type)
		}
		if len(n.FS.BlockSizes) != len(n.Links) {
			return fmt.Errorf("block %s: %w: %d links but %d blocksizes", c, ErrNotFileDAG, len(n.Links), len(n.FS.BlockSizes))
		}
		total := int64(len(n.FS.Data))
		for _, b := range n.FS.BlockSizes {
			total += int64(b)
		}
		if s.size == 0 && len(s.placed) == 0 {
			if err := s.setSize(total); err != nil {
				return err
			}
		}
		for _, off := range offs {
			if len(n.FS.Data) > 0 {
				if _, err := s.F.WriteAt(n.FS.Data, off); err != nil {
					return fmt.Errorf("write block %s at %d: %w", c, off, err)
				}
			}
			pos := off + int64(len(n.FS.Data))
			for i, l := range n.Links {
				if err := s.place(ctx, l.Cid, pos, int64(n.FS.BlockSizes[i])); err != nil {
					return err
				}
				pos += int64(n.FS.BlockSizes[i])
			}
		}
		s.placed[c] = span{offs[0], total}
		s.grow(offs[len(offs)-1] + total)
		return nil
	}
	return fmt.Errorf("block %s: %w: codec 0x%x", c, ErrNotFileDAG, c.Type())
}

// place records that child c goes at off; if c was already written
// elsewhere, its bytes are copied there now (Fetch hands each block once).
func (s *FileSink) place(ctx context.Context, c cid.Cid, off, n int64) error {
	sp, done := s.placed[c]
	if !done {
		s.want[c] = append(s.want[c], off)
		return nil
	}
	if sp.n != n {
		return fmt.Errorf("block %s: %w: %d bytes where its parent says %d", c, ErrNotFileDAG, sp.n, n)
	}
	buf := make([]byte, n)
	if _, err := s.F.ReadAt(buf, sp.off); err != nil {
		return fmt.Errorf("copy block %s from %d: %w", c, sp.off, err)
	}
	if c.Type() == unixfs.CodecRaw {
		return s.leaf(ctx, c, off, buf)
	}
	if _, err := s.F.WriteAt(buf, off); err != nil {
		return fmt.Errorf("copy block %s to %d: %w", c, off, err)
	}
	return nil
}

func (s *FileSink) leaf(ctx context.Context, c cid.Cid, off int64, data []byte) error {
	if _, err := s.F.WriteAt(data, off); err != nil {
		return fmt.Errorf("write block %s at %d: %w", c, off, err)
	}
	if s.OnLeaf != nil {
		return s.OnLeaf(ctx, c, off, data)
	}
	return nil
}

// setSize fixes the file's size from the root, truncating F to it when F
// can be truncated, so that references recorded meanwhile see the final size.
func (s *FileSink) setSize(n int64) error {
	s.size = n
	if t, ok := s.F.(interface{ Truncate(int64) error }); ok {
		if err := t.Truncate(n); err != nil {
			return fmt.Errorf("size output file to %d bytes: %w", n, err)
		}
	}
	return nil
}

func (s *FileSink) grow(end int64) {
	s.size = max(s.size, end)
}
