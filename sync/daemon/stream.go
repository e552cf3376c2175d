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

// arrivals wakes readers waiting for blocks that streaming fetches are
// bringing into the store, so that `cat` and the gateway send a file's
// first bytes as soon as they are here rather than once the whole DAG is.
type arrivals struct {
	mu      sync.Mutex
	running int                       // streaming fetches under way
	waits   map[cid.Cid]chan struct{} // closed when the block arrives
	ended   chan struct{}             // closed (and replaced) when a fetch ends
}

func newArrivals() *arrivals {
	return &arrivals{waits: make(map[cid.Cid]chan struct{}), ended: make(chan struct{})}
}

func (a *arrivals) start() {
	a.mu.Lock()
	a.running++
	a.mu.Unlock()
}

// end says a fetch ended; with none left, every waiter is woken to see
// that no block is coming.
func (a *arrivals) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running--
	close(a.ended)
	a.ended = make(chan struct{})
	if a.running == 0 {
		for c, ch := range a.waits {
			close(ch)
			delete(a.waits, c)
		}
	}
}

func (a *arrivals) arrived(c cid.Cid) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ch, ok := a.waits[c]; ok {
		close(ch)
		delete(a.waits, c)
	}
}

// wait returns channels closed when c arrives and when a fetch ends, or
// ok false when no fetch is under way.
func (a *arrivals) wait(c cid.Cid) (arrived, ended <-chan struct{}, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running == 0 {
		return nil, nil, false
	}
	ch, found := a.waits[c]
	if !found {
		ch = make(chan struct{})
		a.waits[c] = ch
	}
	return ch, a.ended, true
}

// notifyingSink is a PublicStoreSink (so it serves what it took to peers
// while its fetch runs) that calls stored after each block it stores: a
// streaming fetch wakes the readers waiting for the block, a pin counts
// its progress.
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

// blockWait bounds how long a reader waits for one block of a streaming
// fetch.
const blockWait = 2 * time.Minute

// stream fetches the DAG under c into the store for as long as ctx lasts,
// in the background; getArriving reads its blocks as they come.
func (b *backend) stream(ctx context.Context, c cid.Cid) {
	b.arr.start()
	go func() {
		defer b.arr.end()
		sink := &notifyingSink{&swarm.PublicStoreSink{Store: b.Store()}, func(c cid.Cid, _ int) { b.arr.arrived(c) }}
		err := b.fetch(ctx, c, sink)
		if err != nil && ctx.Err() == nil {
			b.log.Info("streaming fetch", "cid", c, "err", err)
		}
	}()
}

// getArriving returns block c from the store, waiting up to blockWait for
// a streaming fetch to bring it; store.ErrNotFound when none is under way.
func (b *backend) getArriving(ctx context.Context, c cid.Cid) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, blockWait)
	defer cancel()
	for {
		data, err := b.Store().Get(ctx, c)
		if !errors.Is(err, store.ErrNotFound) {
			return data, err
		}
		arrived, ended, ok := b.arr.wait(c)
		if !ok {
			return nil, err
		}
		// It may have come between the Get and the wait.
		if data, err := b.Store().Get(ctx, c); !errors.Is(err, store.ErrNotFound) {
			return data, err
		}
		select {
		case <-arrived:
		case <-ended:
		case <-ctx.Done():
			return nil, fmt.Errorf("block %s: waiting for peers: %w", c, ctx.Err())
		}
	}
}

// arrivingGetter is a unixfs.Getter over getArriving.
type arrivingGetter struct{ b *backend }

func (g arrivingGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return g.b.getArriving(ctx, c)
}
