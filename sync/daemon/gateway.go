package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/gateway"
)

// gatewaySource is the gateway's Source for callers holding the API token:
// the store's blocks, completed from peers when the store lacks them.
type gatewaySource struct{ b *backend }

// Get reads block c from the store.
func (s gatewaySource) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return s.b.Store().Get(ctx, c)
}

// Stream returns a Getter for the DAG under c that, if the store lacks
// any of it, fetches it from peers while the response is sent (for as
// long as ctx, the request's, lasts) and waits for each block.
func (s gatewaySource) Stream(ctx context.Context, c cid.Cid) (unixfs.Getter, error) {
	if err := s.b.complete(ctx, c, false); err != nil {
		return nil, err
	}
	missing, err := dag.Missing(ctx, s.b.Store(), c)
	if err != nil || !missing {
		return s, err
	}
	return s.b.stream(ctx, c), nil
}

// Need fetches c (and with whole its DAG) from peers if the store lacks it.
func (s gatewaySource) Need(ctx context.Context, c cid.Cid, whole bool) error {
	return s.b.complete(ctx, c, whole)
}

// publicSource is the gateway's Source for callers without the API token:
// public content held here. What it does not serve says why, and that the
// token would have it fetched from peers.
type publicSource struct{ gateway.Public }

// Get reads block c if it is public and held.
func (s publicSource) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := s.Public.Get(ctx, c)
	return data, publicHint(err)
}

// Need reports whether c (with whole, its DAG) is public and held.
func (s publicSource) Need(ctx context.Context, c cid.Cid, whole bool) error {
	return publicHint(s.Public.Need(ctx, c, whole))
}

func publicHint(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w (without the API token the gateway serves only public content held here; with it, it fetches from peers)", err)
	}
	return err
}
