package dht

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/lookup"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// Ping asks the node at addr for its ID.
func (s *Server) Ping(ctx context.Context, addr netip.AddrPort) (NodeInfo, error) {
	m, err := s.query(ctx, NodeInfo{Addr: addr}, krpc.Ping, &krpc.Args{})
	if err != nil {
		return NodeInfo{}, err
	}
	return NodeInfo{ID: m.R.ID, Addr: addr}, nil
}

// Bootstrap asks the configured bootstrap nodes (and nodes loaded from the
// Store) for the nodes closest to this server's ID, then runs a lookup of
// that ID to fill the routing table. It fails with ErrNoNodes when no node
// answered.
func (s *Server) Bootstrap(ctx context.Context) error {
	s.mu.Lock()
	saved := s.table.Closest(s.id, s.cfg.K, time.Now())
	s.mu.Unlock()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		seeds []NodeInfo
	)
	ask := func(n NodeInfo) {
		defer wg.Done()
		m, err := s.askPatiently(ctx, n, krpc.FindNode, &krpc.Args{Target: s.id})
		if err != nil {
			s.log.Debug("bootstrap", "addr", n.Addr, "err", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seeds = append(seeds, NodeInfo{ID: m.R.ID, Addr: n.Addr})
		for _, c := range append(m.R.Nodes, m.R.Nodes6...) {
			if c.ID != s.id && s.usable(c.Addr) {
				seeds = append(seeds, c)
			}
		}
	}
	for _, a := range s.cfg.Bootstrap {
		wg.Add(1)
		go ask(NodeInfo{Addr: a})
	}
	for _, n := range saved {
		wg.Add(1)
		go ask(n)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res, err := s.lookupFrom(ctx, s.id, krpc.FindNode, nil, seeds, 0)
	if err != nil {
		return fmt.Errorf("dht: bootstrap: %w", err)
	}
	if res.Stats.Responses == 0 {
		return fmt.Errorf("dht: bootstrap through %d nodes: %w", len(s.cfg.Bootstrap), ErrNoNodes)
	}
	return nil
}

// askPatiently sends q up to QueryAttempts times, waiting twice as long
// for each answer as for the one before (QueryTimeout first): the few
// queries a bootstrap starts from are all it has, so a lost datagram or a
// slow path must not end it.
func (s *Server) askPatiently(ctx context.Context, n NodeInfo, q string, args *krpc.Args) (*krpc.Msg, error) {
	var err error
	for a := range s.cfg.QueryAttempts {
		var m *krpc.Msg
		if m, err = s.queryWait(ctx, n, q, args, s.cfg.QueryTimeout<<min(a, 2)); err == nil || !errors.Is(err, ErrTimeout) {
			return m, err
		}
	}
	return nil, err
}

// lookup runs an iterative lookup of target with method q (find_node,
// get_peers or get), seeded from the routing table.
func (s *Server) lookup(ctx context.Context, target nodeid.ID, q string, visit func(NodeInfo, lookup.Reply) bool) (lookup.Result, error) {
	return s.lookupFrom(ctx, target, q, visit, nil, 0)
}

// lookupFrom is lookup with extra seed nodes besides the routing table's,
// ending without the answer of contacts vouched for by vouch answering
// nodes when vouch > 0 (lookup.Config.Vouch).
func (s *Server) lookupFrom(ctx context.Context, target nodeid.ID, q string, visit func(NodeInfo, lookup.Reply) bool, extra []NodeInfo, vouch int) (lookup.Result, error) {
	s.mu.Lock()
	seeds := append(s.table.Closest(target, s.cfg.K, time.Now()), extra...)
	s.mu.Unlock()
	if len(seeds) == 0 {
		return lookup.Result{}, ErrNoNodes
	}
	cfg := lookup.Config{
		Target:   target,
		K:        s.cfg.K,
		Alpha:    s.cfg.Alpha,
		Attempts: s.cfg.QueryAttempts,
		Vouch:    vouch,
		Timeout:  func(c lookup.Contact) lookup.Timing { return s.queryTimeout(c.Addr) },
		// A contact given up on is quarantined in the table until it
		// answers again (its query may still be waiting for the full
		// QueryTimeout, or be cancelled when the lookup ends).
		Failed: func(n NodeInfo, _ error) { s.failed(n) },
		Visit:  visit,
		Query: func(ctx context.Context, n NodeInfo) (lookup.Reply, error) {
			args := &krpc.Args{}
			switch q {
			case krpc.FindNode, krpc.Get:
				args.Target = target
			case krpc.GetPeers:
				args.InfoHash = target
			}
			// The lookup decides when n counts as timed out; the query
			// itself listens longer, so that a late answer still counts
			// while the lookup runs (it ends the query when it ends).
			m, err := s.queryWait(ctx, n, q, args, lookupListen*s.cfg.QueryTimeout)
			if err != nil {
				return lookup.Reply{}, err
			}
			r := m.R
			rep := lookup.Reply{Token: r.Token, Item: r}
			for _, c := range append(r.Nodes, r.Nodes6...) {
				if c.ID != s.id && s.usable(c.Addr) {
					rep.Nodes = append(rep.Nodes, c)
				}
			}
			for _, v := range r.Values {
				if s.usable(v) {
					rep.Values = append(rep.Values, v)
				}
			}
			return rep, nil
		},
	}
	return lookup.Run(ctx, cfg, seeds)
}

// lookupListen is how many QueryTimeouts a lookup's query listens for its
// answer: as long as the lookup's attempts with their back-off, so that
// answers slower than every estimate (a loaded or congested node) are
// still heard.
const lookupListen = 3

// FindNode returns the k nodes closest to target that answered a lookup.
func (s *Server) FindNode(ctx context.Context, target [20]byte) ([]NodeInfo, LookupStats, error) {
	res, err := s.lookupFrom(ctx, target, krpc.FindNode, nil, nil, s.cfg.FindNodeVouch)
	nodes := make([]NodeInfo, len(res.Closest))
	for i, c := range res.Closest {
		nodes[i] = c.NodeInfo
	}
	return nodes, res.Stats, err
}

// GetPeers returns peers announced for infohash. The lookup short-circuits
// once peersFromNodes nodes have returned peers (their union covers
// announcers whose closest sets differ slightly), or ends like find_node.
func (s *Server) GetPeers(ctx context.Context, infohash [20]byte) ([]netip.AddrPort, LookupStats, error) {
	seen := map[netip.AddrPort]bool{}
	s.mu.Lock()
	peers := s.peers.get(infohash, time.Now())
	s.mu.Unlock()
	for _, p := range peers {
		seen[p] = true
	}
	holders := 0
	res, err := s.lookup(ctx, infohash, krpc.GetPeers, func(_ NodeInfo, r lookup.Reply) bool {
		if len(r.Values) > 0 {
			holders++
		}
		for _, p := range r.Values {
			if !seen[p] {
				seen[p] = true
				peers = append(peers, p)
			}
		}
		return holders >= peersFromNodes
	})
	return peers, res.Stats, err
}

// peersFromNodes is how many nodes with peers end a GetPeers lookup.
const peersFromNodes = 3

// PeersOptions tune FindPeers.
type PeersOptions struct {
	// Enough is how many distinct peers make an early answer; default 8.
	Enough int
	// Early, when set, is called once, as soon as Enough peers are known
	// (or never), with the peers so far; the lookup goes on to find the k
	// closest nodes. It runs in the lookup's goroutine and must not block.
	Early func(peers []netip.AddrPort)
}

// PeersResult is a finished FindPeers.
type PeersResult struct {
	Peers   []netip.AddrPort // every peer seen, local ones first
	Closest []lookup.Contact // the k closest nodes that answered, with their tokens
	Stats   LookupStats
}

// FindPeers runs a get_peers lookup of infohash to the end: it hands the
// caller the first Enough peers through opts.Early as soon as they are
// known (a joiner can dial them at once), and returns every peer seen and
// the k closest nodes with their write tokens (what an announce needs).
func (s *Server) FindPeers(ctx context.Context, infohash [20]byte, opts PeersOptions) (PeersResult, error) {
	if opts.Enough <= 0 {
		opts.Enough = 8
	}
	var out PeersResult
	seen := map[netip.AddrPort]bool{}
	s.mu.Lock()
	out.Peers = s.peers.get(infohash, time.Now())
	s.mu.Unlock()
	early := opts.Early
	maybeEarly := func() {
		if early != nil && len(out.Peers) >= opts.Enough {
			early(slices.Clone(out.Peers))
			early = nil
		}
	}
	for _, p := range out.Peers {
		seen[p] = true
	}
	maybeEarly()
	res, err := s.lookup(ctx, infohash, krpc.GetPeers, func(_ NodeInfo, r lookup.Reply) bool {
		for _, p := range r.Values {
			if !seen[p] {
				seen[p] = true
				out.Peers = append(out.Peers, p)
			}
		}
		maybeEarly()
		return false
	})
	out.Closest, out.Stats = res.Closest, res.Stats
	return out, err
}

// AnnounceResult says how an announce or put went.
type AnnounceResult struct {
	Stored int              // nodes that accepted it
	Peers  []netip.AddrPort // peers seen during the lookup (announce only)
	Stats  LookupStats
}

// Announce finds the k nodes closest to infohash and announces this node
// as a peer on port (or, with impliedPort, on the DHT socket's port) to each.
func (s *Server) Announce(ctx context.Context, infohash [20]byte, port int, impliedPort bool) (AnnounceResult, error) {
	if !impliedPort && (port <= 0 || port > 65535) {
		return AnnounceResult{}, fmt.Errorf("dht: announce %s: port %d out of range", nodeid.String(infohash), port)
	}
	seen := map[netip.AddrPort]bool{}
	var out AnnounceResult
	res, err := s.lookup(ctx, infohash, krpc.GetPeers, func(_ NodeInfo, r lookup.Reply) bool {
		for _, p := range r.Values {
			if !seen[p] {
				seen[p] = true
				out.Peers = append(out.Peers, p)
			}
		}
		return false
	})
	out.Stats = res.Stats
	if err != nil {
		return out, fmt.Errorf("dht: announce %s: %w", nodeid.String(infohash), err)
	}
	local := 0
	if !s.cfg.ReadOnly && s.amongClosest(infohash, res.Closest) {
		p := uint16(port)
		if impliedPort {
			p = s.localPort()
		}
		if a := netip.AddrPortFrom(s.localIP(), p); s.usable(a) {
			now := time.Now()
			s.mu.Lock()
			if s.peers.add(infohash, a, now.Add(s.cfg.PeerTTL), s.cfg.MaxPeers, s.cfg.MaxKeys) {
				local = 1
			}
			s.mu.Unlock()
		}
	}
	out.Stored, err = s.storeAt(ctx, res.Closest, func(c lookup.Contact) *krpc.Args {
		return &krpc.Args{InfoHash: infohash, Port: port, ImpliedPort: impliedPort, Token: c.Token}
	}, krpc.AnnouncePeer)
	out.Stored += local
	if err != nil && local > 0 {
		err = nil
	}
	if err != nil {
		return out, fmt.Errorf("dht: announce %s: %w", nodeid.String(infohash), err)
	}
	return out, nil
}

// storeAt sends the write query q to every contact that gave a token, in
// parallel; it returns how many accepted, and an error only if none did.
func (s *Server) storeAt(ctx context.Context, to []lookup.Contact, args func(lookup.Contact) *krpc.Args, q string) (int, error) {
	var (
		mu       sync.Mutex
		stored   int
		firstErr error
		wg       sync.WaitGroup
	)
	for _, c := range to {
		if c.Token == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.query(ctx, c.NodeInfo, q, args(c))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				stored++
			} else if firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	if stored == 0 {
		if firstErr == nil {
			firstErr = ErrNoNodes
		}
		return 0, firstErr
	}
	return stored, nil
}

// KeepAnnounced announces infohash now and again every AnnounceInterval
// until ctx ends, so that the record follows the closest nodes as they
// change and never expires. It returns ctx's error, or ErrClosed when
// the server closes first.
func (s *Server) KeepAnnounced(ctx context.Context, infohash [20]byte, port int, impliedPort bool) error {
	return s.every(ctx, func() error {
		_, err := s.Announce(ctx, infohash, port, impliedPort)
		return err
	})
}

// every runs f now and every AnnounceInterval until ctx or the server ends.
func (s *Server) every(ctx context.Context, f func() error) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.life.Done():
			return ErrClosed
		case <-t.C:
		}
		if err := f(); err != nil && ctx.Err() == nil {
			s.log.Debug("republish", "err", err)
		}
		t.Reset(s.cfg.AnnounceInterval)
	}
}

