package lookup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

func mkNode(rng *rand.Rand, i int) krpc.NodeInfo {
	var id nodeid.ID
	for j := range id {
		id[j] = byte(rng.Uint32())
	}
	return krpc.NodeInfo{ID: id, Addr: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i))}
}

func TestShortlist(t *testing.T) {
	var target nodeid.ID
	n := func(b byte) krpc.NodeInfo { var id nodeid.ID; id[19] = b; return krpc.NodeInfo{ID: id} }
	now := time.Unix(0, 0)
	s := NewShortlist(target, 2, 1)
	s.Add([]krpc.NodeInfo{n(4), n(1), n(8)}, 1)
	var order []byte
	for {
		c, ok := s.Next(now, fixed(time.Second))
		if !ok {
			break
		}
		order = append(order, c.ID[19])
	}
	// Only the k=2 closest are queried.
	if !slices.Equal(order, []byte{1, 4}) || s.InFlight() != 2 {
		t.Fatalf("queried %v (in flight %d), want [1 4]", order, s.InFlight())
	}
	s.Answered(n(1).ID, "tok1")
	s.Failed(n(4).ID, now)
	if _, gaveUp := s.Expire(now, fixed(time.Second)); len(gaveUp) != 1 {
		t.Fatalf("gave up on %v, want node 4", gaveUp)
	}
	// With 4 failed, 8 moves into the k closest and is next.
	if c, ok := s.Next(now, fixed(time.Second)); !ok || c.ID[19] != 8 {
		t.Fatalf("after a failure Next = %v %v, want 8", c, ok)
	}
	if s.Done() {
		t.Fatal("done with a query in flight")
	}
	s.Add([]krpc.NodeInfo{n(2), n(1)}, 2) // 1 is known already
	if c, _ := s.Next(now, fixed(time.Second)); c.ID[19] != 2 || c.Hop != 2 {
		t.Fatalf("Next = %+v, want node 2 at hop 2", c)
	}
	s.Answered(n(2).ID, "tok2")
	s.Answered(n(8).ID, "")
	if !s.Done() {
		t.Fatal("not done though the 2 closest answered")
	}
	got := s.Closest()
	if len(got) != 2 || got[0].ID[19] != 1 || got[0].Token != "tok1" || got[1].ID[19] != 2 {
		t.Errorf("Closest = %+v", got)
	}
}

// network is a static in-memory DHT whose nodes have full Kademlia
// tables: up to 8 random nodes for each shared-prefix length.
type network struct {
	nodes []krpc.NodeInfo
	known map[nodeid.ID][]krpc.NodeInfo
	down  map[nodeid.ID]bool
}

func newNetwork(rng *rand.Rand, size int) *network {
	nw := &network{known: map[nodeid.ID][]krpc.NodeInfo{}, down: map[nodeid.ID]bool{}}
	for i := range size {
		nw.nodes = append(nw.nodes, mkNode(rng, i))
	}
	for _, n := range nw.nodes {
		var buckets [161][]krpc.NodeInfo
		for _, i := range rng.Perm(size) {
			o := nw.nodes[i]
			if b := nodeid.PrefixLen(n.ID, o.ID); b < 160 && len(buckets[b]) < 8 {
				buckets[b] = append(buckets[b], o)
			}
		}
		for _, b := range buckets {
			nw.known[n.ID] = append(nw.known[n.ID], b...)
		}
	}
	return nw
}

func closest(nodes []krpc.NodeInfo, target nodeid.ID, k int) []krpc.NodeInfo {
	s := slices.Clone(nodes)
	slices.SortFunc(s, func(a, b krpc.NodeInfo) int { return nodeid.Cmp(target, a.ID, b.ID) })
	return s[:min(k, len(s))]
}

func (nw *network) query(target nodeid.ID) QueryFunc {
	return func(ctx context.Context, n krpc.NodeInfo) (Reply, error) {
		if nw.down[n.ID] {
			return Reply{}, errors.New("timeout")
		}
		return Reply{Nodes: closest(nw.known[n.ID], target, 8), Token: "t" + fmt.Sprint(n.Addr.Port())}, nil
	}
}

