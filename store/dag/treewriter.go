package dag

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// ErrInconsistent means a DAG's sizes do not add up (a file node's
// blocksizes against its leaves, or its filesize against its children).
var ErrInconsistent = errors.New("inconsistent DAG")

// TreeWriter writes a file or directory DAG to disk from blocks given in
// any order in which every block comes after one that links to it (the
// order a fetch discovers them in). Leaf bytes go once, straight into the
// output files; the store keeps the inner nodes and references to the
// leaves in the finished files, as `add --nocopy` does, so nothing is
// copied through the store's write path. Each file is written to a
// temporary file beside its target, synced and renamed when complete. A
// directory tree is written beside out (stagePath) and swapped in by
// Finish, so that an existing out (with Force) is replaced by exactly the
// tree, and a get that fails leaves nothing at out; a file is swapped in
// as soon as it is complete.
//
// Put is the sink; Finish must follow the last block, Abort any failure.
type TreeWriter struct {
	s      store.Store
	root   cid.Cid
	out    string
	stage  string // where the tree is written when root is a directory
	staged bool   // root is a directory: files are under stage until Finish
	opt    GetOptions
	place  map[cid.Cid][]placement // where blocks not yet seen go
	files  []*outFile
	open   int // files not yet complete

	// seen is written by Put and read by Put and, from other goroutines,
	// by GetBlock: mu guards the writes and those reads.
	mu   sync.Mutex
	seen map[cid.Cid]seenBlock // blocks already placed, for later links

	resumeBuf []byte // what resume reads leaves into
}

// placement says where a block's content belongs: as the whole entry at
// path (file is nil), or as the bytes of file from off.
type placement struct {
	path  string
	file  *outFile
	off   int64
	root  bool // the root's placement: a directory goes to the stage
	shard bool // a sub-shard of the HAMT directory at path
}

// seenBlock remembers a placed block so that a later link to it (a
// repeated chunk, a shared subtree) can be placed without it arriving again.
type seenBlock struct {
	data []byte   // dag-pb nodes only
	file *outFile // raw leaves: where a copy of its bytes is
	off  int64
	n    int
}

type outFile struct {
	path, tmpPath string
	f             *os.File
	size, left    int64
	leaves        []leafRef
	done          bool
	resumed       bool     // f is a leftover of an earlier get, see resume
	flush         *flusher // large files: written behind, see flusher
	filled        []int32  // with flush: bytes written in each flushStep of f
	firstOpen     int      // with flush: the first step not yet whole
	end           int64    // with flush: the end of the furthest write
	sinceKick     int64    // with flush: bytes written since the last partial writeback
}

// written records that [off, end) of f is written, and tells the flusher
// about each flushStep of f that is now whole. Blocks arrive out of order
// within a window, so steps become whole some way behind the furthest
// write: every flushStep bytes the flusher is also told to start writing
// what is dirty between the first step not yet whole and that write,
// which leaves little for the fsync at the end.
func (f *outFile) written(off, end int64) {
	if f.flush == nil {
		return
	}
	for k := off / flushStep; k*flushStep < end; k++ {
		lo, hi := max(off, k*flushStep), min(end, (k+1)*flushStep)
		f.filled[k] += int32(hi - lo)
		if f.stepWhole(k) {
			f.flush.whole(k * flushStep)
		}
	}
	for f.firstOpen < len(f.filled) && f.stepWhole(int64(f.firstOpen)) {
		f.firstOpen++
	}
	f.end = max(f.end, end)
	if f.sinceKick += end - off; f.sinceKick >= flushStep {
		f.sinceKick = 0
		if lo := int64(f.firstOpen) * flushStep; lo < f.end {
			f.flush.partial(lo, f.end)
		}
	}
}

func (f *outFile) stepWhole(k int64) bool {
	return int64(f.filled[k]) == min(flushStep, f.size-k*flushStep)
}

type leafRef struct {
	c   cid.Cid
	off int64
	n   uint32
}

// NewTreeWriter prepares to write the DAG under root to out, refusing an
// existing out unless opt.Force or it is an empty directory (CheckOut;
// callers that know root is a file check that first).
func NewTreeWriter(s store.Store, root cid.Cid, out string, opt GetOptions) (*TreeWriter, error) {
	out = filepath.Clean(out)
	if err := CheckOut(out, opt.Force, true); err != nil {
		return nil, err
	}
	return &TreeWriter{
		s: s, root: root, out: out, stage: stagePath(out, root), opt: opt,
		place: map[cid.Cid][]placement{root: {{path: out, root: true}}},
		seen:  make(map[cid.Cid]seenBlock),
	}, nil
}