// PutOptions tune Put.
type PutOptions struct {
	// CAS, when set, stores a mutable item only where the current
	// sequence number equals *CAS.
	CAS *int64
}

// Put stores item on the k nodes closest to its target and returns how
// many accepted it.
func (s *Server) Put(ctx context.Context, item Item, opts PutOptions) (AnnounceResult, error) {
	var out AnnounceResult
	if err := item.Verify(); err != nil {
		return out, err
	}
	target := item.Target()
	var newest *Item // the newest valid version seen on the network
	res, err := s.lookup(ctx, target, krpc.Get, func(_ NodeInfo, rep lookup.Reply) bool {
		r, _ := rep.Item.(*krpc.Return)
		if !item.Mutable() || r == nil || r.V == nil || r.Seq == nil {
			return false
		}
		it := Item{V: r.V, K: r.K, Salt: item.Salt, Seq: *r.Seq, Sig: r.Sig}
		if it.Target() == target && it.Verify() == nil && (newest == nil || it.Seq > newest.Seq) {
			newest = &it
		}
		return false
	})
	out.Stats = res.Stats
	if err != nil {
		return out, fmt.Errorf("dht: put %s: %w", nodeid.String(target), err)
	}
	if newest != nil {
		if opts.CAS != nil && *opts.CAS != newest.Seq {
			return out, fmt.Errorf("dht: put %s: seq %d is current: %w", nodeid.String(target), newest.Seq, ErrCASMismatch)
		}
		if newest.Seq > item.Seq || newest.Seq == item.Seq && !sameValue(*newest, item) {
			return out, fmt.Errorf("dht: put %s at seq %d: seq %d is current: %w", nodeid.String(target), item.Seq, newest.Seq, ErrSeqTooLow)
		}
	}
	local := 0
	if !s.cfg.ReadOnly && s.amongClosest(target, res.Closest) {
		if code, _ := s.storeItem(item, opts.CAS, time.Now()); code == 0 {
			local = 1
		}
	}
	out.Stored, err = s.storeAt(ctx, res.Closest, func(c lookup.Contact) *krpc.Args {
		a := &krpc.Args{Token: c.Token, V: item.V}
		if item.Mutable() {
			seq := item.Seq
			a.K, a.Salt, a.Sig, a.Seq, a.CAS = item.K, item.Salt, item.Sig, &seq, opts.CAS
		}
		return a
	}, krpc.Put)
	out.Stored += local
	if err != nil && local > 0 {
		err = nil
	}
	if err != nil {
		return out, fmt.Errorf("dht: put %s: %w", nodeid.String(target), err)
	}
	return out, nil
}

