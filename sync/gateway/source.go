package gateway

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/identity"
)

// Source is where a Handler reads content. Get and Need fail with an
// error wrapping store.ErrNotFound for content the source does not have
// (or will not serve); any other error from Need is taken as a failed
// fetch.
type Source interface {
	// Get returns the bytes of block c if the source has it now.
	unixfs.Getter
	// Need makes block c available to Get, and with whole every block of
	// the DAG under it too, fetching them from elsewhere if the source
	// can. It blocks until then or until ctx ends.
	Need(ctx context.Context, c cid.Cid, whole bool) error
}

// Streamer is a Source that can fetch a whole DAG while the response is
// sent: Stream starts fetching what of the DAG under c is missing, for as
// long as ctx (the request's) lasts, and returns at once a Getter that
// waits for that fetch's blocks. A Source that is not a Streamer gets
// Need(whole) before a whole file or CAR response starts.
type Streamer interface {
	Stream(ctx context.Context, c cid.Cid) (unixfs.Getter, error)
}

// Local is a Source over the blocks a store holds. It never fetches: Need
// only checks that the blocks are there.
type Local struct {
	Store dag.Store
}

// Get returns block c from the store.
func (l Local) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return l.Store.Get(ctx, c)
}

// Need reports store.ErrNotFound unless the store holds c (and, with
// whole, every block of the DAG under c).
func (l Local) Need(ctx context.Context, c cid.Cid, whole bool) error {
	if _, ok := unixfs.IdentityData(c); ok && !whole {
		return nil
	}
	if !whole {
		ok, err := l.Store.Has(ctx, c)
		if err != nil {
			return fmt.Errorf("check block %s: %w", c, err)
		}
		if !ok {
			return fmt.Errorf("block %s: %w", c, store.ErrNotFound)
		}
		return nil
	}
	missing, err := dag.Missing(ctx, l.Store, c)
	if err != nil {
		return fmt.Errorf("check DAG %s: %w", c, err)
	}
	if missing {
		return fmt.Errorf("part of the DAG under %s is not held here: %w", c, store.ErrNotFound)
	}
	return nil
}

// Policy says which blocks are public. *swarm.PinPolicy, which calls the
// blocks reachable from the store's pins public, is one.
type Policy interface {
	MayServe(ctx context.Context, peer identity.NodeID, c cid.Cid) bool
}

// Public is a Source for callers without the API token: it serves only
// blocks that its Local source holds and that Policy calls public, and
// never fetches. Every other block is store.ErrNotFound, so a caller
// cannot tell private content from absent content.
type Public struct {
	Local  Local
	Policy Policy
}

// Get returns block c if it is public and held.
func (p Public) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if err := p.check(ctx, c); err != nil {
		return nil, err
	}
	return p.Local.Get(ctx, c)
}

// Need reports store.ErrNotFound unless c is public and held (with whole,
// with every block of its DAG; the blocks below a public block are public).
func (p Public) Need(ctx context.Context, c cid.Cid, whole bool) error {
	if err := p.check(ctx, c); err != nil {
		return err
	}
	return p.Local.Need(ctx, c, whole)
}

func (p Public) check(ctx context.Context, c cid.Cid) error {
	if _, ok := unixfs.IdentityData(c); ok {
		return nil // its content is in the request itself
	}
	if p.Policy == nil || !p.Policy.MayServe(ctx, identity.NodeID{}, c) {
		return fmt.Errorf("block %s: %w", c, store.ErrNotFound)
	}
	return nil
}

var (
	_ Source = Local{}
	_ Source = Public{}
)
