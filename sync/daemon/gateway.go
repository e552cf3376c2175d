package daemon

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store/dag"
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