// KeepPut puts item now and again every AnnounceInterval until ctx ends.
func (s *Server) KeepPut(ctx context.Context, item Item) error {
	if err := item.Verify(); err != nil {
		return err
	}
	return s.every(ctx, func() error {
		_, err := s.Put(ctx, item, PutOptions{})
		return err
	})
}

// GetOptions tune Get.
type GetOptions struct {
	// Salt is the salt of the mutable item sought: the target is the
	// SHA-1 of key and salt, and answers are checked against it.
	Salt []byte
	// MinSeq, when set, asks only for mutable items newer than it.
	MinSeq *int64
}

// Get looks up the item stored under target. An immutable item ends the
// lookup at the first valid answer; for a mutable item the whole lookup
// runs and the valid answer with the highest seq wins. It returns
// ErrNotFound when no node had it.
func (s *Server) Get(ctx context.Context, target [20]byte, opts GetOptions) (Item, LookupStats, error) {
	var best *Item
	s.mu.Lock()
	if it, ok := s.items.get(target, time.Now()); ok && (opts.MinSeq == nil || it.Seq > *opts.MinSeq) {
		best = &it
	}
	s.mu.Unlock()
	if best != nil && !best.Mutable() {
		return *best, LookupStats{}, nil
	}
	res, err := s.lookup(ctx, target, krpc.Get, func(_ NodeInfo, rep lookup.Reply) bool {
		r, _ := rep.Item.(*krpc.Return)
		if r == nil || r.V == nil {
			return false
		}
		it := Item{V: r.V}
		if len(r.K) > 0 {
			if r.Seq == nil {
				return false
			}
			it.K, it.Salt, it.Sig, it.Seq = r.K, opts.Salt, r.Sig, *r.Seq
			if opts.MinSeq != nil && it.Seq <= *opts.MinSeq {
				return false
			}
		}
		if it.Target() != target || it.Verify() != nil {
			return false
		}
		if best == nil || it.Seq > best.Seq {
			best = &it
		}
		return !it.Mutable()
	})
	if best != nil {
		return *best, res.Stats, nil
	}
	if err == nil {
		err = ErrNotFound
	}
	return Item{}, res.Stats, fmt.Errorf("dht: get %s: %w", nodeid.String(target), err)
}

