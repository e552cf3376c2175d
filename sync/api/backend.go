package api

import (
	"context"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
)

// Backend is what the API serves: an open node. *node.Node implements it,
// and so does *Client, which forwards every call to a daemon.
type Backend interface {
	Add(ctx context.Context, paths []string, opt dag.AddOptions, fn func(dag.Added) error) ([]cid.Cid, error)
	Cat(ctx context.Context, p string, w io.Writer) error
	Get(ctx context.Context, p, out string, opt dag.GetOptions) error
	Ls(ctx context.Context, p string) ([]unixfs.Link, error)
	PinAdd(ctx context.Context, c cid.Cid, opt dag.PinOptions) error
	PinRm(ctx context.Context, c cid.Cid) error
	PinLs(ctx context.Context) ([]store.Pin, error)
	GC(ctx context.Context) (store.GCStats, error)
	Export(ctx context.Context, c cid.Cid, w io.Writer) error
	Import(ctx context.Context, r io.ReadSeeker) ([]cid.Cid, error)
	Stat(ctx context.Context) (store.Stats, error)
}
