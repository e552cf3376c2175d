package unixfs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
)

// Getter fetches a block's bytes by CID. Implementations used for reading
// untrusted data should verify the bytes against the CID.
type Getter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// ErrInconsistent is wrapped by errors about a DAG whose sizes disagree
// (blocksizes, filesize and the children's real sizes).
var ErrInconsistent = errors.New("inconsistent file DAG")

// ErrNotFile is returned when a file reader is asked for something that
// is not a UnixFS file or raw block.
var ErrNotFile = errors.New("not a file")

// DefaultPrefetch is the most leaf blocks a FileReader fetches ahead. After
// opening and after every Seek it starts at one and doubles with each block
// read, so a short range costs few fetches and a long read soon runs with
// the whole window.
const DefaultPrefetch = 16

// fetch is one leaf fetch in flight.
type fetch struct {
	c    cid.Cid
	want uint64
	skip uint64 // bytes at the start of data that precede the read position
	done chan struct{}
	data []byte
	err  error
}

// frame is a file node being walked: its links still to visit and the
// sizes they must have.
type frame struct {
	c     cid.Cid
	links []Link
	sizes []uint64
	next  int
}

// FileReader reads a UnixFS file's bytes in order, fetching up to
// DefaultPrefetch leaves concurrently and checking every node's sizes.
// It is an io.Seeker: a seek walks down from the root by the nodes'
// blocksizes to the leaf that holds the offset, so reading a range fetches
// only the nodes on that path and the leaves the range covers (plus the
// read-ahead). Close it to cancel fetches still in flight when stopping
// early.
type FileReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	// gctx is cancelled when a seek abandons the fetches in flight.
	gctx    context.Context
	gcancel context.CancelFunc
	g       Getter
	size    uint64
	root    cid.Cid
	rootN   *Node   // decoded root, nil for a raw root
	rawRoot []byte  // the whole file when the root is a raw block
	stack   []frame // open file nodes, root first
	// window holds, in file order, leaf fetches in flight and the inline
	// Data of dag-pb nodes (as already-done fetches).
	window []*fetch
	ahead  int    // how many fetches the window may hold now
	piece  []byte // the current piece, whole
	cur    []byte // unread rest of the current piece
	read   uint64 // file offset of the end of the current piece
	want   int64  // pending seek target, -1 for none
	err    error  // sticky: io.EOF or the first failure
}

// NewFileReader opens the file rooted at root (a raw block or a UnixFS
// file node) for reading.
func NewFileReader(ctx context.Context, g Getter, root cid.Cid) (*FileReader, error) {
	ctx, cancel := context.WithCancel(ctx)
	gctx, gcancel := context.WithCancel(ctx)
	r := &FileReader{ctx: ctx, cancel: cancel, gctx: gctx, gcancel: gcancel, g: g, root: root, ahead: 1, want: -1}
	switch root.Type() {
	case CodecRaw:
		f := r.start(gctx, root, noSizeCheck)
		r.window = append(r.window, f)
		<-f.done
		if f.err != nil {
			cancel()
			return nil, f.err
		}
		r.size = uint64(len(f.data))
		r.rawRoot = f.data
		return r, nil
	case CodecDagPB:
		data, err := g.Get(ctx, root)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("get file root %s: %w", root, err)
		}
		n, err := Decode(root, data)
		if err != nil {
			cancel()
			return nil, err
		}
		if n.FS.Type != TFile && n.FS.Type != TRaw {
			cancel()
			return nil, fmt.Errorf("read %s: %w (UnixFS %s)", root, ErrNotFile, n.FS.Type)
		}
		if err := checkFileNode(root, n); err != nil {
			cancel()
			return nil, err
		}
		r.size = n.FS.Size()
		if n.FS.FileSize == nil {
			r.size = uint64(len(n.FS.Data))
		}
		r.rootN = n
		r.enter(root, n)
		return r, nil
	default:
		cancel()
		return nil, fmt.Errorf("read %s: %w 0x%x", root, ErrCodec, root.Type())
	}
}

const noSizeCheck = ^uint64(0)

// Size returns the file's length in bytes, as its root declares it.
func (r *FileReader) Size() uint64 { return r.size }

// Close cancels fetches in flight. Reading after Close fails.
func (r *FileReader) Close() error {
	r.cancel()
	if r.err == nil || r.err == io.EOF {
		r.err = errors.New("unixfs: read after Close")
	}
	return nil
}

// checkFileNode checks that a file node's blocksizes match its links and
// that they and its inline data add up to its filesize.
func checkFileNode(c cid.Cid, n *Node) error {
	if len(n.FS.BlockSizes) != len(n.Links) {
		return fmt.Errorf("%w: node %s has %d links but %d blocksizes", ErrInconsistent, c, len(n.Links), len(n.FS.BlockSizes))
	}
	sum := uint64(len(n.FS.Data))
	for _, s := range n.FS.BlockSizes {
		if sum+s < sum {
			return fmt.Errorf("%w: node %s blocksizes overflow", ErrInconsistent, c)
		}
		sum += s
	}
	if n.FS.FileSize != nil && *n.FS.FileSize != sum {
		return fmt.Errorf("%w: node %s filesize %d but data+blocksizes sum to %d", ErrInconsistent, c, *n.FS.FileSize, sum)
	}
	if n.FS.FileSize == nil && len(n.Links) > 0 {
		return fmt.Errorf("%w: node %s has links but no filesize", ErrInconsistent, c)
	}
	return nil
}

