package swarm

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm/walk"
	"github.com/shoal-sync/shoal/sync/transport"
)

// clusterNode is one in-process node of a cluster: identity, store,
// swarm and a loopback listener.
type clusterNode struct {
	id    *identity.Identity
	store store.Store
	swarm *Swarm
	ln    *transport.Listener
}

// cluster is n swarms on loopback TLS, for tests and benchmarks.
type cluster struct {
	nodes  []*clusterNode
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newCluster starts len(stores) nodes; opts(i) gives node i's options
// (Store is filled in).
func newCluster(ctx context.Context, stores []store.Store, opts func(i int) Options) (*cluster, error) {
	c := &cluster{}
	c.ctx, c.cancel = context.WithCancel(ctx)
	for i, st := range stores {
		id, err := identity.New()
		if err != nil {
			c.close()
			return nil, err
		}
		o := opts(i)
		o.Store = st
		o.Self = id.ID()
		sw, err := New(o)
		if err != nil {
			c.close()
			return nil, err
		}
		ln, err := transport.Listen(c.ctx, "127.0.0.1:0", id, transport.Options{
			MaxHandshakesPerIP: 256, MaxConnsPerIP: 256, MaxHandshakes: 256,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			sw.Close()
			c.close()
			return nil, err
		}
		n := &clusterNode{id: id, store: st, swarm: sw, ln: ln}
		c.nodes = append(c.nodes, n)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				conn, err := ln.Accept(c.ctx)
				if err != nil {
					return
				}
				if err := n.swarm.AddConn(conn); err != nil {
					conn.Close()
				}
			}
		}()
	}
	return c, nil
}

// connect dials node j from node i.
func (c *cluster) connect(ctx context.Context, i, j int) error {
	a, b := c.nodes[i], c.nodes[j]
	conn, err := transport.Dial(ctx, transport.PeerAddr{ID: b.id.ID(), HostPort: b.ln.Addr().String()}, a.id)
	if err != nil {
		return fmt.Errorf("connect node %d to %d: %w", i, j, err)
	}
	return a.swarm.AddConn(conn)
}

// connectAll connects every pair of nodes.
func (c *cluster) connectAll(ctx context.Context) error {
	for i := range c.nodes {
		for j := i + 1; j < len(c.nodes); j++ {
			if err := c.connect(ctx, j, i); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *cluster) close() {
	c.cancel()
	for _, n := range c.nodes {
		n.ln.Close()
		n.swarm.Close()
	}
	c.wg.Wait()
}

// putFile stores data in st as a UnixFS file of raw leaves of chunk bytes
// (balanced layout) and returns its root and the CIDs of its leaves.
func putFile(ctx context.Context, st store.Store, data []byte, chunk int) (cid.Cid, []cid.Cid, error) {
	b := st.NewBatch(ctx)
	var leaves []cid.Cid
	fb := unixfs.NewFileBuilder(func(blk unixfs.Block) error { return b.Put(blk.Cid, blk.Data) })
	for off := 0; off < len(data); off += chunk {
		leaf := data[off:min(off+chunk, len(data))]
		c := unixfs.RawCID(sha256.Sum256(leaf))
		if err := b.Put(c, leaf); err != nil {
			b.Discard()
			return cid.Undef, nil, err
		}
		if err := fb.Add(c, uint64(len(leaf))); err != nil {
			b.Discard()
			return cid.Undef, nil, err
		}
		leaves = append(leaves, c)
	}
	root, _, err := fb.Finish()
	if err != nil {
		b.Discard()
		return cid.Undef, nil, err
	}
	if err := b.Commit(); err != nil {
		return cid.Undef, nil, err
	}
	return root, leaves, nil
}

// copyBlocks copies blocks cs from one store to another.
func copyBlocks(ctx context.Context, from, to store.Store, cs []cid.Cid) error {
	b := to.NewBatch(ctx)
	for _, c := range cs {
		data, err := from.Get(ctx, c)
		if err != nil {
			b.Discard()
			return err
		}
		if err := b.Put(c, data); err != nil {
			b.Discard()
			return err
		}
	}
	return b.Commit()
}

// dagBlocks lists every block of the DAG under root held by st, root first.
func dagBlocks(ctx context.Context, st store.Store, root cid.Cid) ([]cid.Cid, error) {
	var out []cid.Cid
	err := unixfs.Walk(ctx, st, root, func(c cid.Cid, _ []byte) error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// fetchDAG fetches the DAG under root into sink through s, the way the
// daemon's get does: the walk (sync/swarm/walk) over a session of s.
func fetchDAG(ctx context.Context, s *Swarm, root cid.Cid, sink Sink) error {
	return fetchDAGFrom(ctx, s, root, sink, FetchOptions{})
}

// fetchDAGFrom is fetchDAG asking only the peers opt admits.
func fetchDAGFrom(ctx context.Context, s *Swarm, root cid.Cid, sink Sink, opt FetchOptions) error {
	so := SinkOptions(sink)
	so.Peers = opt.Peers
	return walk.Fetch(ctx, root, sink, walk.Options{Store: s.opt.Store, Open: func(ctx context.Context) (walk.Session, error) {
		ss, err := s.NewSession(ctx, so)
		if err != nil {
			return nil, err
		}
		return ss, nil
	}})
}
