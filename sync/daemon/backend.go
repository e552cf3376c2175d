package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/dag"
	"github.com/shoal-sync/shoal/sync/node"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/swarm/walk"
)

// backend is what the daemon's API serves: the node's own operations, with
// every read first completing the DAG from peers when the store lacks
// blocks of it.
type backend struct {
	*node.Node
	swarm   *swarm.Swarm
	content *contentRouter // nil: no content routing (no DHT)
	onFetch func()         // nil, or told of each fetch that starts and each new pin (trackers)
	// beforeGC, if set, runs before each collection (folder retention).
	beforeGC func(ctx context.Context)
	log      *slog.Logger

	mu       sync.Mutex
	fetching map[cid.Cid]int // roots of fetches under way, and how many
}

func newBackend(n *node.Node, s *swarm.Swarm) *backend {
	b := &backend{Node: n, swarm: s, fetching: make(map[cid.Cid]int), log: slog.New(slog.DiscardHandler)}
	// Garbage collection keeps what fetches under way have stored so far.
	n.Store().AddRoots("fetching", func(context.Context) ([]cid.Cid, error) { return b.fetchingRoots(), nil })
	return b
}

// kick announces new pins now: on the DHT and to the trackers.
func (b *backend) kick() {
	b.content.kick()
	if b.onFetch != nil {
		b.onFetch()
	}
}

// GC applies the folders' retention, then collects: what retention no
// longer keeps goes in the same run.
func (b *backend) GC(ctx context.Context) (store.GCStats, error) {
	if b.beforeGC != nil {
		b.beforeGC(ctx)
	}
	return b.Node.GC(ctx)
}

// fetchingRoots returns the roots of the fetches under way.
func (b *backend) fetchingRoots() []cid.Cid {
	b.mu.Lock()
	defer b.mu.Unlock()
	roots := make([]cid.Cid, 0, len(b.fetching))
	for c := range b.fetching {
		roots = append(roots, c)
	}
	return roots
}

// hold keeps root, and what the store holds of the DAG under it, from
// garbage collection until release is called: a fetch under way, and a
// reader that has not written out yet what a fetch brought.
func (b *backend) hold(root cid.Cid) (release func()) {
	b.mu.Lock()
	b.fetching[root]++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			if b.fetching[root]--; b.fetching[root] == 0 {
				delete(b.fetching, root)
			}
			b.mu.Unlock()
		})
	}
}

// fetch walks the DAG under root into sink, fetching what the store
// lacks from peers.
func (b *backend) fetch(ctx context.Context, root cid.Cid, sink swarm.Sink) error {
	return b.guarded(ctx, root, func(ctx context.Context) error {
		return fetchDAG(ctx, b.swarm, b.Store(), root, sink, swarm.FetchOptions{})
	})
}

// fetchNode fetches block c alone from peers into the store.
func (b *backend) fetchNode(ctx context.Context, c cid.Cid) error {
	st := b.Store()
	put := func(got cid.Cid, data []byte) error { return swarm.StoreSink{Store: st}.Put(ctx, got, data) }
	return b.guarded(ctx, c, func(ctx context.Context) error {
		return b.swarm.FetchBlocks(ctx, []cid.Cid{c}, nil, put, swarm.FetchOptions{})
	})
}

// guarded runs fetch, a fetch of root or of blocks under it, keeping
// root safe from garbage collection meanwhile and looking for providers
// of root while it runs.
func (b *backend) guarded(ctx context.Context, root cid.Cid, fetch func(context.Context) error) error {
	defer b.hold(root)()
	if b.onFetch != nil {
		b.onFetch()
	}
	if b.content != nil {
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		go b.content.search(sctx, root)
	}
	return fetch(ctx)
}

// fetchDAG walks the DAG under root into sink: blocks st or the sink hold
// are taken from there, the rest fetched through a session of sw that asks
// only the peers fo.Peers admits (nil: every peer), those in fo.Sources
// without asking first. Of fo only those two count: the sink sets the
// rest (SinkOptions).
func fetchDAG(ctx context.Context, sw *swarm.Swarm, st walk.Getter, root cid.Cid, sink swarm.Sink, fo swarm.FetchOptions) error {
	opt := swarm.SinkOptions(sink)
	opt.Peers, opt.Sources = fo.Peers, fo.Sources
	return walk.Fetch(ctx, root, sink, walk.Options{Store: st, Open: func(ctx context.Context) (walk.Session, error) {
		ss, err := sw.NewSession(ctx, opt)
		if err != nil {
			return nil, err
		}
		return ss, nil
	}})
}

// need resolves p ("CID[/path]"), fetching from peers each directory on
// the way that the store lacks, and makes the DAG p names complete in the
// store (only its top node unless whole). It returns the CID p names.
func (b *backend) need(ctx context.Context, p string, whole bool) (cid.Cid, error) {
	root, rest, err := dag.ParsePath(p)
	if err != nil {
		return cid.Undef, err
	}
	st := b.Store()
	// Resolve the path through the directories, fetching each as needed.
	c := root
	for {
		if err := b.complete(ctx, c, whole && rest == ""); err != nil {
			return cid.Undef, err
		}
		if rest == "" {
			return c, nil
		}
		next, err := unixfs.Resolve(ctx, st, c, firstElem(rest))
		if err != nil {
			return cid.Undef, fmt.Errorf("resolve %s: %w", p, err)
		}
		c, rest = next, restElems(rest)
	}
}

