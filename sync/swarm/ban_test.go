package swarm

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/store/memstore"
	"github.com/shoal-sync/shoal/sync/identity"
)

func banID(i int) identity.NodeID {
	pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
	pub[0], pub[1] = byte(i), byte(i>>8)
	return identity.NodeIDFromPublicKey(pub)
}

func TestBanList(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	a, b := banID(1), banID(2)
	tests := []struct {
		name   string
		bans   map[identity.NodeID][]time.Duration // bans applied in order, as offsets from t0
		ask    identity.NodeID
		at     time.Duration
		want   bool
		wantTo time.Duration
	}{
		{"never banned", nil, a, 0, false, 0},
		{"during the ban", map[identity.NodeID][]time.Duration{a: {time.Hour}}, a, 30 * time.Minute, true, time.Hour},
		{"at its end", map[identity.NodeID][]time.Duration{a: {time.Hour}}, a, time.Hour, false, 0},
		{"another peer", map[identity.NodeID][]time.Duration{a: {time.Hour}}, b, 0, false, 0},
		{"a later ban extends", map[identity.NodeID][]time.Duration{a: {time.Hour, 2 * time.Hour}}, a, 90 * time.Minute, true, 2 * time.Hour},
		{"an earlier one does not shorten", map[identity.NodeID][]time.Duration{a: {2 * time.Hour, time.Hour}}, a, 90 * time.Minute, true, 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var l banList
			for id, ds := range tc.bans {
				for _, d := range ds {
					l.ban(id, t0.Add(d))
				}
			}
			until, ok := l.banned(tc.ask, t0.Add(tc.at))
			if ok != tc.want || (ok && !until.Equal(t0.Add(tc.wantTo))) {
				t.Fatalf("banned = %v until %v, want %v until %v", ok, until, tc.want, t0.Add(tc.wantTo))
			}
		})
	}
}

// TestBanListBounded: past maxBans the ban that ends first makes room.
func TestBanListBounded(t *testing.T) {
	var l banList
	now := time.Now()
	for i := range maxBans + 10 {
		l.ban(banID(i), now.Add(time.Hour+time.Duration(i)*time.Second))
	}
	if n := len(l.until); n != maxBans {
		t.Fatalf("%d bans kept, want %d", n, maxBans)
	}
	if _, ok := l.banned(banID(0), now); ok {
		t.Fatal("the ban ending first was kept")
	}
	if _, ok := l.banned(banID(maxBans+9), now); !ok {
		t.Fatal("the newest ban was dropped")
	}
}

// memBans is a BanStore in memory; saved receives each list saved.
type memBans struct {
	bans    []Ban
	loadErr error
	saved   chan []Ban
}

func (m *memBans) LoadBans() ([]Ban, error) { return m.bans, m.loadErr }

func (m *memBans) SaveBans(b []Ban) error {
	m.bans = b
	m.saved <- b
	return nil
}

// TestBanStore: bans in force are taken up from the store at start (ended
// ones are not), each new ban saves the list, and a store that cannot load
// leaves the swarm working with no bans.
func TestBanStore(t *testing.T) {
	now := time.Now()
	a, b, c := banID(1), banID(2), banID(3)
	tests := []struct {
		name       string
		stored     []Ban
		loadErr    error
		wantBanned []identity.NodeID
		wantFree   []identity.NodeID
	}{
		{"empty", nil, nil, nil, []identity.NodeID{a, b}},
		{"in force and ended", []Ban{{a, now.Add(time.Hour)}, {b, now.Add(-time.Second)}}, nil, []identity.NodeID{a}, []identity.NodeID{b}},
		{"load fails", []Ban{{a, now.Add(time.Hour)}}, errors.New("disk on fire"), nil, []identity.NodeID{a}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bs := &memBans{bans: tc.stored, loadErr: tc.loadErr, saved: make(chan []Ban, 1)}
			s, err := New(Options{Store: memstore.New(memstore.Options{}), BanStore: bs})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, id := range tc.wantBanned {
				if _, ok := s.BannedUntil(id); !ok {
					t.Errorf("%s not banned after loading", id.Short())
				}
			}
			for _, id := range tc.wantFree {
				if _, ok := s.BannedUntil(id); ok {
					t.Errorf("%s banned after loading", id.Short())
				}
			}
			select {
			case got := <-bs.saved:
				t.Fatalf("loading saved %v", got)
			default:
			}
			// A new ban (as the owner makes one) is saved with the others.
			s.bans.ban(c, now.Add(2*time.Hour))
			var got []Ban
			select {
			case got = <-bs.saved:
			case <-time.After(10 * time.Second):
				t.Fatal("new ban never saved")
			}
			if len(got) != len(tc.wantBanned)+1 || got[len(got)-1].Peer != c {
				t.Fatalf("saved %v, want the %d loaded bans then %s", got, len(tc.wantBanned), c.Short())
			}
			if list := s.Bans(); len(list) != len(got) {
				t.Fatalf("Bans() = %v, saved %v", list, got)
			}
		})
	}
}
