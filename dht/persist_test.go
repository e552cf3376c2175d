package dht

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shoal-sync/shoal/dht/nodeid"
)

func TestFileStoreRoundTrip(t *testing.T) {
	fs := FileStore{Path: filepath.Join(t.TempDir(), "sub", "nodes")}
	got, err := fs.LoadNodes()
	if err != nil || len(got) != 0 {
		t.Fatalf("load of a missing file: %v %v", got, err)
	}
	nodes := []NodeInfo{
		{ID: nodeid.Random(), Addr: netip.MustParseAddrPort("127.0.0.1:1")},
		{ID: nodeid.Random(), Addr: netip.MustParseAddrPort("[::1]:2")},
		{ID: nodeid.Random(), Addr: netip.MustParseAddrPort("10.1.2.3:65535")},
	}
	if err := fs.SaveNodes(nodes); err != nil {
		t.Fatal(err)
	}
	got, err = fs.LoadNodes()
	if err != nil || !slices.Equal(got, nodes) {
		t.Errorf("load = %v, %v; want %v", got, err, nodes)
	}
}

// A node restarted with its saved table rejoins without bootstrap nodes.
func TestTableSavedAndReloaded(t *testing.T) {
	nodes := startCluster(t, 10)
	store := FileStore{Path: filepath.Join(t.TempDir(), "nodes")}
	conn := listen(t)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	first, err := New(Config{Conn: conn, Store: store, Bootstrap: []netip.AddrPort{addrOf(nodes[0])}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); first.Serve(ctx) }()
	if err := first.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	known := len(first.Nodes())
	cancel()
	<-done // Serve closes the server, which saves the table
	saved, err := store.LoadNodes()
	if err != nil || len(saved) != known || known < 5 {
		t.Fatalf("saved %d nodes (%v), table had %d", len(saved), err, known)
	}

	conn2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	second := startServer(t, Config{Conn: conn2, Store: store, ID: first.ID()})
	if err := second.Bootstrap(t.Context()); err != nil {
		t.Fatalf("bootstrap from the saved table: %v", err)
	}
	target := nodeid.Random()
	got, _, err := second.FindNode(t.Context(), target)
	if err != nil || len(got) != 8 || got[0].ID != trueClosest(nodes, target, 1, second.ID())[0] {
		t.Errorf("find_node after restart: %v %v", got, err)
	}
}

func TestBEP42IDFromExternalIP(t *testing.T) {
	ip := netip.MustParseAddr("124.31.75.21")
	s, err := New(Config{Conn: listen(t), ExternalIP: ip})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !nodeid.Conforms(s.ID(), ip) {
		t.Errorf("ID %x does not conform to BEP 42 for %s", s.ID(), ip)
	}
}

func TestIPv6Cluster(t *testing.T) {
	var nodes []*Server
	for i := range 12 {
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		cfg := Config{Conn: c}
		if i > 0 {
			cfg.Bootstrap = []netip.AddrPort{addrOf(nodes[0])}
		}
		s := startServer(t, cfg)
		if i > 0 {
			if err := s.Bootstrap(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		nodes = append(nodes, s)
	}
	target := nodeid.Random()
	got, _, err := nodes[11].FindNode(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	want := trueClosest(nodes, target, 8, nodes[11].ID())
	var ids []nodeid.ID
	for _, n := range got {
		ids = append(ids, n.ID)
		if !n.Addr.Addr().Is6() {
			t.Errorf("node %v is not IPv6", n)
		}
	}
	if !slices.Equal(ids, want) {
		t.Errorf("IPv6 lookup: got %x want %x", ids, want)
	}
}

func TestExternalIPVotes(t *testing.T) {
	nodes := startCluster(t, 5)
	ip, ok := nodes[3].ExternalIP()
	if !ok || ip != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("ExternalIP = %v, %v; want 127.0.0.1", ip, ok)
	}
	lone := startServer(t, Config{})
	if _, ok := lone.ExternalIP(); ok {
		t.Error("ExternalIP known without any answers")
	}
}