func TestRunFindsTrueClosest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	nw := newNetwork(rng, 2000)
	for i := range 50 {
		var target nodeid.ID
		for j := range target {
			target[j] = byte(rng.Uint32())
		}
		seeds := []krpc.NodeInfo{nw.nodes[rng.IntN(len(nw.nodes))]}
		res, err := Run(context.Background(), Config{Target: target, Query: nw.query(target)}, seeds)
		if err != nil {
			t.Fatal(err)
		}
		want := closest(nw.nodes, target, 8)
		var got []nodeid.ID
		for _, c := range res.Closest {
			got = append(got, c.ID)
			if c.Token == "" {
				t.Fatal("contact without token")
			}
		}
		var wantIDs []nodeid.ID
		for _, w := range want {
			wantIDs = append(wantIDs, w.ID)
		}
		if !slices.Equal(got, wantIDs) {
			t.Errorf("lookup %d: wrong closest set", i)
		}
		if res.Stats.Messages > 60 || res.Stats.Rounds > 10 {
			t.Errorf("lookup %d: %+v", i, res.Stats)
		}
	}
}

func TestRunSurvivesFailures(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	nw := newNetwork(rng, 500)
	for _, n := range nw.nodes[:150] {
		nw.down[n.ID] = true
	}
	target := nw.nodes[200].ID
	var failed int
	res, err := Run(context.Background(), Config{
		Target: target, Query: nw.query(target),
		Failed: func(krpc.NodeInfo, error) { failed++ },
	}, nw.nodes[140:160])
	if err != nil {
		t.Fatal(err)
	}
	if failed == 0 || failed > res.Stats.Failures {
		t.Errorf("failures: stats %d, callback %d", res.Stats.Failures, failed)
	}
	for _, c := range res.Closest {
		if nw.down[c.ID] {
			t.Error("a failed node is among the closest")
		}
	}
	if len(res.Closest) != 8 || res.Closest[0].ID != target {
		t.Errorf("closest[0] = %x, want the target node itself", res.Closest[0].ID)
	}
}

func TestRunStopsOnVisit(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	nw := newNetwork(rng, 300)
	target := nw.nodes[0].ID
	calls := 0
	res, err := Run(context.Background(), Config{Target: target, Query: nw.query(target),
		Visit: func(krpc.NodeInfo, Reply) bool { calls++; return calls == 2 }}, nw.nodes[100:103])
	if err != nil || !res.Stopped || calls != 2 {
		t.Errorf("stopped %v after %d visits, err %v", res.Stopped, calls, err)
	}
}

func TestRunContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	block := func(ctx context.Context, n krpc.NodeInfo) (Reply, error) {
		cancel()
		<-ctx.Done()
		return Reply{}, ctx.Err()
	}
	rng := rand.New(rand.NewPCG(9, 9))
	_, err := Run(ctx, Config{Query: block}, []krpc.NodeInfo{mkNode(rng, 1)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// Seeds that answer late do not hold up the lookup once the soft timeout
// passes, and the lookup ends when the k closest answered without waiting
// for them.
func TestRunSoftTimeout(t *testing.T) {
	for _, soft := range []time.Duration{0, 100 * time.Millisecond} {
		synctest.Test(t, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			nw := newNetwork(rng, 200)
			target := nw.nodes[0].ID
			far := closest(nw.nodes, target, 200)[197:]
			slowIDs := map[nodeid.ID]bool{}
			for _, n := range far {
				slowIDs[n.ID] = true
			}
			q := func(ctx context.Context, n krpc.NodeInfo) (Reply, error) {
				d := 10 * time.Millisecond
				if slowIDs[n.ID] {
					d = 10 * time.Second
				}
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return Reply{}, ctx.Err()
				}
				return nw.query(target)(ctx, n)
			}
			start := time.Now()
			seeds := append(slices.Clone(far), nw.nodes[100])
			cfg := Config{Target: target, Query: q}
			if soft > 0 {
				cfg.Timeout = fixed(soft)
			}
			res, err := Run(context.Background(), cfg, seeds)
			if err != nil || len(res.Closest) != 8 || res.Closest[0].ID != target {
				t.Fatalf("soft %v: %+v %v", soft, res, err)
			}
			took := time.Since(start)
			if took > time.Second {
				t.Errorf("soft timeout %v: the lookup took %v, waiting for the slow seeds", soft, took)
			}
		})
	}
}