// Put places one verified block.
func (w *TreeWriter) Put(ctx context.Context, c cid.Cid, data []byte) error {
	ps := w.place[c]
	delete(w.place, c)
	if _, dup := w.seen[c]; dup {
		return nil
	}
	sb := seenBlock{n: len(data)}
	if c.Type() == unixfs.CodecDagPB || len(data) == 0 {
		sb.data = append([]byte(nil), data...)
		if err := w.putNode(ctx, c, sb.data); err != nil {
			return err
		}
	}
	for _, p := range ps {
		f, off, err := w.apply(c, data, p)
		if err != nil {
			return err
		}
		if sb.file == nil && f != nil {
			sb.file, sb.off = f, off
		}
	}
	w.mu.Lock()
	w.seen[c] = sb
	w.mu.Unlock()
	return nil
}

// HasBlock reports whether block c was placed and can be read back.
func (w *TreeWriter) HasBlock(c cid.Cid) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	sb, ok := w.seen[c]
	return ok && (sb.data != nil || sb.file != nil)
}

// GetBlock reads block c back from where Put placed it (the output file
// for a raw leaf), into buf when it fits, and checks it against its hash,
// so that a fetch into a TreeWriter can serve what it has to other peers
// while it runs. A block not placed gives store.ErrNotFound; once the
// writer is finished or aborted its files are closed and reads fail.
// Safe to call concurrently with Put.
func (w *TreeWriter) GetBlock(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	w.mu.Lock()
	sb, ok := w.seen[c]
	w.mu.Unlock()
	if !ok || (sb.data == nil && sb.file == nil) {
		return nil, fmt.Errorf("block %s: %w", c, store.ErrNotFound)
	}
	if cap(buf) < sb.n {
		buf = make([]byte, sb.n)
	}
	buf = buf[:sb.n]
	if sb.data != nil {
		copy(buf, sb.data)
		return buf, nil
	}
	if _, err := sb.file.f.ReadAt(buf, sb.off); err != nil {
		return nil, fmt.Errorf("block %s: read back from %s: %w", c, sb.file.path, err)
	}
	if err := store.VerifyBlock(c, buf); err != nil {
		return nil, fmt.Errorf("block %s: read back from %s: %w", c, sb.file.path, err)
	}
	return buf, nil
}

// BorrowsData marks TreeWriter as a sink that keeps nothing of a raw
// leaf's data once Put returns (it is written into a file), so that the
// caller (sync/swarm) may reuse that memory.
func (w *TreeWriter) BorrowsData() {}

// putNode keeps an inner node (or the empty block) in the store, as a copy.
func (w *TreeWriter) putNode(ctx context.Context, c cid.Cid, data []byte) error {
	b := w.s.NewBatch(ctx)
	if err := b.Put(c, data); err != nil {
		b.Discard()
		return fmt.Errorf("get: store %s: %w", c, err)
	}
	return b.Commit()
}

// link records that c belongs at p, placing it now if it was seen.
func (w *TreeWriter) link(c cid.Cid, p placement) error {
	sb, ok := w.seen[c]
	if !ok {
		w.place[c] = append(w.place[c], p)
		return nil
	}
	data := sb.data
	if data == nil {
		data = make([]byte, sb.n)
		if _, err := sb.file.f.ReadAt(data, sb.off); err != nil {
			return fmt.Errorf("get: copy repeated block %s: %w", c, err)
		}
	}
	_, _, err := w.apply(c, data, p)
	return err
}

// apply puts one block's content at one placement. For a raw leaf it
// returns the file and offset its bytes went to.
func (w *TreeWriter) apply(c cid.Cid, data []byte, p placement) (*outFile, int64, error) {
	if c.Type() == unixfs.CodecRaw {
		f, off := p.file, p.off
		if f == nil { // a file of one block
			var err error
			if f, err = w.create(p.path, int64(len(data))); err != nil {
				return nil, 0, err
			}
		}
		return f, off, w.write(f, c, data, off)
	}
	return nil, 0, w.applyNode(c, data, p)
}

