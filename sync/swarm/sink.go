package swarm

import (
	"context"
	"fmt"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
)

// Sink receives the blocks of a fetch, each verified against its CID,
// in the order they arrive (not DAG order); blocks already in the store
// are passed on too. Once Put returns, a sink that writes into the swarm's
// store lets the swarm serve the block to other peers at once.
type Sink interface {
	Put(ctx context.Context, c cid.Cid, data []byte) error
}

// StoreSink copies each block into a store (as `shoal pin add` does),
// skipping blocks it already holds.
type StoreSink struct {
	Store store.Store
}

// Put stores data as block c.
func (s StoreSink) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if ok, err := s.Store.Has(ctx, c); err == nil && ok {
		return nil
	}
	b := s.Store.NewBatch(ctx)
	if err := b.Put(c, data); err != nil {
		b.Discard()
		return fmt.Errorf("store block %s: %w", c, err)
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("store block %s: %w", c, err)
	}
	return nil
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, c cid.Cid, data []byte) error

// Put calls f.
func (f SinkFunc) Put(ctx context.Context, c cid.Cid, data []byte) error { return f(ctx, c, data) }

// PublicStoreSink is a StoreSink that is also a Seeder: while its fetch
// runs, the blocks it stored are served to any peer, before a pin makes
// them public. For fetches of public content by CID (`pin add`, `cat`,
// `export`), which then spread through a swarm as they arrive.
type PublicStoreSink struct {
	Store store.Store

	mu  sync.Mutex
	got map[cid.Cid]struct{}
}

// Put stores data as block c.
func (s *PublicStoreSink) Put(ctx context.Context, c cid.Cid, data []byte) error {
	if err := (StoreSink{Store: s.Store}).Put(ctx, c, data); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got == nil {
		s.got = make(map[cid.Cid]struct{})
	}
	s.got[c] = struct{}{}
	return nil
}

// HasBlock reports whether this fetch stored c.
func (s *PublicStoreSink) HasBlock(c cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.got[c]
	return ok
}

// GetBlock reads c from the store (which checks it), if this fetch stored it.
func (s *PublicStoreSink) GetBlock(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	if !s.HasBlock(c) {
		return nil, fmt.Errorf("block %s: %w", c, store.ErrNotFound)
	}
	if g, ok := s.Store.(intoGetter); ok {
		return g.GetInto(ctx, c, buf)
	}
	return s.Store.Get(ctx, c)
}
