package strategy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

type cpeer struct {
	name       string
	interested bool
	gave, took int64
	age        time.Duration // connected this long before now
}

func stats(now time.Time, ps []cpeer) ([]PeerStat, map[identity.NodeID]string) {
	names := map[identity.NodeID]string{}
	var out []PeerStat
	for _, p := range ps {
		id := testPeer(p.name)
		names[id] = p.name
		out = append(out, PeerStat{ID: id, Interested: p.interested, Gave: p.gave, Took: p.took, Connected: now.Add(-p.age)})
	}
	return out, names
}

func names(ids []identity.NodeID, m map[identity.NodeID]string) string {
	var s []string
	for _, id := range ids {
		s = append(s, m[id])
	}
	slices.Sort(s)
	return strings.Join(s, "")
}

func TestChokerRechoke(t *testing.T) {
	old := time.Hour
	six := []cpeer{
		{"A", true, 100, 0, old}, {"B", true, 600, 1, old}, {"C", true, 300, 2, old},
		{"D", true, 500, 3, old}, {"E", true, 200, 4, old}, {"F", false, 900, 900, old},
	}
	tests := []struct {
		name    string
		seeding bool
		peers   []cpeer
		// regular must be exactly this; the optimistic (if any) one of opt.
		regular string
		opt     string
	}{
		{name: "tit-for-tat: best four givers, optimistic among the rest", peers: six, regular: "BCDE", opt: "A"},
		{name: "seeding: by bytes uploaded to them", seeding: true, peers: six, regular: "BCDE", opt: "A"},
		{name: "seeding ranks by took, not gave", seeding: true, peers: []cpeer{
			{"A", true, 900, 1, old}, {"B", true, 0, 50, old}, {"C", true, 0, 40, old}, {"D", true, 0, 30, old}, {"E", true, 0, 20, old}, {"G", true, 0, 10, old},
		}, regular: "BCDE", opt: "AG"},
		{name: "fewer interested than slots: all regular, no optimistic", peers: []cpeer{
			{"A", true, 0, 0, old}, {"B", false, 50, 0, old}, {"C", true, 0, 0, old},
		}, regular: "AC", opt: ""},
		{name: "nobody interested", peers: []cpeer{{"A", false, 10, 10, old}}, regular: "", opt: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChoker(ChokerConfig{Seed: 1})
			ps, m := stats(t0, tt.peers)
			got := c.Rechoke(t0, ps, tt.seeding)
			reg := names(c.regular, m)
			if reg != tt.regular {
				t.Errorf("regular = %q, want %q", reg, tt.regular)
			}
			optName := m[c.Optimistic()]
			if tt.opt == "" && optName != "" || tt.opt != "" && (optName == "" || !strings.Contains(tt.opt, optName)) {
				t.Errorf("optimistic = %q, want one of %q", optName, tt.opt)
			}
			if want := len(tt.regular) + len(optName); len(got) != want {
				t.Errorf("%d unchoked, want %d", len(got), want)
			}
		})
	}
}

// TestChokerOptimisticRotation checks the optimistic unchoke is kept for
// OptimisticInterval across rechokes and then moves on.
func TestChokerOptimisticRotation(t *testing.T) {
	var ps []cpeer
	for _, n := range "ABCDEFGHIJ" {
		ps = append(ps, cpeer{string(n), true, int64(n), 0, time.Hour})
	}
	c := NewChoker(ChokerConfig{Seed: 3})
	st, m := stats(t0, ps)
	c.Rechoke(t0, st, false)
	first := c.Optimistic()
	if first.IsZero() || strings.Contains("GHIJ", m[first]) {
		t.Fatalf("optimistic %q: want one of A-F", m[first])
	}
	for _, dt := range []time.Duration{10 * time.Second, 20 * time.Second} {
		c.Rechoke(t0.Add(dt), st, false)
		if c.Optimistic() != first {
			t.Fatalf("at +%v the optimistic unchoke moved before 30 s", dt)
		}
	}
	seen := map[identity.NodeID]bool{first: true}
	for i := 1; i <= 20; i++ {
		c.Rechoke(t0.Add(time.Duration(i)*30*time.Second), st, false)
		seen[c.Optimistic()] = true
	}
	if len(seen) < 3 {
		t.Errorf("20 rotations visited %d peers", len(seen))
	}
	// An optimistic peer that loses interest is replaced at once.
	cur := c.Optimistic()
	for i := range st {
		if st[i].ID == cur {
			st[i].Interested = false
		}
	}
	c.Rechoke(t0.Add(601*time.Second), st, false)
	if c.Optimistic() == cur {
		t.Error("uninterested optimistic peer kept")
	}
}

// TestChokerNewPeersFavoured checks new peers are about three times as
// likely to get the optimistic unchoke.
func TestChokerNewPeersFavoured(t *testing.T) {
	ps := []cpeer{{"N", true, 0, 0, time.Second}, {"O", true, 0, 0, time.Hour}}
	st, m := stats(t0, ps)
	newCount := 0
	const trials = 4000
	c := NewChoker(ChokerConfig{Slots: 0, Seed: 9})
	c.cfg.Slots = 0 // no regular slots: every pick is optimistic
	for range trials {
		c.regular = nil
		c.pickOptimistic(t0, c.rank(st, false))
		if m[c.Optimistic()] == "N" {
			newCount++
		}
	}
	ratio := float64(newCount) / float64(trials-newCount)
	if ratio < 2.5 || ratio > 3.6 {
		t.Errorf("new:old = %.2f, want about 3", ratio)
	}
}

func TestChokerFill(t *testing.T) {
	old := time.Hour
	c := NewChoker(ChokerConfig{Slots: 2, Seed: 5})
	st, m := stats(t0, []cpeer{{"A", true, 5, 0, old}, {"B", false, 9, 0, old}, {"C", false, 1, 0, old}})
	if got := names(c.Rechoke(t0, st, false), m); got != "A" {
		t.Fatalf("rechoke: %q, want A", got)
	}
	st[1].Interested = true // B becomes interested: takes the free slot
	if got := names(c.Fill(t0.Add(time.Second), st, false), m); got != "AB" {
		t.Fatalf("fill: %q, want AB", got)
	}
	st[2].Interested = true // C: slots full, so it becomes the optimistic unchoke
	if got := names(c.Fill(t0.Add(2*time.Second), st, false), m); got != "ABC" || m[c.Optimistic()] != "C" {
		t.Fatalf("fill: %q (optimistic %q), want ABC with C optimistic", got, m[c.Optimistic()])
	}
	st[0].Interested = false // A leaves: its slot is freed, others kept
	if got := names(c.Fill(t0.Add(3*time.Second), st, false), m); got != "BC" {
		t.Fatalf("fill: %q, want BC", got)
	}
}

// TestChokerTiesSpread checks that chokers with different seeds break
// ties between equal peers differently, so nodes do not all unchoke the
// same few peers.
func TestChokerTiesSpread(t *testing.T) {
	var ps []cpeer
	for _, n := range "ABCDEFGH" {
		ps = append(ps, cpeer{string(n), true, 100, 0, time.Hour})
	}
	st, m := stats(t0, ps)
	sets := map[string]bool{}
	for seed := range uint64(16) {
		c := NewChoker(ChokerConfig{Slots: 2, Seed: seed})
		c.Rechoke(t0, st, false)
		sets[names(c.regular, m)] = true
	}
	if len(sets) < 4 {
		t.Errorf("16 chokers chose only %d distinct regular sets among equal peers: %v", len(sets), sets)
	}
}
