package swarm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/identity"
)

type delivery struct {
	c     cid.Cid
	data  []byte
	owned bool // data is from recvBufs and this fetch alone has it
}

// fetch is one running Fetch. The owner appends deliveries without
// blocking; the fetch goroutine takes them. pending is touched by the
// fetch goroutine while running and read by the owner after evFetchEnd.
type fetch struct {
	mu      sync.Mutex
	q       []delivery
	wake    chan struct{}
	queued  atomic.Int64 // bytes delivered and not yet taken
	pending map[cid.Cid]bool

	// peers is FetchOptions.Peers (nil: every peer); admit is its last
	// answer per connected peer. The owner alone touches admit.
	peers func(identity.NodeID) bool
	admit map[identity.NodeID]bool
}

func (f *fetch) deliver(c cid.Cid, data []byte, owned bool) {
	f.mu.Lock()
	f.q = append(f.q, delivery{c, data, owned})
	f.mu.Unlock()
	f.queued.Add(int64(len(data)))
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetch) take() []delivery {
	f.mu.Lock()
	q := f.q
	f.q = nil
	f.mu.Unlock()
	return q
}

// want is a block to look up, with its size when the parent said it.
type want struct {
	c    cid.Cid
	size int
}

// FetchOptions restricts a fetch.
type FetchOptions struct {
	// Peers, when set, admits the peers the fetch may ask: only they are
	// sent its want-haves and want-blocks, and only their haves count, so
	// a private folder's CIDs never reach a peer outside it. It is asked
	// again about every connected peer at least once a second and at each
	// PeersChanged, so a peer admitted meanwhile is asked from then on and
	// one no longer admitted is asked nothing more (its requests go to
	// others). It runs on the swarm's own goroutine: it must be quick and
	// must not call the Swarm. Nil admits every peer.
	Peers func(identity.NodeID) bool
}

// Fetch walks the DAG under root and passes every block of it to sink,
// taking blocks the store holds from the store and asking connected peers
// for the rest (and peers that connect meanwhile). Every block from a peer
// is checked against its CID first. A sink that is a Seeder serves what
// it took to other peers until Fetch returns, and what it holds already
// (a resumed get) is not asked of peers. Fetch returns when the whole DAG went
// to sink, or with ctx's error; blocks no peer has make it wait.
func (s *Swarm) Fetch(ctx context.Context, root cid.Cid, sink Sink) error {
	return s.FetchFrom(ctx, root, sink, FetchOptions{})
}

// FetchFrom is Fetch asking only the peers opt admits; while none of them
// has a block, it waits.
func (s *Swarm) FetchFrom(ctx context.Context, root cid.Cid, sink Sink, opt FetchOptions) error {
	if err := store.CheckCid(root); err != nil {
		return fmt.Errorf("fetch %s: %w", root, err)
	}
	f := &fetch{wake: make(chan struct{}, 1), pending: make(map[cid.Cid]bool), peers: opt.Peers}
	if !s.send(ctx, event{kind: evFetchStart, fetch: f}) {
		return s.fetchErr(ctx, root)
	}
	defer s.send(context.Background(), event{kind: evFetchEnd, fetch: f})
	sd, _ := sink.(Seeder)
	if sd != nil && !isPrivate(sd) {
		s.seeders.add(sd)
		defer s.seeders.remove(sd)
	}

	// A borrowing sink keeps nothing of a raw block: its buffer is reused.
	_, borrows := sink.(DataBorrower)
	seen := map[cid.Cid]bool{root: true}
	queue := []want{{c: root}}
	// put passes one block on and queues its children.
	put := func(c cid.Cid, data []byte) error {
		if err := sink.Put(ctx, c, data); err != nil {
			return fmt.Errorf("fetch %s: block %s: %w", root, c, err)
		}
		kids, err := children(c, data)
		if err != nil {
			return fmt.Errorf("fetch %s: %w", root, err)
		}
		for _, k := range kids {
			if !seen[k.c] {
				seen[k.c] = true
				queue = append(queue, k)
			}
		}
		return nil
	}
	for {
		var wants []cid.Cid
		var sizes []int
		for len(queue) > 0 {
			w := queue[0]
			queue = queue[1:]
			data, err := s.opt.Store.Get(ctx, w.c)
			if errors.Is(err, store.ErrRefChanged) {
				// The file a reference pointed into changed or moved:
				// the block is as good as missing here; peers may have it.
				err = store.ErrNotFound
			}
			if errors.Is(err, store.ErrNotFound) && sd != nil && sd.HasBlock(w.c) {
				// The sink has it already (a get resumed from its
				// temporary file, which checked it): no need to ask
				// peers. A raw leaf has no links, so there is nothing to
				// read back (and hash again) either.
				if w.c.Type() == unixfs.CodecRaw {
					continue
				}
				data, err = sd.GetBlock(ctx, w.c, nil)
			}
			switch {
			case err == nil:
				if err := put(w.c, data); err != nil {
					return err
				}
			case errors.Is(err, store.ErrNotFound):
				f.pending[w.c] = true
				wants = append(wants, w.c)
				sizes = append(sizes, w.size)
			default:
				return fmt.Errorf("fetch %s: read block %s: %w", root, w.c, err)
			}
		}
		if len(wants) > 0 && !s.send(ctx, event{kind: evWant, fetch: f, cids: wants, sizes: sizes}) {
			return s.fetchErr(ctx, root)
		}
		if len(f.pending) == 0 {
			return nil
		}
		select {
		case <-f.wake:
		case <-ctx.Done():
			return s.fetchErr(ctx, root)
		case <-s.ctx.Done():
			return s.fetchErr(ctx, root)
		}
		ds := f.take()
		stored := make([]cid.Cid, 0, len(ds))
		for _, d := range ds {
			delete(f.pending, d.c)
			err := put(d.c, d.data)
			f.queued.Add(-int64(len(d.data)))
			if err != nil {
				return err
			}
			if d.owned && borrows && d.c.Type() == unixfs.CodecRaw {
				s.recvBufs.put(d.data)
			}
			stored = append(stored, d.c)
		}
		s.send(ctx, event{kind: evStored, cids: stored})
	}
}

func (s *Swarm) fetchErr(ctx context.Context, root cid.Cid) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fetch %s: %w", root, err)
	}
	return fmt.Errorf("fetch %s: %w", root, ErrClosed)
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
