package rendezvous

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/dht"
)

var folder = bytes.Repeat([]byte{0x42}, 32)

// TestKeyGolden pins the derivation: peers of every version must agree.
func TestKeyGolden(t *testing.T) {
	k := Key(folder, time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC))
	// sha256("shoal rendezvous" ‖ folder ID ‖ "2026-03-04")[:20]
	const want = "e209c65f08f690448f38fb134deec223868c7a4e"
	if got := hex.EncodeToString(k[:]); got != want {
		t.Fatalf("key %s, want %s", got, want)
	}
	if Key(folder, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) != k || Key(folder, time.Date(2026, 3, 4, 23, 59, 59, 0, time.UTC)) != k {
		t.Fatal("the key changes within a UTC day")
	}
	if Key(folder, time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)) == k {
		t.Fatal("the key does not change with the day")
	}
	other := bytes.Repeat([]byte{0x43}, 32)
	if Key(other, time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)) == k {
		t.Fatal("two folders share a key")
	}
	// The same instant in another time zone is the same UTC day.
	tz := time.FixedZone("UTC+10", 10*3600)
	if Key(folder, time.Date(2026, 3, 4, 22, 0, 0, 0, tz)) != k {
		t.Fatal("the key follows the local day, not the UTC day")
	}
}

func TestKeysNearMidnight(t *testing.T) {
	d := func(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		at   time.Time
		want []time.Time
	}{
		{d(4, 12, 0), []time.Time{d(4, 0, 0)}},
		{d(4, 0, 30), []time.Time{d(4, 0, 0), d(3, 0, 0)}},
		{d(4, 23, 30), []time.Time{d(4, 0, 0), d(5, 0, 0)}},
		{d(4, 1, 0), []time.Time{d(4, 0, 0)}},
		{d(4, 22, 59), []time.Time{d(4, 0, 0)}},
	} {
		got := Keys(folder, tc.at)
		if len(got) != len(tc.want) {
			t.Fatalf("Keys at %v: %d keys, want %d", tc.at, len(got), len(tc.want))
		}
		for i, w := range tc.want {
			if got[i] != Key(folder, w) {
				t.Fatalf("Keys at %v: key %d is not %v's", tc.at, i, w)
			}
		}
	}
	if b := nextBoundary(d(4, 12, 0)); !b.Equal(d(4, 23, 0)) {
		t.Fatalf("next boundary %v", b)
	}
}

func TestPlan(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	k := func(b byte) [20]byte { return [20]byte{b} }
	state := map[[20]byte]*keyState{
		k(1): {}, // never announced
		k(2): {announced: ago(10 * time.Minute), lookedUp: ago(6 * time.Minute), looks: 9},
		k(3): {announced: ago(time.Minute), lookedUp: ago(time.Minute), looks: 9},           // old: next lookup at 5 min
		k(4): {fails: 2, retry: t0.Add(3 * time.Second)},                                    // waiting to retry
		k(5): {announced: ago(5 * time.Second), lookedUp: ago(5 * time.Second), looks: 2},   // young: again after 20 s
		k(6): {announced: ago(30 * time.Second), lookedUp: ago(25 * time.Second), looks: 2}, // young, due
	}
	ann, look, next := plan(t0, state, 15*time.Minute, 10*time.Second, 5*time.Minute)
	slices.SortFunc(look, func(a, b [20]byte) int { return bytes.Compare(a[:], b[:]) })
	if len(ann) != 1 || ann[0] != k(1) || len(look) != 2 || look[0] != k(2) || look[1] != k(6) || !next.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("plan: announce %v, look %v, next %v", ann, look, next)
	}
	delete(state, k(4))
	if _, _, next := plan(t0, state, 15*time.Minute, 10*time.Second, 5*time.Minute); !next.Equal(t0.Add(15 * time.Second)) {
		t.Fatalf("next %v, want the young key's lookup 20 s after its last", next)
	}
}

// sharedDHT is one DHT seen by several nodes, in which, for each key,
// every node's first announce looks up before any of them is stored: the
// nodes announce at the same moment.
type sharedDHT struct {
	mu   sync.Mutex
	n    int
	keys map[[20]byte]*sharedKey
}

type sharedKey struct {
	peers   []netip.AddrPort
	arrived int
	all     chan struct{} // closed when every node has looked
}

func (s *sharedDHT) key(k [20]byte) *sharedKey {
	if s.keys[k] == nil {
		s.keys[k] = &sharedKey{all: make(chan struct{})}
	}
	return s.keys[k]
}

type nodeDHT struct {
	s    *sharedDHT
	self netip.AddrPort
}

func (d nodeDHT) others(k *sharedKey) []netip.AddrPort {
	var out []netip.AddrPort
	for _, p := range k.peers {
		if p != d.self {
			out = append(out, p)
		}
	}
	return out
}

