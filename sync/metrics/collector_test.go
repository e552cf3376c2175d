package metrics

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shoal-sync/shoal/dht"
	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/swarm"
)

// startDHT runs a real DHT node on a loopback UDP socket.
func startDHT(t *testing.T, ctx context.Context) *dht.Server {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := dht.New(dht.Config{Conn: conn, Logger: discard})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return s
}

// TestDHTMetrics pings one real DHT node from another on loopback and
// checks both scrapes against the servers' own tables and counters.
func TestDHTMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a, b := startDHT(t, ctx), startDHT(t, ctx)
	if _, err := a.Ping(ctx, netip.MustParseAddrPort(b.Addr().String())); err != nil {
		t.Fatal(err)
	}
	// b verifies a newcomer by pinging it back, asynchronously: until
	// that answer, a is questionable in b's table, and the scrape and the
	// table read below could see it on either side of the change. A ping
	// of b's own settles it first: Ping returns once the answer is in b's
	// table.
	if _, err := b.Ping(ctx, netip.MustParseAddrPort(a.Addr().String())); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    *dht.Server
	}{{"pinger", a}, {"pinged", b}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(Options{DHT: tc.s, Logger: discard})
			if err != nil {
				t.Fatal(err)
			}
			before := tc.s.Stats()
			f := scrape(t, serve(t, m))
			after := tc.s.Stats()

			var good, questionable, bad int
			for _, bk := range tc.s.Table() {
				good += bk.Good
				questionable += bk.Questionable
				bad += bk.Bad
			}
			if good+questionable+bad != 1 || len(tc.s.Nodes()) != 1 {
				t.Fatalf("table holds %d+%d+%d nodes (%d listed), want the other node", good, questionable, bad, len(tc.s.Nodes()))
			}
			for state, want := range map[string]int{"good": good, "questionable": questionable, "bad": bad} {
				if got := f.must(t, "shoal_dht_nodes", "state", state); got != float64(want) {
					t.Errorf("shoal_dht_nodes{state=%s} = %v, want %d", state, got, want)
				}
			}
			if got := f.must(t, "shoal_dht_replacement_nodes"); got != 0 {
				t.Errorf("replacements = %v", got)
			}
			for _, c := range []struct {
				name, label, value string
				lo, hi             int64
			}{
				{"shoal_dht_packets_total", "direction", "in", before.PacketsIn, after.PacketsIn},
				{"shoal_dht_packets_total", "direction", "out", before.PacketsOut, after.PacketsOut},
				{"shoal_dht_dropped_packets_total", "reason", "malformed", before.Malformed, after.Malformed},
				{"shoal_dht_queries_answered_total", "", "", before.Queries, after.Queries},
			} {
				var labels []string
				if c.label != "" {
					labels = []string{c.label, c.value}
				}
				if got := f.must(t, c.name, labels...); got < float64(c.lo) || got > float64(c.hi) {
					t.Errorf("%s%v = %v, server says %d..%d", c.name, labels, got, c.lo, c.hi)
				}
			}
			if before.PacketsIn < 1 || before.PacketsOut < 1 {
				t.Errorf("a ping moved %d in, %d out", before.PacketsIn, before.PacketsOut)
			}
		})
	}
}

// TestSources: each metric family appears exactly when its source is set;
// a nil pointer in an interface counts as no source.
func TestSources(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sw, err := swarm.New(swarm.Options{Store: memstore.New(memstore.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	st := openStore(t)
	d := startDHT(t, ctx)
	swarmFams := []string{"shoal_swarm_bad_blocks_total", "shoal_swarm_banned_peers", "shoal_swarm_block_bytes_total", "shoal_swarm_blocks_total",
		"shoal_swarm_duplicate_bytes_total", "shoal_swarm_peers", "shoal_swarm_peers_choking", "shoal_swarm_peers_interested"}
	storeFams := []string{"shoal_store_block_bytes", "shoal_store_blocks", "shoal_store_disk_bytes", "shoal_store_pins",
		"shoal_store_stats_duration_seconds", "shoal_store_stats_errors_total", "shoal_store_stats_last_success_timestamp_seconds"}
	dhtFams := []string{"shoal_dht_dropped_packets_total", "shoal_dht_nodes", "shoal_dht_packets_total",
		"shoal_dht_queries_answered_total", "shoal_dht_replacement_nodes"}
	for _, tc := range []struct {
		name string
		opt  Options
		want [][]string
	}{
		{"none", Options{}, nil},
		{"nil pointers", Options{Swarm: (*swarm.Swarm)(nil), DHT: (*dht.Server)(nil)}, nil},
		{"swarm", Options{Swarm: sw}, [][]string{swarmFams}},
		{"store", Options{Store: st}, [][]string{storeFams}},
		{"dht", Options{DHT: d}, [][]string{dhtFams}},
		{"all", Options{Swarm: sw, Store: st, DHT: d}, [][]string{dhtFams, storeFams, swarmFams}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Version = "v9"
			m, err := New(tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			f := scrape(t, serve(t, m))
			want := []string{"shoal_build_info"}
			for _, w := range tc.want {
				want = append(want, w...)
			}
			got := f.names("shoal_")
			if !equalSorted(got, want) {
				t.Errorf("families %v, want %v", got, want)
			}
			// A pedantic registry checks Collect against Describe; the
			// linter checks names, units and help.
			problems, err := testutil.CollectAndLint(NewCollector(tc.opt))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("lint %s: %s", p.Metric, p.Text)
			}
		})
	}
}

func equalSorted(got, want []string) bool {
	w := slices.Clone(want)
	slices.Sort(w)
	return slices.Equal(got, w)
}
