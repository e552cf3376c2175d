package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/store/diskfree"
	"github.com/shoal-sync/shoal/sync/identity"
)

// Options configures Open.
type Options struct {
	Logger *slog.Logger
	// MinFree is the free space the store keeps on its filesystem (zero:
	// badgerstore.DefaultMinFree).
	MinFree diskfree.Floor
}

// Node is an open home: the block store and what is done with it.
type Node struct {
	home  string
	id    *identity.Identity
	store store.Store
	log   *slog.Logger
}

// Open opens the node in home, creating the home if needed.
func Open(home string, opt Options) (*Node, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	id, err := identity.LoadOrCreate(home)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", home, err)
	}
	s, err := badgerstore.Open(filepath.Join(home, blocksDir), badgerstore.Options{Logger: opt.Logger, MinFree: opt.MinFree})
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", home, err)
	}
	return &Node{home: home, id: id, store: s, log: opt.Logger}, nil
}

// Identity returns the node's key and ID.
func (n *Node) Identity() *identity.Identity { return n.id }

// Home returns the node's home directory.
func (n *Node) Home() string { return n.home }

// Store returns the node's block store.
func (n *Node) Store() store.Store { return n.store }

// Close closes the store.
func (n *Node) Close() error { return n.store.Close() }

// Add adds files and directories; see dag.Add.
func (n *Node) Add(ctx context.Context, paths []string, opt dag.AddOptions, fn func(dag.Added) error) ([]cid.Cid, error) {
	if opt.Logger == nil {
		opt.Logger = n.log
	}
	return dag.Add(ctx, n.store, paths, opt, fn)
}

// Cat writes the file that p ("CID[/path]") names to w.
func (n *Node) Cat(ctx context.Context, p string, w io.Writer) error {
	_, err := dag.Cat(ctx, n.store, p, w)
	return err
}

// Get writes the file or tree that p names to out.
func (n *Node) Get(ctx context.Context, p, out string, opt dag.GetOptions) error {
	return dag.Get(ctx, n.store, p, out, opt)
}

// Ls lists the directory that p names; a file lists as itself.
func (n *Node) Ls(ctx context.Context, p string) ([]unixfs.Link, error) {
	c, err := dag.Resolve(ctx, n.store, p)
	if err != nil {
		return nil, fmt.Errorf("ls %s: %w", p, err)
	}
	info, err := unixfs.Stat(ctx, n.store, c)
	if err != nil {
		return nil, fmt.Errorf("ls %s: %w", p, err)
	}
	if !info.IsDir() {
		return []unixfs.Link{{Name: "", Cid: c, Tsize: info.Size}}, nil
	}
	return unixfs.ListDir(ctx, n.store, c)
}

// PinAdd pins c. A recursive pin needs every block of the DAG present.
func (n *Node) PinAdd(ctx context.Context, c cid.Cid, opt dag.PinOptions) error {
	mode := store.PinDirect
	if opt.Recursive {
		mode = store.PinRecursive
		err := unixfs.Walk(ctx, n.store, c, func(cid.Cid, []byte) error { return nil })
		if err != nil {
			return fmt.Errorf("pin %s: %w", c, err)
		}
	} else if ok, err := n.store.Has(ctx, c); err != nil {
		return fmt.Errorf("pin %s: %w", c, err)
	} else if !ok {
		return fmt.Errorf("pin %s: %w", c, store.ErrNotFound)
	}
	return n.store.Pin(ctx, c, mode)
}

// PinRm removes the pin on c.
func (n *Node) PinRm(ctx context.Context, c cid.Cid) error { return n.store.Unpin(ctx, c) }

// PinLs lists pins.
func (n *Node) PinLs(ctx context.Context) ([]store.Pin, error) { return n.store.Pins(ctx) }

// GC collects garbage.
func (n *Node) GC(ctx context.Context) (store.GCStats, error) { return n.store.GC(ctx) }

// Export writes a CAR of the DAG under c.
func (n *Node) Export(ctx context.Context, c cid.Cid, w io.Writer) error {
	return dag.Export(ctx, n.store, c, w)
}

// Import reads a CAR and pins its roots; see dag.Import.
func (n *Node) Import(ctx context.Context, r io.ReadSeeker) ([]cid.Cid, error) {
	return dag.Import(ctx, n.store, r)
}

// Stat describes the store.
func (n *Node) Stat(ctx context.Context) (store.Stats, error) { return n.store.Stats(ctx) }