// enter pushes a checked file node; its inline data is queued first.
func (r *FileReader) enter(c cid.Cid, n *Node) {
	if len(n.FS.Data) > 0 {
		r.window = append(r.window, doneFetch(c, n.FS.Data, 0))
	}
	if len(n.Links) > 0 {
		r.stack = append(r.stack, frame{c: c, links: n.Links, sizes: n.FS.BlockSizes})
	}
}

// doneFetch is a piece already in hand (inline data), read from skip on.
func doneFetch(c cid.Cid, data []byte, skip uint64) *fetch {
	f := &fetch{c: c, done: make(chan struct{}), data: data, skip: skip}
	close(f.done)
	return f
}

// start launches the fetch of a raw leaf that must be want bytes long.
func (r *FileReader) start(ctx context.Context, c cid.Cid, want uint64) *fetch {
	f := &fetch{c: c, want: want, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		data, err := r.g.Get(ctx, c)
		if err != nil {
			f.err = blockErr("get file block", c, err)
			return
		}
		if want != noSizeCheck && uint64(len(data)) != want {
			f.err = fmt.Errorf("%w: leaf %s is %d bytes, its parent says %d", ErrInconsistent, c, len(data), want)
			return
		}
		f.data = data
	}()
	return f
}

// fill walks the DAG until the window holds r.ahead fetches or the walk is
// over. Internal nodes are fetched synchronously (one per up to 174
// leaves).
func (r *FileReader) fill() error {
	for len(r.window) < r.ahead && len(r.stack) > 0 {
		top := &r.stack[len(r.stack)-1]
		if top.next == len(top.links) {
			r.stack = r.stack[:len(r.stack)-1]
			continue
		}
		l, want := top.links[top.next], top.sizes[top.next]
		top.next++
		switch l.Cid.Type() {
		case CodecRaw:
			r.window = append(r.window, r.start(r.gctx, l.Cid, want))
		case CodecDagPB:
			n, err := r.fileChild(top.c, l.Cid, want)
			if err != nil {
				return err
			}
			r.enter(l.Cid, n)
		default:
			return fmt.Errorf("%w: file link to %s with codec 0x%x", ErrInconsistent, l.Cid, l.Cid.Type())
		}
	}
	return nil
}

// fileChild fetches, decodes and checks c, a dag-pb child of the file
// node parent that must hold want bytes.
func (r *FileReader) fileChild(parent, c cid.Cid, want uint64) (*Node, error) {
	if len(r.stack) > 64 {
		return nil, fmt.Errorf("%w: file DAG deeper than 64 under %s", ErrInconsistent, c)
	}
	data, err := r.g.Get(r.gctx, c)
	if err != nil {
		return nil, fmt.Errorf("get file node %s: %w", c, err)
	}
	n, err := Decode(c, data)
	if err != nil {
		return nil, err
	}
	if n.FS.Type != TFile && n.FS.Type != TRaw {
		return nil, fmt.Errorf("%w: child %s of file node %s is UnixFS %s", ErrInconsistent, c, parent, n.FS.Type)
	}
	if err := checkFileNode(c, n); err != nil {
		return nil, err
	}
	got := n.FS.Size()
	if n.FS.FileSize == nil {
		got = uint64(len(n.FS.Data))
	}
	if got != want {
		return nil, fmt.Errorf("%w: node %s holds %d bytes, its parent says %d", ErrInconsistent, c, got, want)
	}
	return n, nil
}

// nextChunk returns the next piece of file data, or io.EOF.
func (r *FileReader) nextChunk() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		if err := r.fill(); err != nil {
			r.fail(err)
			return nil, err
		}
		if len(r.window) == 0 {
			if r.read != r.size {
				err := fmt.Errorf("%w: read %d bytes, root says %d", ErrInconsistent, r.read, r.size)
				r.fail(err)
				return nil, err
			}
			r.err = io.EOF
			return nil, io.EOF
		}
		f := r.window[0]
		select {
		case <-f.done:
		case <-r.ctx.Done():
			r.fail(r.ctx.Err())
			return nil, r.err
		}
		r.window[0] = nil
		r.window = r.window[1:]
		if f.err != nil {
			r.fail(f.err)
			return nil, f.err
		}
		if r.ahead < DefaultPrefetch {
			r.ahead *= 2
		}
		data := f.data[f.skip:]
		if len(data) == 0 {
			continue
		}
		r.read += uint64(len(data))
		if r.read > r.size {
			err := fmt.Errorf("%w: file holds more than the %d bytes its root says", ErrInconsistent, r.size)
			r.fail(err)
			return nil, err
		}
		r.piece = data
		return data, nil
	}
}

func (r *FileReader) fail(err error) {
	r.err = err
	r.cancel()
}

// Read reads the next bytes of the file.
func (r *FileReader) Read(p []byte) (int, error) {
	if err := r.settle(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(r.cur) == 0 {
		data, err := r.nextChunk()
		if err != nil {
			return 0, err
		}
		r.cur = data
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// WriteTo writes the rest of the file to w, block by block.
func (r *FileReader) WriteTo(w io.Writer) (int64, error) {
	if err := r.settle(); err != nil {
		return 0, err
	}
	var total int64
	if len(r.cur) > 0 {
		n, err := w.Write(r.cur)
		total += int64(n)
		r.cur = r.cur[n:]
		if err != nil {
			return total, err
		}
	}
	for {
		data, err := r.nextChunk()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		n, err := w.Write(data)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

var (
	_ io.Reader   = (*FileReader)(nil)
	_ io.WriterTo = (*FileReader)(nil)
	_ io.Closer   = (*FileReader)(nil)
	_ io.Seeker   = (*FileReader)(nil)
)
