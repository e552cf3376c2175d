package metrics

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/swarm/walk"
	"github.com/shoal-sync/shoal/sync/transport"
)

// node is one real swarm on loopback TLS with a badger store, and its
// metrics served over HTTP.
type node struct {
	id       *identity.Identity
	store    *badgerstore.Store
	swarm    *swarm.Swarm
	ln       *transport.Listener
	accepted chan struct{} // a connection got through AddConn
	url      string
}

func newNode(t *testing.T, ctx context.Context) *node {
	t.Helper()
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{id: id, store: openStore(t), accepted: make(chan struct{}, 4)}
	n.swarm, err = swarm.New(swarm.Options{Store: n.store, ServeAll: true, Self: id.ID(), Version: "test", Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.swarm.Close() })
	n.ln, err = transport.Listen(ctx, "127.0.0.1:0", id, transport.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ln.Close() })
	go func() {
		for {
			conn, err := n.ln.Accept(ctx)
			if err != nil {
				return
			}
			if err := n.swarm.AddConn(conn); err == nil {
				n.accepted <- struct{}{}
			}
		}
	}()
	m, err := New(Options{Version: "v-test", Swarm: n.swarm, Store: n.store, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	n.url = serve(t, m)
	return n
}

// dial connects n to o and waits until both sides run the connection.
func (n *node) dial(t *testing.T, ctx context.Context, o *node) {
	t.Helper()
	conn, err := transport.Dial(ctx, transport.PeerAddr{ID: o.id.ID(), HostPort: o.ln.Addr().String()}, n.id)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.swarm.AddConn(conn); err != nil {
		t.Fatal(err)
	}
	select {
	case <-o.accepted:
	case <-ctx.Done():
		t.Fatal("peer never accepted the connection")
	}
}

// fetch pulls root from the peers into n's store and checks the bytes.
func (n *node) fetch(t *testing.T, ctx context.Context, root cid.Cid, want []byte) {
	t.Helper()
	open := func(ctx context.Context) (walk.Session, error) {
		ss, err := n.swarm.NewSession(ctx, swarm.FetchOptions{})
		if err != nil {
			return nil, err
		}
		return ss, nil
	}
	if err := walk.Fetch(ctx, root, swarm.StoreSink{Store: n.store}, walk.Options{Store: n.store, Open: open}); err != nil {
		t.Fatalf("fetch %s: %v", root, err)
	}
	r, err := unixfs.NewFileReader(ctx, n.store, root)
	if err != nil {
		t.Fatalf("read %s back: %v", root, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s back: %v", root, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fetched %s: %d bytes differ from the %d put", root, len(got), len(want))
	}
}

// TestSwarmAndStoreMetrics runs two real swarms that fetch a file from
// each other and checks each side's scrape against the swarm's and the
// store's own figures.
func TestSwarmAndStoreMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a, b := newNode(t, ctx), newNode(t, ctx)
	dataA, dataB := randBytes(1, 700<<10), randBytes(2, 1300<<10)
	rootA, nA, bytesA := putFileBytes(t, ctx, a.store, dataA, 64<<10)
	rootB, nB, bytesB := putFileBytes(t, ctx, b.store, dataB, 64<<10)
	if err := a.store.Pin(ctx, rootA, store.PinRecursive); err != nil {
		t.Fatal(err)
	}
	a.dial(t, ctx, b)
	a.fetch(t, ctx, rootB, dataB)
	b.fetch(t, ctx, rootA, dataA)
	type side struct {
		name              string
		n                 *node
		fetched, served   int   // blocks
		fetchedB, servedB int64 // the DAGs' block bytes
		inbound, outbound float64
		storeBlocks, pins int
	}
	sides := []side{
		{"a", a, nB, nA, bytesB, bytesA, 0, 1, nA + nB, 1},
		{"b", b, nA, nB, bytesA, bytesB, 1, 0, nA + nB, 0},
	}
	before := map[string]float64{}
	for _, s := range sides {
		t.Run(s.name, func(t *testing.T) {
			statesBefore := peerStates(s.n.swarm.Peers())
			f, st := scrapeSettled(t, s.n)
			for _, c := range []struct {
				name  string
				label []string
				want  int64
			}{
				{"shoal_swarm_block_bytes_total", []string{"direction", "in"}, st.BytesIn},
				{"shoal_swarm_block_bytes_total", []string{"direction", "out"}, st.BytesOut},
				{"shoal_swarm_duplicate_bytes_total", nil, st.DupBytes},
				{"shoal_swarm_bad_blocks_total", nil, st.BadBlocks},
				{"shoal_swarm_blocks_total", []string{"direction", "in"}, st.BlocksIn},
				{"shoal_swarm_blocks_total", []string{"direction", "out"}, st.BlocksOut},
				{"shoal_swarm_banned_peers", nil, int64(st.Banned)},
			} {
				if got := f.must(t, c.name, c.label...); got != float64(c.want) {
					t.Errorf("%s%v = %v, swarm says %d", c.name, c.label, got, c.want)
				}
			}
			// The payload counters are real: every byte of the DAGs moved
			// each way, and what came in beyond the DAG fetched is counted
			// as duplicate.
			if st.BytesIn < s.fetchedB || st.BytesIn-st.DupBytes > s.fetchedB || st.BytesOut < s.servedB {
				t.Errorf("swarm moved in %d (%d duplicate) out %d bytes, the DAGs have %d and %d", st.BytesIn, st.DupBytes, st.BytesOut, s.fetchedB, s.servedB)
			}
			if st.BadBlocks != 0 {
				t.Errorf("bad blocks %d", st.BadBlocks)
			}

			var peerIn, peerOut int64
			peers := s.n.swarm.Peers()
			for _, p := range peers {
				peerIn += p.BlocksIn
				peerOut += p.BlocksOut
			}
			gotIn := f.must(t, "shoal_swarm_blocks_total", "direction", "in")
			gotOut := f.must(t, "shoal_swarm_blocks_total", "direction", "out")
			if gotIn != float64(peerIn) || gotOut != float64(peerOut) {
				t.Errorf("blocks in/out = %v/%v, peers say %d/%d", gotIn, gotOut, peerIn, peerOut)
			}
			// A block may go twice (see above): every block of the DAGs
			// moved, and any extra block fetched is a counted duplicate.
			if gotIn < float64(s.fetched) || gotOut < float64(s.served) || (gotIn > float64(s.fetched) && st.DupBytes == 0) {
				t.Errorf("blocks in/out = %v/%v (%d duplicate bytes), the DAGs fetched/served have %d/%d blocks", gotIn, gotOut, st.DupBytes, s.fetched, s.served)
			}
			before[s.name] = gotIn

			if got := f.must(t, "shoal_swarm_peers", "direction", "inbound"); got != s.inbound {
				t.Errorf("inbound peers = %v, want %v", got, s.inbound)
			}
			if got := f.must(t, "shoal_swarm_peers", "direction", "outbound"); got != s.outbound {
				t.Errorf("outbound peers = %v, want %v", got, s.outbound)
			}
			if len(peers) != 1 {
				t.Errorf("swarm has %d peers, want 1", len(peers))
			}
			// Choke and interest states can change between reads (the
			// choker runs on a timer); compare only when they did not.
			if states := peerStates(peers); states == statesBefore {
				for i, c := range []struct{ name, side string }{
					{"shoal_swarm_peers_choking", "local"}, {"shoal_swarm_peers_choking", "remote"},
					{"shoal_swarm_peers_interested", "local"}, {"shoal_swarm_peers_interested", "remote"},
				} {
					if got := f.must(t, c.name, "side", c.side); got != float64(states[i]) {
						t.Errorf("%s{side=%s} = %v, peers say %d", c.name, c.side, got, states[i])
					}
				}
			}

			want, err := s.n.store.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want.Blocks != s.storeBlocks || want.Pins != s.pins {
				t.Fatalf("store holds %d blocks, %d pins; want %d, %d", want.Blocks, want.Pins, s.storeBlocks, s.pins)
			}
			for _, c := range []struct {
				name  string
				label []string
				want  int64
			}{
				{"shoal_store_blocks", []string{"kind", "copy"}, int64(want.Blocks)},
				{"shoal_store_blocks", []string{"kind", "ref"}, int64(want.Refs)},
				{"shoal_store_block_bytes", []string{"kind", "copy"}, want.DataBytes},
				{"shoal_store_block_bytes", []string{"kind", "ref"}, want.RefBytes},
				{"shoal_store_pins", nil, int64(want.Pins)},
				{"shoal_store_stats_errors_total", nil, 0},
			} {
				if got := f.must(t, c.name, c.label...); got != float64(c.want) {
					t.Errorf("%s%v = %v, store says %d", c.name, c.label, got, c.want)
				}
			}
			if got := f.must(t, "shoal_store_disk_bytes"); got <= 0 {
				t.Errorf("shoal_store_disk_bytes = %v", got)
			}
			if got := f.must(t, "shoal_store_stats_last_success_timestamp_seconds"); got <= 0 {
				t.Errorf("last success = %v", got)
			}
			if got := f.must(t, "shoal_build_info", "version", "v-test", "goversion", runtime.Version()); got != 1 {
				t.Errorf("shoal_build_info = %v", got)
			}
			for _, name := range []string{"go_goroutines", "process_start_time_seconds", "promhttp_metric_handler_requests_total"} {
				if _, ok := f[name]; !ok {
					t.Errorf("no %s in the scrape", name)
				}
			}
		})
	}

	// When b goes, a's block counter keeps what b sent and its peer
	// gauges drop to 0.
	b.swarm.Close()
	waitFor(t, "a to see b leave", func() bool { return len(a.swarm.Peers()) == 0 })
	f := scrape(t, a.url)
	if got := f.must(t, "shoal_swarm_blocks_total", "direction", "in"); got != before["a"] {
		t.Errorf("after b left, a's blocks in = %v, was %v", got, before["a"])
	}
	for _, dir := range []string{"inbound", "outbound"} {
		if got := f.must(t, "shoal_swarm_peers", "direction", dir); got != 0 {
			t.Errorf("after b left, a's %s peers = %v", dir, got)
		}
	}
}

// scrapeSettled scrapes n's metrics at a moment its swarm's counters stand
// still: a fetch ends when it has every block, but a block asked twice (a
// request returned to the pool and asked again, an endgame duplicate) may
// still be on its way, and the swarm's owner counts a duplicate after the
// reader counted the block. Each Peers call is a round trip through the
// owner, so equal Stats around it and around the scrape mean nothing moved.
func scrapeSettled(t *testing.T, n *node) (families, swarm.Stats) {
	t.Helper()
	var f families
	var st swarm.Stats
	waitFor(t, "the swarm's counters to settle", func() bool {
		before := n.swarm.Stats()
		n.swarm.Peers()
		f = scrape(t, n.url)
		n.swarm.Peers()
		st = n.swarm.Stats()
		return st == before
	})
	return f, st
}

// peerStates counts peers that we choke, that choke us, that we are
// interested in and that are interested in us.
func peerStates(peers []swarm.PeerStats) (n [4]int) {
	for _, p := range peers {
		for i, b := range []bool{p.AmChoking, p.PeerChoking, p.AmInterested, p.PeerInterested} {
			if b {
				n[i]++
			}
		}
	}
	return n
}
