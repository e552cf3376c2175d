package interop

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	anacrolix "github.com/anacrolix/dht/v2"
	akrpc "github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	alog "github.com/anacrolix/log"
	"golang.org/x/time/rate"
)

// peerStore is a working anacrolix peer store: v2.23.0's InMemory keys
// entries by IP alone (so peers on one host overwrite each other) and then
// fails to decode its own keys, so it never returns a peer.
type peerStore struct {
	mu    sync.Mutex
	peers map[peer_store.InfoHash]map[netip.AddrPort]time.Time
}

var _ peer_store.Interface = (*peerStore)(nil)

func (s *peerStore) AddPeer(ih peer_store.InfoHash, na akrpc.NodeAddr) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port <= 0 || na.Port > 65535 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers == nil {
		s.peers = make(map[peer_store.InfoHash]map[netip.AddrPort]time.Time)
	}
	m := s.peers[ih]
	if m == nil {
		m = make(map[netip.AddrPort]time.Time)
		s.peers[ih] = m
	}
	m[netip.AddrPortFrom(ip.Unmap(), uint16(na.Port))] = time.Now()
}

func (s *peerStore) GetPeers(ih peer_store.InfoHash) []akrpc.NodeAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []akrpc.NodeAddr
	for ap := range s.peers[ih] {
		out = append(out, akrpc.NodeAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())})
	}
	return out
}

// has reports whether the store holds peer for ih.
func (s *peerStore) has(ih [20]byte, peer netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.peers[peer_store.InfoHash(ih)][peer]
	return ok
}

// fixFindNode works around a bug of anacrolix/dht v2.23.0: it answers
// find_node with the nodes closest to the query's info_hash (absent, so
// zero) instead of its target, so lookups through it drift towards ID 0.
// Copying target into info_hash before the handler runs fixes the answer.
func fixFindNode(m *akrpc.Msg, _ net.Addr) (propagate bool) {
	if m.Q == "find_node" && m.A != nil {
		m.A.InfoHash = m.A.Target
	}
	return true
}

// anacrolixNode is one anacrolix/dht server on loopback.
type anacrolixNode struct {
	srv   *anacrolix.Server
	store *peerStore
	addr  netip.AddrPort
}

// startAnacrolix starts n anacrolix servers on 127.0.0.1 that know each
// other through StartingNodes (never the public routers), and bootstraps them.
func startAnacrolix(t *testing.T, n int, extra func() []netip.AddrPort) []*anacrolixNode {
	t.Helper()
	nodes := make([]*anacrolixNode, n)
	var mu sync.Mutex
	starting := func() ([]anacrolix.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		var out []anacrolix.Addr
		for _, x := range nodes {
			if x != nil {
				out = append(out, anacrolix.NewAddr(net.UDPAddrFromAddrPort(x.addr)))
			}
		}
		if extra != nil {
			for _, ap := range extra() {
				out = append(out, anacrolix.NewAddr(net.UDPAddrFromAddrPort(ap)))
			}
		}
		return out, nil
	}
	for i := range n {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		cfg := anacrolix.NewDefaultServerConfig()
		cfg.Conn = pc
		cfg.NoSecurity = true
		cfg.StartingNodes = starting
		cfg.SendLimiter = rate.NewLimiter(rate.Inf, 0) // the default is shared by every server in the process
		cfg.Logger = alog.Default.FilterLevel(alog.Critical)
		cfg.QueryResendDelay = func() time.Duration { return 200 * time.Millisecond }
		store := &peerStore{}
		cfg.PeerStore = store
		cfg.OnQuery = fixFindNode
		srv, err := anacrolix.NewServer(cfg)
		if err != nil {
			t.Fatalf("anacrolix server %d: %v", i, err)
		}
		t.Cleanup(srv.Close)
		mu.Lock()
		nodes[i] = &anacrolixNode{srv: srv, store: store, addr: pc.LocalAddr().(*net.UDPAddr).AddrPort()}
		mu.Unlock()
	}
	return nodes
}

// bootstrapAnacrolix runs Bootstrap on every node concurrently.
func bootstrapAnacrolix(t *testing.T, ctx context.Context, nodes []*anacrolixNode) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	for _, x := range nodes {
		wg.Go(func() {
			if _, err := x.srv.BootstrapContext(ctx); err != nil {
				errs <- fmt.Errorf("anacrolix bootstrap %v: %w", x.addr, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// anacrolixGetPeers runs a get_peers traversal from x for ih and returns
// every peer it found.
func anacrolixGetPeers(ctx context.Context, x *anacrolixNode, ih [20]byte) (map[netip.AddrPort]bool, error) {
	a, err := x.srv.AnnounceTraversal(ih)
	if err != nil {
		return nil, fmt.Errorf("anacrolix get_peers %x: %w", ih, err)
	}
	defer a.Close()
	found := map[netip.AddrPort]bool{}
	for {
		select {
		case pv, ok := <-a.Peers:
			if !ok {
				return found, nil
			}
			for _, p := range pv.Peers {
				if ip, ok := netip.AddrFromSlice(p.IP); ok {
					found[netip.AddrPortFrom(ip.Unmap(), uint16(p.Port))] = true
				}
			}
		case <-ctx.Done():
			return found, ctx.Err()
		}
	}
}

// anacrolixAnnounce announces port for ih from x and waits for the traversal.
func anacrolixAnnounce(ctx context.Context, x *anacrolixNode, ih [20]byte, port int) error {
	a, err := x.srv.AnnounceTraversal(ih, anacrolix.AnnouncePeer(anacrolix.AnnouncePeerOpts{Port: port}))
	if err != nil {
		return fmt.Errorf("anacrolix announce %x: %w", ih, err)
	}
	defer a.Close()
	for {
		select {
		case _, ok := <-a.Peers:
			if !ok {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TestAnacrolixSwarm checks the test's own swarm: with the working peer
// store, anacrolix nodes find each other's announcements.
func TestAnacrolixSwarm(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	nodes := startAnacrolix(t, 12, nil)
	bootstrapAnacrolix(t, ctx, nodes)
	ih := [20]byte{1, 2, 3}
	if err := anacrolixAnnounce(ctx, nodes[0], ih, 4242); err != nil {
		t.Fatal(err)
	}
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 4242)
	found, err := anacrolixGetPeers(ctx, nodes[len(nodes)-1], ih)
	if err != nil {
		t.Fatal(err)
	}
	if !found[want] {
		t.Fatalf("anacrolix get_peers found %v, want %v", found, want)
	}
}
