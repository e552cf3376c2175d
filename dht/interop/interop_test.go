package interop

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	anacrolix "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/int160"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// shoalNode is one shoal dht.Server on loopback.
type shoalNode struct {
	srv  *dht.Server
	addr netip.AddrPort
}

// startShoal starts n shoal servers on 127.0.0.1, each bootstrapping
// through three of the given nodes.
func startShoal(t *testing.T, ctx context.Context, n int, boot []netip.AddrPort) []*shoalNode {
	t.Helper()
	nodes := make([]*shoalNode, n)
	for i := range nodes {
		conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		var b []netip.AddrPort
		for j := range 3 {
			b = append(b, boot[(3*i+j)%len(boot)])
		}
		srv, err := dht.New(dht.Config{Conn: conn, Bootstrap: b, QueryTimeout: time.Second})
		if err != nil {
			t.Fatalf("shoal server %d: %v", i, err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.Serve(context.Background())
		}()
		t.Cleanup(func() {
			srv.Close()
			<-done
		})
		nodes[i] = &shoalNode{srv: srv, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
	}
	var wg sync.WaitGroup
	for i, x := range nodes {
		wg.Go(func() {
			if err := x.srv.Bootstrap(ctx); err != nil {
				t.Errorf("shoal node %d bootstrap: %v", i, err)
			}
		})
	}
	wg.Wait()
	return nodes
}

// TestInterop runs one mixed swarm of anacrolix and shoal nodes on loopback
// and checks every exchange in both directions.
func TestInterop(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ana := startAnacrolix(t, 10, nil)
	bootstrapAnacrolix(t, ctx, ana)
	var anaAddrs []netip.AddrPort
	for _, a := range ana {
		anaAddrs = append(anaAddrs, a.addr)
	}
	sh := startShoal(t, ctx, 10, anaAddrs)
	if t.Failed() {
		t.FailNow()
	}
	// The anacrolix nodes heard the shoal nodes' queries, but they only
	// hand out nodes that answered them: have each ping the shoal nodes,
	// then let everyone look itself up again so shoal nodes learn each other.
	for _, a := range ana {
		for _, s := range sh {
			if err := a.srv.Ping(net.UDPAddrFromAddrPort(s.addr)).ToError(); err != nil {
				t.Fatalf("anacrolix %v ping shoal %v: %v", a.addr, s.addr, err)
			}
		}
	}
	bootstrapAnacrolix(t, ctx, ana)
	for i, s := range sh {
		if err := s.srv.Bootstrap(ctx); err != nil {
			t.Fatalf("shoal node %d second bootstrap: %v", i, err)
		}
	}

	// Every node of the swarm, for checking lookups.
	members := map[nodeid.ID]netip.AddrPort{}
	for _, a := range ana {
		members[a.srv.ID()] = a.addr
	}
	for _, s := range sh {
		members[s.srv.ID()] = s.addr
	}

	t.Run("ping shoal to anacrolix", func(t *testing.T) {
		for _, a := range ana {
			ni, err := sh[0].srv.Ping(ctx, a.addr)
			if err != nil {
				t.Fatalf("ping %v: %v", a.addr, err)
			}
			if ni.ID != a.srv.ID() {
				t.Fatalf("ping %v answered ID %x, want %x", a.addr, ni.ID, a.srv.ID())
			}
		}
	})

	t.Run("ping anacrolix to shoal", func(t *testing.T) {
		for _, s := range sh {
			res := ana[0].srv.Ping(net.UDPAddrFromAddrPort(s.addr))
			if err := res.ToError(); err != nil {
				t.Fatalf("anacrolix ping %v: %v", s.addr, err)
			}
			if got := res.Reply.R.ID; got != s.srv.ID() {
				t.Fatalf("shoal %v answered ID %x, want %x", s.addr, got, s.srv.ID())
			}
		}
	})

	t.Run("find_node anacrolix to shoal", func(t *testing.T) {
		for i, s := range sh {
			target := ana[i%len(ana)].srv.ID()
			target[19] ^= 1
			res := ana[0].srv.FindNode(anacrolix.NewAddr(net.UDPAddrFromAddrPort(s.addr)), int160.FromByteArray(target), anacrolix.QueryRateLimiting{})
			if err := res.ToError(); err != nil {
				t.Fatalf("anacrolix find_node to %v: %v", s.addr, err)
			}
			var gotIDs []nodeid.ID
			for _, n := range res.Reply.R.Nodes {
				ip, _ := netip.AddrFromSlice(n.Addr.IP)
				got := netip.AddrPortFrom(ip.Unmap(), uint16(n.Addr.Port))
				if want, ok := members[n.ID]; !ok || want != got {
					t.Fatalf("shoal %v returned node %x@%v, not a swarm member (%v)", s.addr, n.ID, got, want)
				}
				gotIDs = append(gotIDs, n.ID)
			}
			// The answer is the 8 nodes of its table closest to the target.
			var known []nodeid.ID
			for _, n := range s.srv.Nodes() {
				known = append(known, n.ID)
			}
			slices.SortFunc(known, func(x, y nodeid.ID) int { return nodeid.Cmp(target, x, y) })
			want := known[:min(8, len(known))]
			if !sameIDs(gotIDs, want) {
				t.Fatalf("shoal %v answered find_node(%x) with %x, want the 8 closest of its table %x", s.addr, target, gotIDs, want)
			}
		}
	})

	t.Run("find_node shoal to anacrolix", func(t *testing.T) {
		ids := make([]nodeid.ID, 0, len(members))
		for id := range members {
			ids = append(ids, id)
		}
		found, total := 0, 0
		for i, a := range ana {
			// A target next to an anacrolix node: the lookup must reach it.
			target := a.srv.ID()
			target[19] ^= 1
			from := sh[i%len(sh)]
			got, st, err := from.srv.FindNode(ctx, target)
			if err != nil {
				t.Fatalf("shoal FindNode: %v", err)
			}
			if len(got) != 8 || got[0].ID != a.srv.ID() {
				t.Fatalf("FindNode(%x) = %v, want 8 nodes starting with anacrolix node %x (stats %+v)", target, got, a.srv.ID(), st)
			}
			for j, n := range got {
				if members[n.ID] != n.Addr {
					t.Fatalf("lookup returned %x@%v, not a swarm member", n.ID, n.Addr)
				}
				if j > 0 && nodeid.Cmp(target, got[j-1].ID, n.ID) >= 0 {
					t.Fatalf("lookup result not ordered by distance: %v", got)
				}
			}
			want := slices.DeleteFunc(slices.Clone(ids), func(id nodeid.ID) bool { return id == from.srv.ID() })
			slices.SortFunc(want, func(x, y nodeid.ID) int { return nodeid.Cmp(target, x, y) })
			for _, id := range want[:8] {
				total++
				if slices.ContainsFunc(got, func(n dht.NodeInfo) bool { return n.ID == id }) {
					found++
				} else {
					t.Logf("lookup of %x missed %s", target, whoKnows(id, ana, sh))
				}
			}
		}
		// In a swarm this small the far buckets overflow, so a node of the
		// true 8 closest can be unknown to every node a lookup asks.
		if float64(found) < 0.9*float64(total) {
			t.Fatalf("lookups found %d of the true 8 closest nodes of %d", found, total)
		}
		t.Logf("lookups found %d of the true 8 closest nodes of %d", found, total)
	})

	t.Run("shoal announces, anacrolix finds", func(t *testing.T) {
		// Next to an anacrolix node, so at least one is among the k closest.
		ih := ana[4].srv.ID()
		ih[19] ^= 1
		peer := netip.MustParseAddrPort("127.0.0.1:5001")
		res, err := sh[2].srv.Announce(ctx, ih, int(peer.Port()), false)
		if err != nil {
			t.Fatalf("shoal announce: %v", err)
		}
		stored := 0
		for _, a := range ana {
			if a.store.has(ih, peer) {
				stored++
			}
		}
		if stored == 0 {
			t.Fatalf("no anacrolix node stored shoal's announce (stored on %d nodes)", res.Stored)
		}
		for _, a := range []*anacrolixNode{ana[0], ana[len(ana)-1]} {
			found, err := anacrolixGetPeers(ctx, a, ih)
			if err != nil {
				t.Fatal(err)
			}
			if !found[peer] {
				t.Fatalf("anacrolix get_peers from %v found %v, want %v", a.addr, found, peer)
			}
		}
		t.Logf("announce stored on %d nodes, %d of them anacrolix", res.Stored, stored)
	})

	t.Run("anacrolix announces, shoal finds", func(t *testing.T) {
		// Next to a shoal node, so at least one is among the k closest.
		ih := sh[4].srv.ID()
		ih[19] ^= 1
		peer := netip.MustParseAddrPort("127.0.0.1:5002")
		if err := anacrolixAnnounce(ctx, ana[1], ih, int(peer.Port())); err != nil {
			t.Fatal(err)
		}
		// Some shoal node must have accepted the announce_peer: ask each directly.
		holders := 0
		for _, s := range sh {
			res := ana[3].srv.GetPeers(ctx, anacrolix.NewAddr(net.UDPAddrFromAddrPort(s.addr)), int160.FromByteArray(ih), false, anacrolix.QueryRateLimiting{})
			if err := res.ToError(); err != nil {
				t.Fatalf("anacrolix get_peers to shoal %v: %v", s.addr, err)
			}
			if res.Reply.R.Token == nil || *res.Reply.R.Token == "" {
				t.Fatalf("shoal %v gave no token in get_peers", s.addr)
			}
			for _, v := range res.Reply.R.Values {
				if ip, ok := netip.AddrFromSlice(v.IP); ok && netip.AddrPortFrom(ip.Unmap(), uint16(v.Port)) == peer {
					holders++
				}
			}
		}
		if holders == 0 {
			t.Fatal("no shoal node stored anacrolix's announce")
		}
		for _, s := range []*shoalNode{sh[0], sh[len(sh)-1]} {
			peers, _, err := s.srv.GetPeers(ctx, ih)
			if err != nil {
				t.Fatalf("shoal GetPeers: %v", err)
			}
			if !slices.Contains(peers, peer) {
				t.Fatalf("shoal GetPeers from %v = %v, want %v", s.addr, peers, peer)
			}
		}
		t.Logf("%d shoal nodes hold anacrolix's announce", holders)
	})
}

// whoKnows describes node id and the routing tables that hold it, for
// failure messages.
func whoKnows(id nodeid.ID, ana []*anacrolixNode, sh []*shoalNode) string {
	kind := "shoal"
	inA, inS := 0, 0
	for _, a := range ana {
		if a.srv.ID() == id {
			kind = "anacrolix"
		}
		for _, n := range a.srv.Nodes() {
			if n.ID == id {
				inA++
			}
		}
	}
	for _, s := range sh {
		for _, n := range s.srv.Nodes() {
			if n.ID == id {
				inS++
			}
		}
	}
	return fmt.Sprintf("%x (%s node) in %d/%d anacrolix and %d/%d shoal tables", id, kind, inA, len(ana), inS, len(sh))
}

// sameIDs reports whether a and b hold the same IDs in any order.
func sameIDs(a, b []nodeid.ID) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	cmp := func(p, q nodeid.ID) int { return slices.Compare(p[:], q[:]) }
	slices.SortFunc(x, cmp)
	slices.SortFunc(y, cmp)
	return slices.Equal(x, y)
}