// applyNode places a dag-pb node: a directory, a file, or an inner node
// of a file.
func (w *TreeWriter) applyNode(c cid.Cid, data []byte, p placement) error {
	n, err := unixfs.Decode(c, data)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if p.shard && n.FS.Type != unixfs.THAMTShard {
		return fmt.Errorf("get: %w: %s in a HAMT's shard slot is a %s", ErrInconsistent, c, n.FS.Type)
	}
	switch {
	case p.file != nil: // an inner node of a file
		if n.FS.Type != unixfs.TFile && n.FS.Type != unixfs.TRaw {
			return fmt.Errorf("get: %w: %s inside a file is a %s", ErrInconsistent, c, n.FS.Type)
		}
		return w.fileChildren(c, n, p.file, p.off)
	case n.FS.Type == unixfs.TDirectory:
		if p.root {
			p.path, w.staged = w.stage, true
		}
		if err := os.MkdirAll(p.path, 0o755); err != nil {
			return fmt.Errorf("get: %w", err)
		}
		for _, l := range n.Links {
			if err := checkName(l.Name); err != nil {
				return fmt.Errorf("get %s: %w", w.shown(p.path), err)
			}
			if err := w.link(l.Cid, placement{path: filepath.Join(p.path, l.Name)}); err != nil {
				return err
			}
		}
		return nil
	case n.FS.Type == unixfs.THAMTShard:
		if p.root {
			p.path, w.staged = w.stage, true
		}
		return w.applyShard(c, n, p)
	case n.FS.Type == unixfs.TFile || n.FS.Type == unixfs.TRaw:
		f, err := w.create(p.path, int64(n.FS.Size()))
		if err != nil {
			return err
		}
		return w.fileChildren(c, n, f, 0)
	}
	return fmt.Errorf("get %s: %s is a %s, which get cannot write", w.shown(p.path), c, n.FS.Type)
}

// applyShard places a HAMT shard: its entries go into the directory at
// p.path, its sub-shards are placed as more of the same directory.
func (w *TreeWriter) applyShard(c cid.Cid, n *unixfs.Node, p placement) error {
	s, err := unixfs.ShardOf(n)
	if err != nil {
		return fmt.Errorf("get %s: %s: %w", w.shown(p.path), c, err)
	}
	if err := os.MkdirAll(p.path, 0o755); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	for _, l := range s.Links {
		next := placement{path: p.path, shard: true}
		if !l.IsShard() {
			if err := checkName(l.Name); err != nil {
				return fmt.Errorf("get %s: %w", w.shown(p.path), err)
			}
			next = placement{path: filepath.Join(p.path, l.Name)}
		}
		if err := w.link(l.Cid, next); err != nil {
			return err
		}
	}
	return nil
}

// fileChildren writes a file node's inline data and places its children
// by its blocksizes.
func (w *TreeWriter) fileChildren(c cid.Cid, n *unixfs.Node, f *outFile, off int64) error {
	if len(n.FS.BlockSizes) != len(n.Links) {
		return fmt.Errorf("get: %w: %s has %d links and %d blocksizes", ErrInconsistent, c, len(n.Links), len(n.FS.BlockSizes))
	}
	if len(n.FS.Data) > 0 {
		if err := w.write(f, cid.Undef, n.FS.Data, off); err != nil {
			return err
		}
		off += int64(len(n.FS.Data))
	}
	for i, l := range n.Links {
		p := placement{file: f, off: off}
		if err := w.link(l.Cid, p); err != nil {
			return err
		}
		if _, seen := w.seen[l.Cid]; !seen {
			if _, err := w.resume(l.Cid, p, int(n.FS.BlockSizes[i])); err != nil {
				return err
			}
		}
		off += int64(n.FS.BlockSizes[i])
	}
	return nil
}

func (w *TreeWriter) create(path string, size int64) (*outFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	f, resumed, err := openTemp(dir, base, size)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if !resumed {
		if err := w.opt.checkRoom(dir, size); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		err = f.Truncate(size)
		if err == nil && size >= flushMin {
			err = preallocate(f, size)
		}
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("get: %w", err)
		}
	}
	of := &outFile{path: path, tmpPath: f.Name(), f: f, size: size, left: size, resumed: resumed}
	if size >= flushMin {
		of.flush = newFlusher(f)
		of.filled = make([]int32, (size+flushStep-1)/flushStep)
	}
	w.files = append(w.files, of)
	w.open++
	if size == 0 {
		return of, w.complete(of)
	}
	return of, nil
}

