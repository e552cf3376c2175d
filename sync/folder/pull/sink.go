package pull

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// leaf is a raw block written at an offset of the file.
type leaf struct {
	c   cid.Cid
	off int64
	n   int
}

// node is an inner dag-pb block, kept to store once the file is in place.
type node struct {
	c    cid.Cid
	data []byte
}

// fileSink writes the blocks of one file's DAG, arriving parents first,
// to where they belong in f.
type fileSink struct {
	f      *os.File
	w      *segWriter // writes to f
	size   int64
	mu     sync.Mutex
	place  map[cid.Cid][]slot       // where blocks not yet arrived go
	done   map[cid.Cid]leaf         // leaves written, for later links to them
	seen   map[cid.Cid]*unixfs.Node // inner nodes arrived, likewise
	leaves []leaf
	nodes  []node
	left   int64 // bytes not yet written
	last   time.Time
	// resumed: f holds what an earlier, interrupted pull wrote; a leaf
	// whose bytes there still hash right is not fetched again.
	resumed bool
}

// slot is where a block goes: its offset and, for a raw leaf, its length.
type slot struct {
	off int64
	n   int
}

// newFileSink writes the file under root, size bytes, to f; direct, if
// not nil, is f opened for direct writes, used as budget allows.
func newFileSink(f, direct *os.File, root cid.Cid, size int64, budget *WriteBudget) *fileSink {
	return &fileSink{f: f, w: newSegWriter(f, direct, size, budget), size: size, left: size, place: map[cid.Cid][]slot{root: {{off: 0, n: int(size)}}},
		done: make(map[cid.Cid]leaf), seen: make(map[cid.Cid]*unixfs.Node), last: time.Now()}
}

// Put places one verified block.
func (s *fileSink) Put(_ context.Context, c cid.Cid, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = time.Now()
	offs := s.place[c]
	delete(s.place, c)
	if c.Type() == unixfs.CodecRaw {
		for _, sl := range offs {
			if err := s.write(c, data, sl.off); err != nil {
				return err
			}
		}
		return nil
	}
	n, err := unixfs.Decode(c, data)
	if err != nil {
		return err
	}
	if n.FS.Type != unixfs.TFile && n.FS.Type != unixfs.TRaw {
		return fmt.Errorf("block %s is a %s, not part of a file", c, n.FS.Type)
	}
	if len(n.FS.BlockSizes) != len(n.Links) {
		return fmt.Errorf("block %s: %d links and %d blocksizes", c, len(n.Links), len(n.FS.BlockSizes))
	}
	s.nodes = append(s.nodes, node{c: c, data: append([]byte(nil), data...)})
	s.seen[c] = n
	for _, sl := range offs {
		if err := s.expand(n, sl.off); err != nil {
			return err
		}
	}
	return nil
}

// expand places the inline data and the children of file node n at off.
func (s *fileSink) expand(n *unixfs.Node, off int64) error {
	if len(n.FS.Data) > 0 {
		if err := s.writeRaw(n.FS.Data, off); err != nil {
			return err
		}
		off += int64(len(n.FS.Data))
	}
	for i, l := range n.Links {
		if err := s.link(l.Cid, slot{off: off, n: int(n.FS.BlockSizes[i])}); err != nil {
			return err
		}
		off += int64(n.FS.BlockSizes[i])
	}
	return nil
}

// link places child c at sl: at once if it was already written.
func (s *fileSink) link(c cid.Cid, sl slot) error {
	if n, ok := s.seen[c]; ok {
		return s.expand(n, sl.off) // a repeated subtree: it comes only once
	}
	d, ok := s.done[c]
	if !ok {
		s.place[c] = append(s.place[c], sl)
		return nil
	}
	off := sl.off
	buf := make([]byte, d.n)
	if err := s.w.ReadAt(buf, d.off); err != nil {
		return fmt.Errorf("copy repeated block %s: %w", c, err)
	}
	return s.write(c, buf, off)
}

func (s *fileSink) write(c cid.Cid, data []byte, off int64) error {
	if err := s.writeRaw(data, off); err != nil {
		return err
	}
	l := leaf{c: c, off: off, n: len(data)}
	s.leaves = append(s.leaves, l)
	if _, ok := s.done[c]; !ok {
		s.done[c] = l
	}
	return nil
}

func (s *fileSink) writeRaw(data []byte, off int64) error {
	if off < 0 || off+int64(len(data)) > s.size {
		return fmt.Errorf("a block of %d bytes at %d runs past the file's %d bytes", len(data), off, s.size)
	}
	if err := s.w.WriteAt(data, off); err != nil {
		return err
	}
	s.left -= int64(len(data))
	return nil
}

// HasBlock reports whether leaf c is in the resumed file already, at
// every place it goes, with the right bytes (read back and hashed); if so
// it counts as written and is not fetched.
func (s *fileSink) HasBlock(c cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	slots := s.place[c]
	if !s.resumed || c.Type() != unixfs.CodecRaw || len(slots) == 0 {
		return false
	}
	buf := make([]byte, slots[0].n)
	for _, sl := range slots {
		if sl.n != len(buf) || sl.off+int64(sl.n) > s.size {
			return false
		}
		if _, err := s.f.ReadAt(buf, sl.off); err != nil || store.VerifyBlock(c, buf) != nil {
			return false
		}
	}
	delete(s.place, c)
	for _, sl := range slots {
		l := leaf{c: c, off: sl.off, n: sl.n}
		s.leaves = append(s.leaves, l)
		if _, ok := s.done[c]; !ok {
			s.done[c] = l
		}
		s.left -= int64(sl.n)
	}
	s.last = time.Now()
	return true
}

// GetBlock is never needed: HasBlock holds only raw leaves, which the
// fetch does not read back.
func (s *fileSink) GetBlock(context.Context, cid.Cid, []byte) ([]byte, error) {
	return nil, store.ErrNotFound
}

// BorrowsData: Put writes a leaf out before it returns and keeps a copy
// of an inner node, so the swarm may reuse the buffer it handed over.
func (s *fileSink) BorrowsData() {}

// Private: a folder's blocks are served by the folder's policy, never
// to anyone from a running pull.
func (s *fileSink) Private() {}

// close finishes the writes: f then holds every byte put, and the error
// is the first write's that failed. It may be called more than once.
func (s *fileSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Close()
}

// complete reports whether every byte of the file was written.
func (s *fileSink) complete() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.place) > 0 || s.left != 0 {
		return fmt.Errorf("file incomplete: %d blocks and %d bytes missing", len(s.place), s.left)
	}
	return nil
}

// idleSince returns when the last block arrived.
func (s *fileSink) idleSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
