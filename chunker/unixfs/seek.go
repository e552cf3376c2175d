package unixfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrSeek is wrapped by errors about a seek to an offset outside the file
// (before its start or past its end) or with an unknown whence.
var ErrSeek = errors.New("invalid seek")

// Seek sets the offset of the next Read to offset, interpreted by whence
// (io.SeekStart, io.SeekCurrent or io.SeekEnd), and returns it. Offsets
// from 0 to Size() are valid; at Size() the next Read returns io.EOF.
// Nothing is fetched until the next Read, and a seek within the block in
// hand fetches nothing at all.
func (r *FileReader) Seek(offset int64, whence int) (int64, error) {
	if r.err != nil && r.err != io.EOF {
		return 0, r.err
	}
	if r.size > math.MaxInt64 {
		return 0, fmt.Errorf("seek in %s: %w: size %d does not fit an int64", r.root, ErrSeek, r.size)
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = r.pos()
	case io.SeekEnd:
		base = int64(r.size)
	default:
		return 0, fmt.Errorf("seek in %s: %w: whence %d", r.root, ErrSeek, whence)
	}
	if (offset > 0 && base > math.MaxInt64-offset) || base+offset < 0 {
		return 0, fmt.Errorf("seek in %s: %w: offset %d from %d is before the start", r.root, ErrSeek, offset, base)
	}
	n := base + offset
	if uint64(n) > r.size {
		return 0, fmt.Errorf("seek in %s: %w: offset %d is past the end of the %d-byte file", r.root, ErrSeek, n, r.size)
	}
	r.want = n
	return n, nil
}

// pos returns the offset the next Read starts at.
func (r *FileReader) pos() int64 {
	if r.want >= 0 {
		return r.want
	}
	return int64(r.read) - int64(len(r.cur))
}

// settle carries out a pending seek before reading.
func (r *FileReader) settle() error {
	if r.want < 0 {
		return nil
	}
	off := uint64(r.want)
	r.want = -1
	if r.err != nil && r.err != io.EOF {
		return r.err
	}
	start := r.read - uint64(len(r.piece))
	if off >= start && off <= r.read && (len(r.piece) > 0 || off == r.read) {
		// Within the piece in hand: nothing to fetch.
		r.cur = r.piece[off-start:]
		return nil
	}
	if err := r.reposition(off); err != nil {
		r.fail(err)
		return err
	}
	return nil
}

// reposition abandons the walk in progress and starts a new one at off:
// it descends from the root through the file nodes whose blocksizes cover
// off, leaving on the stack each node's links after the one taken, and
// queues the piece that holds off, to be read from off on.
func (r *FileReader) reposition(off uint64) error {
	r.gcancel()
	r.gctx, r.gcancel = context.WithCancel(r.ctx)
	clear(r.window)
	r.window = r.window[:0]
	r.stack = r.stack[:0]
	r.piece, r.cur = nil, nil
	r.read = off
	r.ahead = 1
	r.err = nil
	if off == r.size {
		return nil
	}
	if r.rootN == nil {
		r.window = append(r.window, doneFetch(r.root, r.rawRoot, off))
		return nil
	}
	c, n := r.root, r.rootN
	for {
		inline := uint64(len(n.FS.Data))
		if off < inline {
			r.window = append(r.window, doneFetch(c, n.FS.Data, off))
			if len(n.Links) > 0 {
				r.stack = append(r.stack, frame{c: c, links: n.Links, sizes: n.FS.BlockSizes})
			}
			return nil
		}
		off -= inline
		i := 0
		for i < len(n.FS.BlockSizes) && off >= n.FS.BlockSizes[i] {
			off -= n.FS.BlockSizes[i]
			i++
		}
		if i == len(n.Links) {
			// checkFileNode made the sizes add up, so this cannot happen.
			return fmt.Errorf("%w: offset beyond the blocksizes of %s", ErrInconsistent, c)
		}
		r.stack = append(r.stack, frame{c: c, links: n.Links, sizes: n.FS.BlockSizes, next: i + 1})
		l, want := n.Links[i], n.FS.BlockSizes[i]
		switch l.Cid.Type() {
		case CodecRaw:
			f := r.start(r.gctx, l.Cid, want)
			f.skip = off
			r.window = append(r.window, f)
			return nil
		case CodecDagPB:
			child, err := r.fileChild(c, l.Cid, want)
			if err != nil {
				return err
			}
			c, n = l.Cid, child
		default:
			return fmt.Errorf("%w: file link to %s with codec 0x%x", ErrInconsistent, l.Cid, l.Cid.Type())
		}
	}
}
