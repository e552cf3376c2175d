package chunker

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// Chunk is one chunk with its SHA-256.
type Chunk struct {
	Index  int    // position in the stream, from 0
	Offset int64  // offset of the first byte in the stream
	Data   []byte // the bytes; valid only during the callback
	Sum    [32]byte
}

// Options configures Split. The zero Options chunk with DefaultConfig on
// all cores.
type Options struct {
	Config  Config
	Workers int // hashing goroutines; 0 means runtime.GOMAXPROCS(0)
}

// span is a chunk inside a batch's data.
type span struct{ off, n int }

// batch is a buffer of stream data cut into chunks, the unit that moves
// between the reader, the hashers and the caller. Batches are recycled.
type batch struct {
	buf    []byte // owned buffer, fixed size (nil for SplitBytes)
	size   int    // size of buf, or of the window for SplitBytes
	data   []byte // the bytes the spans point into
	spans  []span
	sums   [][32]byte
	index  int   // index of the first chunk
	offset int64 // stream offset of the first chunk
	err    error // read error after the chunks, if any

	next atomic.Int64  // next span to hash
	left atomic.Int32  // dispatches not yet finished
	done chan struct{} // gets one token when all spans are hashed
}

// Split reads r, cuts it into chunks, hashes them with SHA-256 on
// opt.Workers goroutines and calls fn for each chunk in stream order. The
// chunk's Data is valid only during fn. An error from fn, from reading r, or
// ctx being done stops Split, which returns that error after every goroutine
// it started has finished (a Read already blocked in r is waited for).
// Memory stays bounded: at most 4 + Workers/4 (up to 16) buffers of 2 MiB
// (or of four max-size chunks) are in flight, and they are reused.
func Split(ctx context.Context, r io.Reader, opt Options, fn func(Chunk) error) error {
	return run(ctx, opt, r, nil, fn)
}

// SplitBytes is Split on data in memory: the same chunks and sums, without
// copying data into buffers. Chunk.Data points into data.
func SplitBytes(ctx context.Context, data []byte, opt Options, fn func(Chunk) error) error {
	return run(ctx, opt, nil, data, fn)
}

// run is Split reading r, or data if r is nil.
func run(ctx context.Context, opt Options, r io.Reader, data []byte, fn func(Chunk) error) error {
	if err := opt.Config.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if r == nil && workers == 1 {
		return splitSerial(ctx, opt.Config, data, fn)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Memory is bounded by nb buffers of bufSize (2 MiB by default),
	// allocated as needed. The channels hold every batch (work: every
	// dispatch of every batch), so sends on them never block.
	// Hashers share each batch chunk by chunk, so a few batches keep many
	// cores busy.
	nb := min(4+workers/4, 16)
	p := &pipeline{
		cut:     newCutter(opt.Config),
		workers: workers,
		nb:      nb,
		size:    bufSize(opt.Config),
		hint:    -1,
		r:       r,
		data:    data,
		free:    make(chan *batch, nb),
		work:    make(chan *batch, nb*workers),
		order:   make(chan *batch, nb),
	}
	if r != nil {
		p.hint = sizeHint(r)
	}

	var wg sync.WaitGroup
	wg.Go(func() { p.produce(ctx) })
	for range workers {
		wg.Go(func() { p.hash(ctx) })
	}
	err := p.emit(ctx, fn)
	cancel()
	wg.Wait()
	return err
}

// splitSerial is SplitBytes on the calling goroutine: with one hasher,
// the pipeline's goroutines, channels and batches only cost (a scan of
// many small files runs one of these per core).
func splitSerial(ctx context.Context, cfg Config, data []byte, fn func(Chunk) error) error {
	cut := newCutter(cfg)
	var off int64
	for i := 0; len(data) > 0; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := cut.cut(data)
		c := data[:n:n]
		if err := fn(Chunk{Index: i, Offset: off, Data: c, Sum: sha256.Sum256(c)}); err != nil {
			return err
		}
		data, off = data[n:], off+int64(n)
	}
	return nil
}

// pipeline is one Split run: produce reads and cuts, hash hashes, emit
// calls back in order. Batches cycle free -> produce -> work+order -> emit -> free.
type pipeline struct {
	cut     *cutter
	workers int
	nb      int         // most batches in flight
	size    int         // buffer size of a batch
	hint    int64       // bytes left in the stream if known, else -1
	r       io.Reader   // the stream, or nil to cut data
	data    []byte      // the stream in memory, when r is nil
	alloc   int         // batches allocated (owned by produce)
	free    chan *batch // empty batches
	work    chan *batch // batches to hash, sent once per hashing goroutine that should help
	order   chan *batch // every batch, in stream order
}

