package swarm

import (
	"context"
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

// fetch is the owner's view of one Session. The owner appends deliveries
// without blocking; the session's goroutine takes them. pending is
// touched by the session's goroutine while it runs and read by the owner
// after evFetchEnd.
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

	// sources are the peers that sent it (or the sessions sharing them) a
	// block wanted: they are asked for the blocks it wants next without
	// a want-have first (owner.want).
	sources *Sources
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

// FetchOptions restricts and tunes a Session.
type FetchOptions struct {
	// Peers, when set, admits the peers the session may ask: only they
	// are sent its want-haves and want-blocks, and only their haves
	// count, so a private folder's CIDs never reach a peer outside it. It
	// is asked again about every connected peer at least once a second
	// and at each PeersChanged, so a peer admitted meanwhile is asked from
	// then on and one no longer admitted is asked nothing more (its
	// requests go to others). It runs on the swarm's own goroutine: it
	// must be quick and must not call the Swarm. Nil admits every peer.
	Peers func(identity.NodeID) bool
	// Sources, when set, is shared with other sessions (a folder's
	// pulls, one per file): a peer that sent a block to any of them is
	// asked by each for its blocks directly. Nil: the session's own.
	Sources *Sources
	// Serve, when set, is served to any peer that asks while the session
	// runs, as a BitTorrent client serves the pieces it has while it
	// downloads (see Seeder). Never a sink of private blocks.
	Serve Seeder
	// Reuse says the caller keeps nothing of a raw block's data once the
	// put func it gave Take returns: the swarm reuses the buffer for the
	// next block received instead of allocating one.
	Reuse bool
}

// SinkOptions returns the options a fetch into sink runs with: a Seeder
// that is not a PrivateSeeder is served, a DataBorrower's buffers reused.
func SinkOptions(sink Sink) FetchOptions {
	var opt FetchOptions
	if sd, ok := sink.(Seeder); ok && !isPrivate(sd) {
		opt.Serve = sd
	}
	_, opt.Reuse = sink.(DataBorrower)
	return opt
}

// Session fetches the blocks its caller names from connected peers (and
// peers that connect meanwhile): rarest first, many requests in flight,
// endgame at the end, every block checked against its CID before the
// caller sees it, a peer that sends a bad block struck and the block asked
// of others. It knows nothing of DAGs: a caller walking one (sync/swarm/walk)
// names a node's children as the node arrives. Blocks no admitted peer has
// make Take wait. A Session is used by one goroutine; Close ends it.
type Session struct {
	s     *Swarm
	f     *fetch
	serve Seeder
	reuse bool
	done  bool
}

// NewSession starts a session with opt.
func (s *Swarm) NewSession(ctx context.Context, opt FetchOptions) (*Session, error) {
	f := &fetch{wake: make(chan struct{}, 1), pending: make(map[cid.Cid]bool), peers: opt.Peers, sources: opt.Sources}
	if f.sources == nil {
		f.sources = new(Sources)
	}
	if !s.send(ctx, event{kind: evFetchStart, fetch: f}) {
		return nil, s.sessionErr(ctx)
	}
	if opt.Serve != nil {
		s.seeders.add(opt.Serve)
	}
	return &Session{s: s, f: f, serve: opt.Serve, reuse: opt.Reuse}, nil
}

// Want asks for blocks, with the size of each where known (sizes may be
// nil, or hold 0 for unknown). Blocks the session waits for already are
// not asked twice; one it has handed over is asked again. It does not
// look in the store: the caller does, and names what it lacks.
func (ss *Session) Want(ctx context.Context, cids []cid.Cid, sizes []int) error {
	if ss.done {
		return fmt.Errorf("want: %w", ErrClosed)
	}
	wants := make([]cid.Cid, 0, len(cids))
	ws := make([]int, 0, len(cids))
	for i, c := range cids {
		if err := store.CheckCid(c); err != nil {
			return fmt.Errorf("want %s: %w", c, err)
		}
		if ss.f.pending[c] {
			continue
		}
		ss.f.pending[c] = true
		wants = append(wants, c)
		size := 0
		if i < len(sizes) {
			size = sizes[i]
		}
		ws = append(ws, size)
	}
	if len(wants) == 0 {
		return nil
	}
	if !ss.s.send(ctx, event{kind: evWant, fetch: ss.f, cids: wants, sizes: ws}) {
		return ss.s.sessionErr(ctx)
	}
	return nil
}

// Pending returns how many blocks asked for Take has not handed over yet.
func (ss *Session) Pending() int { return len(ss.f.pending) }

// Take waits until blocks arrive and passes each to put, in the order
// they arrived; a block put took (returned nil for) is announced to peers
// that asked us for it, so put must have made it servable by then if it
// ever will be. put may call Want. Take returns nil when a batch was
// handed over or nothing is pending, put's first error, or ctx's error
// (ErrClosed once the swarm closes).
func (ss *Session) Take(ctx context.Context, put func(c cid.Cid, data []byte) error) error {
	if ss.done {
		return fmt.Errorf("take: %w", ErrClosed)
	}
	if len(ss.f.pending) == 0 {
		return nil
	}
	select {
	case <-ss.f.wake:
	case <-ctx.Done():
		return ss.s.sessionErr(ctx)
	case <-ss.s.ctx.Done():
		return ss.s.sessionErr(ctx)
	}
	ds := ss.f.take()
	stored := make([]cid.Cid, 0, len(ds))
	var err error
	for i, d := range ds {
		delete(ss.f.pending, d.c)
		err = put(d.c, d.data)
		ss.f.queued.Add(-int64(len(d.data)))
		if err != nil {
			for _, r := range ds[i+1:] {
				ss.f.queued.Add(-int64(len(r.data)))
			}
			break
		}
		if d.owned && ss.reuse && d.c.Type() == unixfs.CodecRaw {
			ss.s.recvBufs.put(d.data)
		}
		stored = append(stored, d.c)
	}
	if len(stored) > 0 {
		ss.s.send(ctx, event{kind: evStored, cids: stored})
	}
	return err
}

// Close ends the session: what it still waits for is no longer asked of
// peers (unless another session wants it), and Serve is served no more.
func (ss *Session) Close() {
	if ss.done {
		return
	}
	ss.done = true
	ss.s.send(context.Background(), event{kind: evFetchEnd, fetch: ss.f})
	if ss.serve != nil {
		ss.s.seeders.remove(ss.serve)
	}
}

// FetchBlocks fetches the blocks cids (sizes as for Want) from the peers
// opt admits and passes each to put as it arrives, the way a puller fills
// a file: it returns once put took all of them, or with the first error.
// It does not look in the store.
func (s *Swarm) FetchBlocks(ctx context.Context, cids []cid.Cid, sizes []int, put func(c cid.Cid, data []byte) error, opt FetchOptions) error {
	ss, err := s.NewSession(ctx, opt)
	if err != nil {
		return fmt.Errorf("fetch %d blocks: %w", len(cids), err)
	}
	defer ss.Close()
	if err := ss.Want(ctx, cids, sizes); err != nil {
		return fmt.Errorf("fetch %d blocks: %w", len(cids), err)
	}
	for ss.Pending() > 0 {
		if err := ss.Take(ctx, put); err != nil {
			return fmt.Errorf("fetch %d blocks: %w", len(cids), err)
		}
	}
	return nil
}

func (s *Swarm) sessionErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrClosed
}
