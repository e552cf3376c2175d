package walk

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
)

// Session is the fetch a walk asks for the blocks it lacks (a
// *swarm.Session is one): Want names blocks with their sizes where known,
// Take passes blocks as they arrive, each verified, Pending counts the
// blocks wanted and not yet taken.
type Session interface {
	Want(ctx context.Context, cids []cid.Cid, sizes []int) error
	Take(ctx context.Context, put func(c cid.Cid, data []byte) error) error
	Pending() int
	Close()
}

// Sink receives every block of the DAG, each verified against its CID,
// in no particular order (swarm.Sink is this).
type Sink interface {
	Put(ctx context.Context, c cid.Cid, data []byte) error
}

// holder is a Sink that holds blocks already (swarm.Seeder: a resumed get
// whose temporary file has them, checked): those are not fetched again.
type holder interface {
	HasBlock(c cid.Cid) bool
	GetBlock(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

// Getter is where a walk looks first (store.Store is one).
type Getter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// Options says where a walk takes blocks from.
type Options struct {
	// Store is looked in first; a reference whose file changed counts as
	// missing. Nil: nothing is local.
	Store Getter
	// Open starts the session that fetches what is missing, at the first
	// block the store and the sink lack (a DAG held whole opens none).
	// Required.
	Open func(ctx context.Context) (Session, error)
}

// want is a block to look up, with its size when its parent said it.
type want struct {
	c    cid.Cid
	size int
}

// Fetch passes every block of the DAG under root to sink, once each,
// taking blocks from opt.Store and the sink where they are and from the
// session for the rest. It returns once the whole DAG went to sink, or with
// the first error (ctx's, the sink's, a malformed node's); blocks no peer
// has make it wait.
func Fetch(ctx context.Context, root cid.Cid, sink Sink, opt Options) error {
	if err := store.CheckCid(root); err != nil {
		return fmt.Errorf("fetch %s: %w", root, err)
	}
	w := &walker{root: root, sink: sink, opt: opt, seen: map[cid.Cid]bool{root: true}, queue: []want{{c: root}}}
	w.held, _ = sink.(holder)
	defer func() {
		if w.ss != nil {
			w.ss.Close()
		}
	}()
	return w.run(ctx)
}

type walker struct {
	root  cid.Cid
	sink  Sink
	held  holder
	opt   Options
	ss    Session
	seen  map[cid.Cid]bool
	queue []want
}

func (w *walker) run(ctx context.Context) error {
	for {
		var wants []cid.Cid
		var sizes []int
		for len(w.queue) > 0 {
			q := w.queue[0]
			w.queue = w.queue[1:]
			data, err := w.local(ctx, q.c)
			switch {
			case err == nil && data == nil:
				// A raw leaf the sink holds: nothing to pass or read.
			case err == nil:
				if err := w.put(ctx, q.c, data); err != nil {
					return err
				}
			case errors.Is(err, store.ErrNotFound):
				wants = append(wants, q.c)
				sizes = append(sizes, q.size)
			default:
				return fmt.Errorf("fetch %s: read block %s: %w", w.root, q.c, err)
			}
		}
		if len(wants) > 0 {
			if w.ss == nil {
				ss, err := w.opt.Open(ctx)
				if err != nil {
					return fmt.Errorf("fetch %s: %w", w.root, err)
				}
				w.ss = ss
			}
			if err := w.ss.Want(ctx, wants, sizes); err != nil {
				return fmt.Errorf("fetch %s: %w", w.root, err)
			}
		}
		if w.ss == nil || w.ss.Pending() == 0 {
			if len(w.queue) == 0 {
				return nil
			}
			continue
		}
		if err := w.ss.Take(ctx, func(c cid.Cid, data []byte) error { return w.put(ctx, c, data) }); err != nil {
			var pe putError
			if errors.As(err, &pe) {
				return pe.err
			}
			return fmt.Errorf("fetch %s: %w", w.root, err)
		}
	}
}

// putError carries put's own error (already wrapped) through Take.
type putError struct{ err error }

func (e putError) Error() string { return e.err.Error() }
func (e putError) Unwrap() error { return e.err }

// local returns block c from the store or the sink; nil data and no
// error for a raw leaf the sink holds; store.ErrNotFound when neither has it.
func (w *walker) local(ctx context.Context, c cid.Cid) ([]byte, error) {
	err := error(store.ErrNotFound)
	var data []byte
	if w.opt.Store != nil {
		data, err = w.opt.Store.Get(ctx, c)
	}
	if errors.Is(err, store.ErrRefChanged) {
		// The file a reference pointed into changed or moved: the block
		// is as good as missing here; peers may have it.
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) && w.held != nil && w.held.HasBlock(c) {
		// The sink has it already (a get resumed from its temporary
		// file, which checked it). A raw leaf has no links, so there is
		// nothing to read back (and hash again) either.
		if c.Type() == unixfs.CodecRaw {
			return nil, nil
		}
		return w.held.GetBlock(ctx, c, nil)
	}
	return data, err
}

// put passes one block on and queues its children not seen yet.
func (w *walker) put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := w.sink.Put(ctx, c, data); err != nil {
		return putError{fmt.Errorf("fetch %s: block %s: %w", w.root, c, err)}
	}
	kids, err := children(c, data)
	if err != nil {
		return putError{fmt.Errorf("fetch %s: %w", w.root, err)}
	}
	for _, k := range kids {
		if !w.seen[k.c] {
			w.seen[k.c] = true
			w.queue = append(w.queue, k)
		}
	}
	return nil
}

// children returns the blocks c links to, with their sizes where the link
// says them (a raw leaf's Tsize is its size).
func children(c cid.Cid, data []byte) ([]want, error) {
	if c.Type() != unixfs.CodecDagPB {
		_, err := unixfs.Links(c, data) // raw: none; others: the codec error
		return nil, err
	}
	n, err := unixfs.DecodePBNode(data)
	if err != nil {
		return nil, fmt.Errorf("links of %s: %w", c, err)
	}
	out := make([]want, len(n.Links))
	for i, l := range n.Links {
		out[i].c = l.Cid
		if l.Cid.Type() == unixfs.CodecRaw && l.Tsize <= 4<<20 {
			out[i].size = int(l.Tsize)
		}
	}
	return out, nil
}
