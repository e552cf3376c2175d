package daemon

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store/dag"
)

// gatewaySource is the gateway's Source for callers holding the API token:
// the store's blocks, completed from peers when the store lacks them.
type gatewaySource struct{ b *backend }

// Get reads block c from the store, waiting for it while a streaming
// fetch may bring it.
func (s gatewaySource) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return s.b.getArriving(ctx, c)
}

// Stream fetches the DAG under c from peers, if the store lacks any of it,
// while the response is sent (for as long as ctx, the request's, lasts).
func (s gatewaySource) Stream(ctx context.Context, c cid.Cid) error {
	if err := s.b.complete(ctx, c, false); err != nil {
		return err
	}
	missing, err := dag.Missing(ctx, s.b.Store(), c)
	if err != nil || !missing {
		return err
	}
	s.b.stream(ctx, c)
	return nil
}

// Need fetches c (and with whole its DAG) from peers if the store lacks it.
func (s gatewaySource) Need(ctx context.Context, c cid.Cid, whole bool) error {
	return s.b.complete(ctx, c, whole)
}
