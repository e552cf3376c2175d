package rendezvous

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/netip"
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
	k1, k2, k3 := [20]byte{1}, [20]byte{2}, [20]byte{3}
	state := map[[20]byte]*keyState{
		k1:  {},
		k2:  {announced: t0.Add(-10 * time.Minute), lookedUp: t0.Add(-6 * time.Minute)},
		k3:  {announced: t0.Add(-time.Minute), lookedUp: t0.Add(-time.Minute)},
		{4}: {fails: 2, retry: t0.Add(3 * time.Second)},
	}
	ann, look, next := plan(t0, state, 15*time.Minute, 5*time.Minute)
	if len(ann) != 1 || ann[0] != k1 || len(look) != 1 || look[0] != k2 || !next.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("plan: announce %v, look %v, next %v", ann, look, next)
	}
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