// complete fetches c's DAG (the whole of it when whole is set, else only
// the node itself) from peers if the store lacks any of it.
func (b *backend) complete(ctx context.Context, c cid.Cid, whole bool) error {
	st := b.Store()
	if !whole {
		if ok, err := st.Has(ctx, c); err != nil || ok {
			return err
		}
		return b.fetchNode(ctx, c)
	}
	return b.completeDAG(ctx, c, nil, nil)
}

// completeDAG fetches from peers what the store lacks of the DAG under c.
// Once c's node is here, total (if set) is told the DAG's cumulative size;
// progress (if set) is told the size of each block the fetch passes on.
func (b *backend) completeDAG(ctx context.Context, c cid.Cid, total, progress func(n int64)) error {
	st := b.Store()
	missing, err := dag.Missing(ctx, st, c)
	if err != nil || !missing {
		return err
	}
	if info, err := unixfs.Stat(ctx, st, c); err == nil && total != nil {
		total(int64(info.CumulativeSize))
	}
	return b.fetch(ctx, c, &notifyingSink{&swarm.PublicStoreSink{Store: st}, func(_ cid.Cid, n int) {
		if progress != nil {
			progress(int64(n))
		}
	}})
}

func firstElem(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return p
}

func restElems(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return ""
}

// Cat writes the file p names to w; when the store lacks part of it (or
// holds references that no longer read back, which the store drops), the
// file is fetched from peers while it is written, each block as soon as
// it is here. The file's blocks are held from garbage collection until
// they are written: a fetch may end long before a slow reader does.
func (b *backend) Cat(ctx context.Context, p string, w io.Writer) error {
	c, err := b.need(ctx, p, false)
	if err != nil {
		return err
	}
	defer b.hold(c)()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	r, err := unixfs.NewFileReader(ctx, b.lazyStream(sctx, c), c)
	if err != nil {
		return fmt.Errorf("cat %s: %w", p, err)
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("cat %s: %w", p, err)
	}
	return nil
}

// Get writes the file or tree p names to out. When the store lacks part
// of it, the blocks fetched from peers go straight into the output files,
// and the store keeps references to them instead of copies.
func (b *backend) Get(ctx context.Context, p, out string, opt dag.GetOptions) error {
	c, err := b.need(ctx, p, false)
	if err != nil {
		return err
	}
	missing, err := dag.Missing(ctx, b.Store(), c)
	if err != nil {
		return err
	}
	if !missing {
		// All here, unless references no longer read back: what the
		// store drops then is fetched from peers as it is read.
		defer b.hold(c)()
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		return dag.Get(ctx, b.lazyStream(sctx, c), c.String(), out, opt)
	}
	info, err := unixfs.Stat(ctx, b.Store(), c) // need put c's node in the store
	if err != nil {
		return fmt.Errorf("get %s: %w", p, err)
	}
	opt.ReportTotal(info)
	w, err := dag.NewTreeWriter(b.Store(), c, out, opt)
	if err != nil {
		return err
	}
	if err := b.fetch(ctx, c, w); err != nil {
		w.Abort()
		return err
	}
	if err := w.Finish(); err != nil {
		w.Abort()
		return err
	}
	return nil
}

// Ls fetches the directory node if needed, then lists it.
func (b *backend) Ls(ctx context.Context, p string) ([]unixfs.Link, error) {
	c, err := b.need(ctx, p, false)
	if err != nil {
		return nil, err
	}
	return b.Node.Ls(ctx, c.String())
}

// PinAdd fetches the whole DAG for a recursive pin, reporting progress,
// then pins it and announces it.
func (b *backend) PinAdd(ctx context.Context, c cid.Cid, opt dag.PinOptions) error {
	if err := b.complete(ctx, c, false); err != nil {
		return err
	}
	for try := 0; ; try++ {
		if opt.Recursive {
			if err := b.completeDAG(ctx, c, opt.Total, opt.Progress); err != nil {
				return err
			}
		}
		err := b.Node.PinAdd(ctx, c, opt)
		if err == nil {
			break
		}
		if try > 0 || !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// A reference no longer read back and was dropped: fetch again.
	}
	b.kick()
	return nil
}

// Add adds and announces what it pinned.
func (b *backend) Add(ctx context.Context, paths []string, opt dag.AddOptions, fn func(dag.Added) error) ([]cid.Cid, error) {
	roots, err := b.Node.Add(ctx, paths, opt, fn)
	if err == nil && opt.Pin {
		b.kick()
	}
	return roots, err
}

// Import imports a CAR and announces the roots it pinned.
func (b *backend) Import(ctx context.Context, r io.ReadSeeker) ([]cid.Cid, error) {
	roots, err := b.Node.Import(ctx, r)
	if err == nil {
		b.kick()
	}
	return roots, err
}

// Export fetches what is missing, then writes the CAR.
func (b *backend) Export(ctx context.Context, c cid.Cid, w io.Writer) error {
	if err := b.complete(ctx, c, true); err != nil {
		return err
	}
	// Written to w as it is read: a reference that no longer reads back
	// (dropped by the store) is fetched from peers meanwhile.
	defer b.hold(c)()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	return dag.Export(ctx, b.lazyStream(sctx, c), c, w)
}
