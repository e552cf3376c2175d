package simtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/dht/nodeid"
	"github.com/shoal-sync/shoal/dht/simnet"
)

// simPort is the DHT port of every simulated node; nodes differ by IP.
const simPort = 6881

// node is one running dht.Server in a cluster.
type node struct {
	srv   *dht.Server
	id    nodeid.ID
	addr  netip.AddrPort
	done  chan struct{} // closed when Serve has returned
	index int           // position in cluster.live
}

// cluster is a set of dht.Servers on one simnet.Network or on loopback
// UDP. Its methods are called from one goroutine at a time (the Run
// function's).
type cluster struct {
	net    *simnet.Network // nil on UDP
	listen func() (net.PacketConn, netip.AddrPort, error)
	base   dht.Config // template: Conn, ID and Bootstrap are filled per node
	rng    *rand.Rand
	live   []*node
	byAddr map[netip.AddrPort]*node
	byID   map[nodeid.ID]*node
	nextIP uint32
}

// newCluster returns an empty cluster on a new simnet.Network.
func newCluster(opt simnet.Options, base dht.Config, seed uint64) *cluster {
	c := newUDPCluster(base, seed)
	c.net = simnet.New(opt)
	c.listen = func() (net.PacketConn, netip.AddrPort, error) {
		addr := c.nextAddr()
		conn, err := c.net.Listen(addr)
		if err != nil {
			return nil, addr, fmt.Errorf("simtest: listen %s: %w", addr, err)
		}
		return conn, addr, nil
	}
	return c
}

// newUDPCluster returns an empty cluster whose nodes listen on 127.0.0.1.
func newUDPCluster(base dht.Config, seed uint64) *cluster {
	if base.Logger == nil {
		base.Logger = slog.New(slog.DiscardHandler)
	}
	return &cluster{
		listen: func() (net.PacketConn, netip.AddrPort, error) {
			conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
			if err != nil {
				return nil, netip.AddrPort{}, fmt.Errorf("simtest: listen on loopback: %w", err)
			}
			return conn, conn.LocalAddr().(*net.UDPAddr).AddrPort(), nil
		},
		base:   base,
		rng:    rand.New(rand.NewPCG(seed, 0x5a17)),
		byAddr: make(map[netip.AddrPort]*node),
		byID:   make(map[nodeid.ID]*node),
	}
}

// randomID draws an ID from the cluster's seeded PRNG.
func (c *cluster) randomID() nodeid.ID {
	var id nodeid.ID
	for i := 0; i < len(id); i += 8 {
		v := c.rng.Uint64()
		for j := 0; j < 8 && i+j < len(id); j++ {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	return id
}

// nextAddr returns a fresh address in 10.0.0.0/8; addresses are never
// reused, so a node that replaces another is a different host.
func (c *cluster) nextAddr() netip.AddrPort {
	c.nextIP++
	return c.addrAt(c.nextIP)
}

// addrAt is the address nextAddr returns the n-th time.
func (c *cluster) addrAt(n uint32) netip.AddrPort {
	ip := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
	return netip.AddrPortFrom(ip, simPort)
}

// start creates and serves a node that will bootstrap through boot.
func (c *cluster) start(boot []netip.AddrPort) (*node, error) {
	return c.startWith(c.randomID(), boot, nil)
}

// startWith creates and serves a node with ID id, bootstrap nodes boot
// and, when not nil, the table store store.
func (c *cluster) startWith(id nodeid.ID, boot []netip.AddrPort, store dht.TableStore) (*node, error) {
	conn, addr, err := c.listen()
	if err != nil {
		return nil, err
	}
	cfg := c.base
	cfg.Conn = conn
	cfg.ID = id
	cfg.Bootstrap = boot
	if store != nil {
		cfg.Store = store
	}
	srv, err := dht.New(cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("simtest: new server at %s: %w", addr, err)
	}
	n := &node{srv: srv, id: srv.ID(), addr: addr, done: make(chan struct{}), index: len(c.live)}
	go func() {
		defer close(n.done)
		srv.Serve(context.Background())
	}()
	c.live = append(c.live, n)
	c.byAddr[addr] = n
	c.byID[n.id] = n
	return n, nil
}

// randomPeers returns up to count distinct addresses drawn from the first
// among nodes of c.live.
func (c *cluster) randomPeers(count, among int) []netip.AddrPort {
	count = min(count, among)
	out := make([]netip.AddrPort, 0, count)
	seen := make(map[int]bool, count)
	for len(out) < count {
		i := c.rng.IntN(among)
		if !seen[i] {
			seen[i] = true
			out = append(out, c.live[i].addr)
		}
	}
	return out
}

// grow adds count nodes in waves that double in size, each new node
// bootstrapping through three random nodes that joined in earlier waves.
// It returns how many bootstraps failed.
func (c *cluster) grow(ctx context.Context, count int) (failed int, err error) {
	for count > 0 {
		before := len(c.live)
		wave := max(1, min(count, before))
		var started []*node
		for range wave {
			n, err := c.start(c.randomPeers(3, before))
			if err != nil {
				return failed, err
			}
			started = append(started, n)
		}
		count -= wave
		failed += c.bootstrap(ctx, started)
		if ctx.Err() != nil {
			return failed, ctx.Err()
		}
	}
	return failed, nil
}

// bootstrap runs Bootstrap on nodes concurrently and returns the failures.
func (c *cluster) bootstrap(ctx context.Context, nodes []*node) int {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for _, n := range nodes {
		if len(c.live) == 1 {
			break // the first node has nobody to join
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			if err := n.srv.Bootstrap(ctx); err != nil && !errors.Is(err, context.Canceled) {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// stop closes n, waits for its Serve to return and forgets it.
func (c *cluster) stop(n *node) {
	n.srv.Close()
	<-n.done
	last := c.live[len(c.live)-1]
	c.live[n.index] = last
	last.index = n.index
	c.live = c.live[:len(c.live)-1]
	delete(c.byAddr, n.addr)
	delete(c.byID, n.id)
}

// ids returns the IDs of the live nodes.
func (c *cluster) ids() []nodeid.ID {
	out := make([]nodeid.ID, len(c.live))
	for i, n := range c.live {
		out[i] = n.id
	}
	return out
}

// tableHealth returns, over every live node's routing table, the fraction
// of entries the table itself rates good, and the fraction that point at a
// live node with the ID they record.
func (c *cluster) tableHealth() (good, live float64, entries int) {
	var nGood, nLive int
	for _, n := range c.live {
		for _, b := range n.srv.Table() {
			nGood += b.Good
			for _, e := range b.Nodes {
				entries++
				if m := c.byAddr[e.Addr]; m != nil && m.id == e.ID {
					nLive++
				}
			}
		}
	}
	if entries == 0 {
		return 0, 0, 0
	}
	return float64(nGood) / float64(entries), float64(nLive) / float64(entries), entries
}

// close stops every node and the network.
func (c *cluster) close() {
	for _, n := range c.live {
		n.srv.Close()
	}
	for _, n := range c.live {
		<-n.done
	}
	c.live = nil
	if c.net != nil {
		c.net.Close()
	}
}