// write puts bytes of f at off; a leaf (c defined) is remembered for its
// reference.
func (w *TreeWriter) write(f *outFile, c cid.Cid, data []byte, off int64) error {
	if len(data) == 0 {
		return nil
	}
	if off < 0 || off+int64(len(data)) > f.size || int64(len(data)) > f.left {
		return fmt.Errorf("get %s: %w: %d bytes at %d overrun the file's %d", w.shown(f.path), ErrInconsistent, len(data), off, f.size)
	}
	if _, err := f.f.WriteAt(data, off); err != nil {
		return fmt.Errorf("get %s: %w", w.shown(f.path), err)
	}
	if c.Defined() {
		f.leaves = append(f.leaves, leafRef{c, off, uint32(len(data))})
	}
	f.left -= int64(len(data))
	f.written(off, off+int64(len(data)))
	if w.opt.Progress != nil {
		w.opt.Progress(int64(len(data)))
	}
	if f.left == 0 {
		return w.complete(f)
	}
	return nil
}

// complete syncs a finished file, renames it into place and records
// references to its leaves.
func (w *TreeWriter) complete(f *outFile) error {
	f.flush.stop()
	// As a local get writes files (WriteFileAtomic), not the temporary
	// file's 0600.
	if err := f.f.Chmod(0o644); err != nil {
		return fmt.Errorf("get %s: %w", w.shown(f.path), err)
	}
	if err := f.f.Sync(); err != nil {
		return fmt.Errorf("get %s: %w", w.shown(f.path), err)
	}
	if f.path == w.out { // the root is a file: swap it in now
		if err := swapIn(f.tmpPath, w.out, w.opt.Force); err != nil {
			return err
		}
	} else if err := os.Rename(f.tmpPath, f.path); err != nil {
		return fmt.Errorf("get %s: %w", w.shown(f.path), err)
	}
	f.done = true
	w.open--
	if w.staged {
		// References name the files where they will stay: Finish
		// records them once the tree is swapped in.
		return syncDir(filepath.Dir(f.path))
	}
	if err := w.recordRefs(f, f.path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(f.path))
}

// recordRefs records references to f's leaves in the file at path (f's
// final place). The file may still be read for repeated blocks; it stays
// open.
func (w *TreeWriter) recordRefs(f *outFile, path string) error {
	fi, err := f.f.Stat()
	if err != nil {
		return fmt.Errorf("get %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("get %s: %w", path, err)
	}
	b := w.s.NewBatch(context.Background())
	for _, l := range f.leaves {
		ref := store.NewRef(abs, fi, l.off, l.n)
		if err := b.PutRef(l.c, ref); err != nil {
			b.Discard()
			return fmt.Errorf("get %s: record %s: %w", path, l.c, err)
		}
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("get %s: %w", path, err)
	}
	return nil
}

// shown is path as the user knows it: under out rather than the stage.
func (w *TreeWriter) shown(path string) string {
	if rest, ok := strings.CutPrefix(path, w.stage); ok && w.staged {
		return w.out + rest
	}
	return path
}

// Finish checks that every block arrived and every file is complete.
func (w *TreeWriter) Finish() error {
	if len(w.place) > 0 || w.open > 0 {
		return fmt.Errorf("get %s: %w: %d blocks and %d files missing", w.out, ErrInconsistent, len(w.place), w.open)
	}
	if _, ok := w.seen[w.root]; !ok {
		return fmt.Errorf("get %s: root %s never arrived", w.out, w.root)
	}
	if w.staged {
		if err := swapIn(w.stage, w.out, w.opt.Force); err != nil {
			return err
		}
		w.staged = false
		for _, f := range w.files {
			if err := w.recordRefs(f, w.out+strings.TrimPrefix(f.path, w.stage)); err != nil {
				return err
			}
		}
	}
	return w.close()
}

// Abort removes what the get wrote, but for what a get run again can
// resume from: the temporary files of large files it had begun, and large
// files it had finished in a tree not yet swapped in (put back as
// temporary files). Nothing is left at out.
func (w *TreeWriter) Abort() {
	for _, f := range w.files {
		switch {
		case !f.done && !f.keepOnAbort():
			os.Remove(f.tmpPath)
		case f.done && w.staged && f.size >= resumeMin:
			dir, base := filepath.Split(f.path)
			tmp := filepath.Join(dir, tempPrefix(base)+strconv.FormatUint(uint64(mrand.Uint32()), 10))
			if os.Rename(f.path, tmp) != nil {
				os.Remove(f.path)
			}
		case f.done && w.staged:
			os.Remove(f.path)
		}
	}
	w.close()
	if w.staged {
		pruneDirs(w.stage)
	}
}

func (w *TreeWriter) close() error {
	var first error
	for _, f := range w.files {
		f.flush.stop()
		if err := f.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	w.files = nil
	return first
}
