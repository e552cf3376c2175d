package dht

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/dht/nodeid"
)

// listen opens a UDP socket on loopback.
func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addrOf(s *Server) netip.AddrPort {
	return s.Addr().(*net.UDPAddr).AddrPort()
}

// startServer runs one server on loopback until the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Conn == nil {
		cfg.Conn = listen(t)
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = 500 * time.Millisecond
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

// startCluster starts n servers; each joins through the first and then all
// run a second self-lookup so that early nodes learn of later ones.
func startCluster(t testing.TB, n int) []*Server {
	t.Helper()
	nodes := make([]*Server, n)
	nodes[0] = startServer(t, Config{})
	for i := 1; i < n; i++ {
		nodes[i] = startServer(t, Config{Bootstrap: []netip.AddrPort{addrOf(nodes[0])}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := 0; round < 2; round++ {
		for _, s := range nodes[1:] {
			if err := s.Bootstrap(ctx); err != nil {
				t.Fatalf("bootstrap %s: %v", s.Addr(), err)
			}
		}
	}
	return nodes
}

// trueClosest returns the k IDs of nodes closest to target, excluding skip.
func trueClosest(nodes []*Server, target nodeid.ID, k int, skip nodeid.ID) []nodeid.ID {
	var ids []nodeid.ID
	for _, s := range nodes {
		if s.ID() != skip {
			ids = append(ids, s.ID())
		}
	}
	slices.SortFunc(ids, func(a, b nodeid.ID) int { return nodeid.Cmp(target, a, b) })
	return ids[:min(k, len(ids))]
}
