package swarm

import (
	"context"
	"fmt"

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
