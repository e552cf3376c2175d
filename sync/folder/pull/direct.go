package pull

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// A large file's blocks are not written through the page cache one by
// one. They are gathered in aligned segments of segSize bytes, and each
// segment, once every byte of it arrived, is written with O_DIRECT by a
// goroutine of its own while the next blocks arrive. Copying a block into
// page-cache pages costs several times more CPU than the network and the
// hash together on a virtual machine whose host takes back free memory
// (each fresh page is faulted in again), and the pages would only be
// written out and dropped later. A segment is written only whole and only
// into its own place in the temporary file, so what a crash leaves there
// is what a resumed pull already checks (each block read back and hashed).
const (
	segSize = 1 << 20
	// directMin: smaller files are written through the page cache; they
	// are few segments, and a direct write waits on the disk.
	directMin = 8 << 20
	// segsPerFile bounds the segments one file holds partly filled
	// (blocks arrive in rarest-first order, not in file order); beyond
	// it the one written to longest ago is spilled through the page
	// cache. Blocks arrive within a few MiB of each other, but where two
	// of the DAG's inner nodes arrived out of order the segment between
	// their blocks waits for the later one's (up to some hundreds of MiB
	// later): in a 1 GiB pull 12 segments spilled 300 MiB, 24 spill 30.
	segsPerFile = 24
	// queued is how many full segments wait for the disk per file.
	queued = 2
	// flushEvery: once this many bytes were written direct since the
	// last flush, a goroutine of the file's flushes them (fsync)
	// while the pull goes on. A direct write ends when the disk took the
	// bytes into its cache; making them durable is a cache flush, which
	// for a whole 1 GiB file at the end took 0.45 s here, after the last
	// block arrived.
	flushEvery = 64 << 20
	// alignment of a direct write's offset, length and buffer.
	alignment = 4096
)

// WriteBudget bounds the memory that the pulls sharing it (one folder's)
// hold in segments: when it is spent, blocks go through the page cache.
// The zero value and nil allow none.
type WriteBudget struct {
	sem chan struct{}
}

// NewWriteBudget allows n bytes of segments at once.
func NewWriteBudget(n int64) *WriteBudget {
	return &WriteBudget{sem: make(chan struct{}, n/segSize)}
}