// produce fills batches from r, cuts them and hands them on, until r ends,
// fails or ctx is done. It closes work and order when it returns.
func (p *pipeline) produce(ctx context.Context) {
	defer close(p.order)
	defer close(p.work)
	var (
		tail   []byte // unchunked end of prev.data (shorter than max)
		index  int
		offset int64
	)
	for {
		b := p.get(ctx)
		if b == nil {
			return
		}
		var (
			eof bool
			err error
		)
		if p.r == nil {
			// In memory: a window of data from the first unchunked byte.
			end := min(offset+int64(p.size), int64(len(p.data)))
			b.data = p.data[offset:end:end]
			eof = end == int64(len(p.data))
		} else {
			// The tail lies in the previous batch's buffer, which nobody
			// writes until produce takes it from free again, so it is
			// intact even if b is that batch (copy is a memmove).
			have := copy(b.buf, tail)
			var n int
			n, eof, err = readAtLeast(p.r, b.buf, have, len(b.buf))
			b.data = b.buf[:n]
		}
		n := len(b.data)
		b.spans = b.spans[:0]
		b.index, b.offset, b.err = index, offset, err

		rest := b.data
		if err == nil {
			for len(rest) > 0 && (eof || len(rest) >= p.cut.max) {
				c := p.cut.cut(rest)
				b.spans = append(b.spans, span{n - len(rest), c})
				rest = rest[c:]
			}
		}
		tail = rest
		index += len(b.spans)
		offset += int64(n - len(rest))
		if cap(b.sums) < len(b.spans) {
			b.sums = make([][32]byte, len(b.spans), cap(b.spans))
		}
		b.sums = b.sums[:len(b.spans)]

		if k := min(len(b.spans), p.workers); k > 0 {
			b.next.Store(0)
			b.left.Store(int32(k))
			for range k {
				p.work <- b // never blocks: work holds every dispatch of every batch in flight
			}
		}
		select {
		case p.order <- b:
		case <-ctx.Done():
			return
		}
		if eof || err != nil {
			return
		}
	}
}

// get returns an empty batch, allocating one while fewer than nb exist, or
// nil if ctx is done first. A stream known to be small gets a small first
// buffer; that buffer is dropped if the stream turns out longer.
func (p *pipeline) get(ctx context.Context) *batch {
	for {
		var b *batch
		select {
		case b = <-p.free:
		default:
			if p.alloc < p.nb {
				size := p.size
				if p.alloc == 0 && p.hint >= 0 && p.hint < int64(size) {
					size = int(p.hint) + 1 // +1: the first fill then sees EOF
				}
				p.alloc++
				spans := min(size/p.cut.minSize()+1, 4096)
				var buf []byte
				if p.r != nil {
					buf = make([]byte, size)
				} else {
					size = p.size // SplitBytes: no buffer, full windows
				}
				return &batch{
					size:  size,
					buf:   buf,
					spans: make([]span, 0, spans),
					sums:  make([][32]byte, 0, spans),
					done:  make(chan struct{}, 1),
				}
			}
			select {
			case b = <-p.free:
			case <-ctx.Done():
				return nil
			}
		}
		if b.size == p.size {
			return b
		}
		p.alloc-- // the small first buffer: drop it, there is more to read
	}
}

// sizeHint returns how many bytes r has left if it can tell cheaply (byte
// and string readers, regular files), or -1.
func sizeHint(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len())
	case *os.File:
		fi, err := r.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		pos, err := r.Seek(0, io.SeekCurrent)
		if err != nil || pos > fi.Size() {
			return -1
		}
		return fi.Size() - pos
	}
	return -1
}

// hash hashes the spans of batches from work until work is closed.
func (p *pipeline) hash(ctx context.Context) {
	for b := range p.work {
		for ctx.Err() == nil {
			i := int(b.next.Add(1) - 1)
			if i >= len(b.spans) {
				break
			}
			s := b.spans[i]
			b.sums[i] = sha256.Sum256(b.data[s.off : s.off+s.n])
		}
		if b.left.Add(-1) == 0 {
			b.done <- struct{}{}
			// Let the caller's goroutine, just woken, run now: it hands the
			// chunks on and frees the buffer for produce. Otherwise it waits
			// until every hasher runs out of work, and then cores go idle
			// while produce refills the pipeline.
			runtime.Gosched()
		}
	}
}

// emit waits for each batch in order and calls fn for its chunks.
func (p *pipeline) emit(ctx context.Context, fn func(Chunk) error) error {
	for b := range p.order {
		if len(b.spans) > 0 {
			select {
			case <-b.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for i, s := range b.spans {
			if err := ctx.Err(); err != nil {
				return err
			}
			err := fn(Chunk{
				Index:  b.index + i,
				Offset: b.offset + int64(s.off),
				Data:   b.data[s.off : s.off+s.n : s.off+s.n],
				Sum:    b.sums[i],
			})
			if err != nil {
				return err
			}
		}
		if b.err != nil {
			return b.err
		}
		p.free <- b // never blocks: free holds every batch
	}
	return ctx.Err()
}
