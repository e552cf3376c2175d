package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/swarm"
)

// streamFetch fetches a DAG into the store in the background while its
// reader takes the blocks as they arrive, so that `cat` and the gateway
// send a file's first bytes as soon as they are here rather than once the
// whole DAG is. It is the reader's unixfs.Getter.
type streamFetch struct {
	st   store.Store
	done chan struct{} // closed when the fetch has ended

	mu    sync.Mutex
	waits map[cid.Cid]chan struct{} // closed when the block arrives
}

// blockWait bounds how long a reader waits for one block of a stream.
const blockWait = 2 * time.Minute

// stream starts fetching the DAG under c into the store, for as long as
// ctx lasts or until it is all here. What it fetched is held from garbage
// collection for as long as ctx lasts (the reader's), not only while the
// fetch runs.
func (b *backend) stream(ctx context.Context, c cid.Cid) *streamFetch {
	f := &streamFetch{st: b.Store(), done: make(chan struct{}), waits: make(map[cid.Cid]chan struct{})}
	context.AfterFunc(ctx, b.hold(c))
	go func() {
		defer close(f.done)
		sink := &notifyingSink{&swarm.PublicStoreSink{Store: b.Store()}, func(c cid.Cid, _ int) { f.arrived(c) }}
		if err := b.fetch(ctx, c, sink); err != nil && ctx.Err() == nil {
			b.log.Info("streaming fetch", "cid", c, "err", err)
		}
	}()
	return f
}

func (f *streamFetch) arrived(c cid.Cid) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.waits[c]; ok {
		close(ch)
		delete(f.waits, c)
	}
}

func (f *streamFetch) wait(c cid.Cid) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.waits[c]
	if !ok {
		ch = make(chan struct{})
		f.waits[c] = ch
	}
	return ch
}

// Get returns block c from the store, waiting up to blockWait for the
// fetch to bring it; store.ErrNotFound once the fetch ended without it.
func (f *streamFetch) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, blockWait)
	defer cancel()
	for {
		data, err := f.st.Get(ctx, c)
		if !errors.Is(err, store.ErrNotFound) {
			return data, err
		}
		arrived := f.wait(c)
		// It may have come between the Get and the wait.
		if data, err := f.st.Get(ctx, c); !errors.Is(err, store.ErrNotFound) {
			return data, err
		}
		select {
		case <-arrived:
		case <-f.done:
			return f.st.Get(ctx, c)
		case <-ctx.Done():
			return nil, fmt.Errorf("block %s: waiting for peers: %w", c, ctx.Err())
		}
	}
}

// notifyingSink is a PublicStoreSink (so it serves what it took to peers
// while its fetch runs) that calls stored after each block it stores: a
// stream wakes the reader waiting for the block, a pin counts progress.
type notifyingSink struct {
	*swarm.PublicStoreSink
	stored func(c cid.Cid, n int)
}

func (s *notifyingSink) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := s.PublicStoreSink.Put(ctx, c, data); err != nil {
		return err
	}
	s.stored(c, len(data))
	return nil
}

// lazyGetter reads blocks from the store and starts a stream of the DAG
// under root only when the store lacks one (or dropped a reference that
// no longer read back), then waits for the stream to bring it.
type lazyGetter struct {
	b    *backend
	ctx  context.Context // the stream's
	root cid.Cid
	once sync.Once
	f    *streamFetch
}

// lazyStream returns a Getter for the DAG under root that fetches from
// peers, for as long as ctx lasts, only what the store turns out to lack.
func (b *backend) lazyStream(ctx context.Context, root cid.Cid) *lazyGetter {
	return &lazyGetter{b: b, ctx: ctx, root: root}
}

func (g *lazyGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := g.b.Store().Get(ctx, c)
	if !errors.Is(err, store.ErrNotFound) {
		return data, err
	}
	g.once.Do(func() { g.f = g.b.stream(g.ctx, g.root) })
	return g.f.Get(ctx, c)
}