func (b *WriteBudget) take() bool {
	if b == nil {
		return false
	}
	select {
	case b.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (b *WriteBudget) give() { <-b.sem }

// segment is one aligned piece of the file being gathered.
type segment struct {
	idx    int64
	buf    []byte
	filled int
	spans  [][2]int // filled byte ranges of buf, for a spill
	used   int64    // when a block was last put in it, in puts
}

// covers reports whether bytes a to b of s arrived (its spans do not
// overlap).
func (s *segment) covers(a, b int) bool {
	n := 0
	for _, sp := range s.spans {
		n += max(0, min(b, sp[1])-max(a, sp[0]))
	}
	return n == b-a
}

// segWriter writes the bytes of one file: through direct, segment by
// segment, where it can, and through f for the rest. Its methods other
// than the writing goroutine's are called by one goroutine at a time.
type segWriter struct {
	f, direct *os.File
	size      int64
	budget    *WriteBudget
	open      map[int64]*segment // partly filled
	spilled   map[int64]bool     // written through f from now on
	puts      int64              // pieces put so far: segments' clock
	free      [][]byte
	queue     chan *segment
	done      chan struct{}
	flushes   chan struct{} // a flush is due (buffered: one at most)
	flushed   chan struct{} // closed when the flushing goroutine ended
	closed    bool
	closeErr  error
	// slots bounds the segments held partly filled (segsPerFile);
	// flushAt is flushEvery. Tests make them smaller.
	slots   int
	flushAt int
	// counts, for tests: segments written direct, spilled; flushes.
	directs, spills int
	flushCount      int

	mu       sync.Mutex
	inflight map[int64]*segment // queued or being written
	err      error              // the first failed direct write's
}

// newSegWriter writes size bytes of f, with direct (f's file opened for
// direct writes) when it is not nil and the budget allows.
func newSegWriter(f, direct *os.File, size int64, budget *WriteBudget) *segWriter {
	w := &segWriter{f: f, direct: direct, size: size, budget: budget, slots: segsPerFile, flushAt: flushEvery}
	if direct != nil {
		w.open = make(map[int64]*segment)
		w.spilled = make(map[int64]bool)
		w.inflight = make(map[int64]*segment)
		w.queue = make(chan *segment, queued)
		w.done = make(chan struct{})
		w.flushes = make(chan struct{}, 1)
		w.flushed = make(chan struct{})
		go w.run()
		go w.flush()
	}
	return w
}

// segLen is how many bytes of the file segment idx holds.
func (w *segWriter) segLen(idx int64) int {
	return int(min(segSize, w.size-idx*segSize))
}

// WriteAt writes data at off.
func (w *segWriter) WriteAt(data []byte, off int64) error {
	if w.direct == nil {
		_, err := w.f.WriteAt(data, off)
		return err
	}
	if err := w.failed(); err != nil {
		return err
	}
	return w.bySegment(data, off, w.put)
}

// bySegment calls fn with each piece of p, the bytes of the file at off,
// that lies in one segment: its index, where in it the piece starts.
func (w *segWriter) bySegment(p []byte, off int64, fn func(idx int64, in int, piece []byte) error) error {
	for len(p) > 0 {
		idx := off / segSize
		in := int(off - idx*segSize)
		n := min(len(p), w.segLen(idx)-in)
		if err := fn(idx, in, p[:n]); err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// put places piece p at byte in of segment idx.
func (w *segWriter) put(idx int64, in int, p []byte) error {
	s := w.open[idx]
	if s == nil {
		if w.spilled[idx] || w.segLen(idx) < segSize {
			// A spilled segment, and the file's last, short one,
			// go through f.
			_, err := w.f.WriteAt(p, idx*segSize+int64(in))
			return err
		}
		if len(w.open) >= w.slots {
			if err := w.spillStalest(); err != nil {
				return err
			}
		}
		buf := w.buffer()
		if buf == nil {
			w.spilled[idx] = true
			_, err := w.f.WriteAt(p, idx*segSize+int64(in))
			return err
		}
		s = &segment{idx: idx, buf: buf}
		w.open[idx] = s
	}
	copy(s.buf[in:], p)
	w.puts++
	s.used = w.puts
	s.filled += len(p)
	s.spans = append(s.spans, [2]int{in, in + len(p)})
	if s.filled < len(s.buf) {
		return nil
	}
	delete(w.open, idx)
	w.directs++
	w.mu.Lock()
	w.inflight[idx] = s
	w.mu.Unlock()
	w.queue <- s
	return nil
}

// buffer returns an aligned segment buffer, or nil when the budget is
// spent.
func (w *segWriter) buffer() []byte {
	w.mu.Lock()
	if n := len(w.free); n > 0 {
		b := w.free[n-1]
		w.free = w.free[:n-1]
		w.mu.Unlock()
		return b
	}
	w.mu.Unlock()
	if !w.budget.take() {
		return nil
	}
	b := make([]byte, segSize+alignment)
	skip := int(uintptr(unsafe.Pointer(&b[0])) % alignment)
	if skip > 0 {
		skip = alignment - skip
	}
	return b[skip : skip+segSize : skip+segSize]
}

// spillStalest writes the partly filled segment written to longest ago
// through f; its later bytes follow it there. Every spill puts a whole
// segment through the page cache (what it holds now, the rest later),
// so the one to spill is the one whose slot stays free longest: not the
// newest (the blocks arriving are its), but the one left waiting.
func (w *segWriter) spillStalest() error {
	var stale *segment
	for _, s := range w.open {
		if stale == nil || s.used < stale.used {
			stale = s
		}
	}
	return w.spill(stale)
}

func (w *segWriter) spill(s *segment) error {
	delete(w.open, s.idx)
	w.spilled[s.idx] = true
	w.spills++
	defer w.recycle(s.buf)
	for _, sp := range s.spans {
		if _, err := w.f.WriteAt(s.buf[sp[0]:sp[1]], s.idx*segSize+int64(sp[0])); err != nil {
			return err
		}
	}
	return nil
}

func (w *segWriter) recycle(b []byte) {
	w.mu.Lock()
	w.free = append(w.free, b)
	w.mu.Unlock()
}

// run writes the full segments queued, in order, and asks for a flush
// every flushEvery bytes.
func (w *segWriter) run() {
	defer close(w.done)
	defer close(w.flushes)
	unflushed := 0
	for s := range w.queue {
		err := w.writeDirect(s)
		if unflushed += len(s.buf); err == nil && unflushed >= w.flushAt {
			unflushed = 0
			select {
			case w.flushes <- struct{}{}:
			default: // one is running or due: it takes these too
			}
		}
		w.mu.Lock()
		delete(w.inflight, s.idx)
		if err != nil && w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
		w.recycle(s.buf)
	}
}

// flush makes the direct writes durable as they go, so that the commit's
// flush finds little left to do. A failed flush is the file's error.
func (w *segWriter) flush() {
	defer close(w.flushed)
	for range w.flushes {
		err := w.direct.Sync()
		w.mu.Lock()
		w.flushCount++
		if err != nil && w.err == nil {
			w.err = fmt.Errorf("flush: %w", err)
		}
		w.mu.Unlock()
	}
}

func (w *segWriter) writeDirect(s *segment) error {
	off := s.idx * segSize
	_, err := w.direct.WriteAt(s.buf, off)
	if errors.Is(err, syscall.EINVAL) {
		// A filesystem that opens for direct writes but refuses them.
		_, err = w.f.WriteAt(s.buf, off)
	}
	if err != nil {
		return fmt.Errorf("write at %d: %w", off, err)
	}
	return nil
}

func (w *segWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// ReadAt reads len(p) bytes at off as written so far, from the segments
// not yet on disk where they are still there.
func (w *segWriter) ReadAt(p []byte, off int64) error {
	if w.direct == nil {
		_, err := w.f.ReadAt(p, off)
		return err
	}
	return w.bySegment(p, off, w.read)
}

func (w *segWriter) read(idx int64, in int, p []byte) error {
	if s := w.open[idx]; s != nil {
		if s.covers(in, in+len(p)) {
			copy(p, s.buf[in:])
			return nil
		}
		// Its buffer holds only what arrived; the rest (a resumed
		// file's blocks that still hashed right) is in the file.
		if err := w.spill(s); err != nil {
			return err
		}
	}
	w.mu.Lock()
	if s := w.inflight[idx]; s != nil {
		copy(p, s.buf[in:])
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	_, err := w.f.ReadAt(p, idx*segSize+int64(in))
	return err
}

// Close writes what is still gathered (through f: those segments are
// not full) and waits for the direct writes; the file then holds every
// byte written to w. It returns the first error of any of them.
func (w *segWriter) Close() error {
	if w.direct == nil || w.closed {
		return w.closeErr
	}
	w.closed = true
	var err error
	for _, s := range w.open {
		if e := w.spill(s); err == nil {
			err = e
		}
	}
	close(w.queue)
	<-w.done
	<-w.flushed
	for range len(w.free) {
		w.budget.give()
	}
	w.free = nil
	if e := w.direct.Close(); err == nil {
		err = e
	}
	if e := w.failed(); e != nil {
		err = e
	}
	w.closeErr = err
	return err
}