// Table returns the routing table's non-empty buckets.
func (s *Server) Table() []BucketInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Buckets(time.Now())
}

// Nodes returns every node in the routing table.
func (s *Server) Nodes() []NodeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []NodeInfo
	for _, e := range s.table.Entries() {
		out = append(out, e.NodeInfo)
	}
	return out
}

// AddNode offers a node to the routing table as if it had answered a query
// (for nodes learnt outside the DHT, such as LAN peers); it is pinged first.
func (s *Server) AddNode(ctx context.Context, addr netip.AddrPort) (NodeInfo, error) {
	return s.Ping(ctx, addr)
}

// amongClosest reports whether this node is one of the k closest to target
// given the closest nodes a lookup found.
func (s *Server) amongClosest(target nodeid.ID, closest []lookup.Contact) bool {
	if len(closest) < s.cfg.K {
		return true
	}
	return nodeid.Cmp(target, s.id, closest[len(closest)-1].ID) < 0
}

// localIP is the IP other nodes see this node at, as well as it is known.
func (s *Server) localIP() netip.Addr {
	if s.cfg.ExternalIP.IsValid() {
		return s.cfg.ExternalIP
	}
	a, _ := addrPortOf(s.conn.LocalAddr())
	return a.Addr()
}

func (s *Server) localPort() uint16 {
	a, _ := addrPortOf(s.conn.LocalAddr())
	return a.Port()
}