func (d nodeDHT) Announce(ctx context.Context, key [20]byte, _ int, _ bool) (dht.AnnounceResult, error) {
	d.s.mu.Lock()
	k := d.s.key(key)
	seen := d.others(k)
	if k.arrived++; k.arrived == d.s.n {
		close(k.all)
	}
	d.s.mu.Unlock()
	select {
	case <-k.all:
	case <-ctx.Done():
		return dht.AnnounceResult{}, ctx.Err()
	}
	d.s.mu.Lock()
	if !slices.Contains(k.peers, d.self) {
		k.peers = append(k.peers, d.self)
	}
	d.s.mu.Unlock()
	return dht.AnnounceResult{Stored: 8, Peers: seen}, nil
}

func (d nodeDHT) GetPeers(_ context.Context, key [20]byte) ([]netip.AddrPort, dht.LookupStats, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.others(d.s.key(key)), dht.LookupStats{}, nil
}

// TestJoinTogether: peers that announce a folder at the same moment (each
// announce's lookup sees none of the others) find each other at once, one
// of each pair by the lookup that follows the first announce, and all of
// them within the first re-lookup, not after Lookup.
func TestJoinTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 3
		// Midday: one key (near midnight each node would announce two, in
		// its own order, and the test's barriers would wait on each other).
		start := time.Now()
		noon := func() time.Time { return time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC).Add(time.Since(start)) }
		s := &sharedDHT{n: n, keys: make(map[[20]byte]*sharedKey)}
		var mu sync.Mutex
		found := make(map[[2]int]bool) // {finder, found}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		addrs := make([]netip.AddrPort, n)
		for i := range n {
			addrs[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 4777)
		}
		for i := range n {
			r := New(Options{DHT: nodeDHT{s: s, self: addrs[i]}, Now: noon,
				Folders: func(context.Context) ([][]byte, error) { return [][]byte{folder}, nil },
				Found: func(_ []byte, ps []netip.AddrPort) {
					mu.Lock()
					defer mu.Unlock()
					for _, p := range ps {
						found[[2]int{i, slices.Index(addrs, p)}] = true
					}
				}})
			go r.Run(ctx)
		}
		synctest.Wait()
		mu.Lock()
		for a := range n {
			for b := a + 1; b < n; b++ {
				if !found[[2]int{a, b}] && !found[[2]int{b, a}] {
					t.Errorf("at once: neither of %d and %d found the other", a, b)
				}
			}
		}
		mu.Unlock()
		time.Sleep(11 * time.Second)
		mu.Lock()
		defer mu.Unlock()
		if len(found) != n*(n-1) {
			t.Errorf("after 11 s, %d of %d found: %v", len(found), n*(n-1), found)
		}
	})
}

// fakeDHT records calls and answers with a peer.
type fakeDHT struct {
	mu        sync.Mutex
	announces map[[20]byte]int
	lookups   int
}

var peer = netip.MustParseAddrPort("10.0.0.7:4777")

func (f *fakeDHT) Announce(_ context.Context, k [20]byte, port int, implied bool) (dht.AnnounceResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announces[k]++
	return dht.AnnounceResult{Stored: 8, Peers: []netip.AddrPort{peer}}, nil
}

func (f *fakeDHT) GetPeers(context.Context, [20]byte) ([]netip.AddrPort, dht.LookupStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	return []netip.AddrPort{peer}, dht.LookupStats{}, nil
}

// TestRunThroughMidnight: in fake time from 22:00 to 02:00 UTC, each day's
// key is announced every 15 minutes while in use, both keys around
// midnight, with lookups between; every answer reaches Found.
func TestRunThroughMidnight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		base := time.Date(2026, 3, 4, 22, 0, 0, 0, time.UTC)
		now := func() time.Time { return base.Add(time.Since(start)) }
		f := &fakeDHT{announces: make(map[[20]byte]int)}
		var found int
		var mu sync.Mutex
		ctx, cancel := context.WithCancel(t.Context())
		r := New(Options{DHT: f, Now: now,
			Folders: func(context.Context) ([][]byte, error) { return [][]byte{folder}, nil },
			Found: func(id []byte, p []netip.AddrPort) {
				mu.Lock()
				found++
				mu.Unlock()
			}})
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		time.Sleep(4 * time.Hour)
		cancel()
		<-done
		today, tomorrow := Key(folder, base), Key(folder, base.Add(24*time.Hour))
		// today: 22:00-01:00 (3 h), tomorrow: 23:00-02:00 (3 h): 12 each.
		for name, k := range map[string][20]byte{"today": today, "tomorrow": tomorrow} {
			if n := f.announces[k]; n < 12 || n > 13 {
				t.Errorf("%s's key announced %d times in 3 h, want 12 or 13", name, n)
			}
		}
		if f.lookups < 24 {
			t.Errorf("%d lookups in 4 h", f.lookups)
		}
		if found != f.lookups+f.announces[today]+f.announces[tomorrow] {
			t.Errorf("found %d times for %d answers", found, f.lookups+f.announces[today]+f.announces[tomorrow])
		}
	})
}
