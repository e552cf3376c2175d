package dialer

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// nid returns a NodeID whose digest starts with b (0 gives the zero ID).
func nid(t testing.TB, b byte) identity.NodeID {
	t.Helper()
	raw := make([]byte, identity.NodeIDLen)
	raw[0], raw[1], raw[2] = 0x12, 0x20, b
	id, err := identity.NodeIDFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	for _, tc := range []struct {
		fails int
		want  time.Duration
	}{{0, 0}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 32 * time.Second}, {7, time.Minute}, {50, time.Minute}} {
		if got := b.After(tc.fails); got != tc.want {
			t.Errorf("After(%d) = %v, want %v", tc.fails, got, tc.want)
		}
	}
}

func addrs(as []Attempt) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Addr)
	}
	return out
}

// TestDueOrder: what the table dials first, and what it never dials.
func TestDueOrder(t *testing.T) {
	self, a, b := nid(t, 9), nid(t, 1), nid(t, 2)
	tests := []struct {
		name  string
		setup func(tb *table)
		n     int
		full  bool
		want  []string
	}{
		{
			name: "better sources first",
			setup: func(tb *table) {
				tb.add(t0, Candidate{Addr: "10.0.0.3:1", Source: Tracker})
				tb.add(t0, Candidate{Addr: "10.0.0.2:1", Source: MDNS})
				tb.add(t0, Candidate{Addr: "10.0.0.1:1", Source: Static})
			},
			n: 3, want: []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"},
		},
		{
			name: "addresses that worked before first",
			setup: func(tb *table) {
				tb.add(t0, Candidate{Addr: "10.0.0.1:1", Source: Static})
				tb.restore(t0, "10.0.0.2:1", a, t0.Add(-time.Hour), false)
			},
			n: 2, want: []string{"10.0.0.2:1", "10.0.0.1:1"},
		},
		{
			name: "bounded by n",
			setup: func(tb *table) {
				for _, s := range []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"} {
					tb.add(t0, Candidate{Addr: s, Source: DHT})
				}
			},
			n: 2, want: []string{"10.0.0.1:1", "10.0.0.2:1"},
		},
		{
			name: "one address a node at a time",
			setup: func(tb *table) {
				tb.add(t0, Candidate{Addr: "10.0.0.1:1", ID: a, Source: MDNS})
				tb.add(t0, Candidate{Addr: "[fe80::1%eth0]:1", ID: a, Source: MDNS})
				tb.add(t0, Candidate{Addr: "10.0.0.2:1", ID: b, Source: MDNS})
			},
			n: 3, want: []string{"10.0.0.1:1", "10.0.0.2:1"},
		},
		{
			name: "never itself, never a connected node",
			setup: func(tb *table) {
				tb.add(t0, Candidate{Addr: "10.0.0.1:1", ID: self, Source: MDNS})
				tb.add(t0, Candidate{Addr: "10.0.0.2:1", ID: a, Source: MDNS})
				tb.connect(t0, Event{Connected: true, ID: a, Addr: "10.0.0.9:5", Outbound: true})
				tb.selfAddrs["10.0.0.3:1"] = true
				tb.add(t0, Candidate{Addr: "10.0.0.3:1", Source: Tracker})
			},
			n: 3, want: nil,
		},
		{
			name: "full: only static",
			setup: func(tb *table) {
				tb.add(t0, Candidate{Addr: "10.0.0.1:1", Source: MDNS})
				tb.add(t0, Candidate{Addr: "10.0.0.2:1", Source: Static})
			},
			n: 2, full: true, want: []string{"10.0.0.2:1"},
		},
		{
			name: "backing off: not yet",
			setup: func(tb *table) {
				tb.add(t0, Candidate{Addr: "10.0.0.1:1", Source: Static})
				tb.due(t0, 1, false)
				tb.done(t0, "10.0.0.1:1", Outcome{Err: errors.New("refused")})
			},
			n: 1, want: nil,
		},
		{
			name: "one address, several spellings",
			setup: func(tb *table) {
				tb.add(t0, Candidate{Addr: "[::ffff:10.0.0.1]:1", Source: DHT})
				tb.add(t0, Candidate{Addr: "10.0.0.1:1", Source: PEX})
			},
			n: 2, want: []string{"10.0.0.1:1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTable(self, Backoff{Min: time.Second, Max: time.Minute})
			tc.setup(tb)
			if got := addrs(tb.due(t0, tc.n, tc.full)); !slices.Equal(got, tc.want) {
				t.Fatalf("due = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOutcomes: backoff grows on failure and resets on success; a ban
// holds an address until it ends; the node's own address is never tried
// again; a drop brings the peer's addresses back after the first step.
func TestOutcomes(t *testing.T) {
	self, a := nid(t, 9), nid(t, 1)
	tb := newTable(self, Backoff{Min: time.Second, Max: time.Minute})
	const addr = "10.0.0.1:1"
	tb.add(t0, Candidate{Addr: addr, Source: Static})
	now := t0
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if got := tb.due(now, 1, false); len(got) != 1 {
			t.Fatalf("attempt %d: nothing due", i)
		}
		tb.done(now, addr, Outcome{Err: errors.New("refused")})
		if w := tb.wake(now, false); w.Sub(now) != want {
			t.Fatalf("after %d failures: wake in %v, want %v", i+1, w.Sub(now), want)
		}
		now = tb.wake(now, false)
	}
	tb.due(now, 1, false)
	remember, _ := tb.done(now, addr, Outcome{ID: a})
	if !remember || tb.entries[addr].fails != 0 || tb.entries[addr].id != a {
		t.Fatalf("success: remember %v, entry %+v", remember, tb.entries[addr])
	}
	if tb.sourcesOf()[a] != Static {
		t.Fatalf("peer source %q, want static", tb.sourcesOf()[a])
	}
	if got := tb.due(now, 1, false); got != nil {
		t.Fatalf("connected peer dialed again: %v", got)
	}
	tb.disconnect(now, Event{ID: a})
	if w := tb.wake(now, false); w.Sub(now) != time.Second {
		t.Fatalf("after a drop: wake in %v, want 1s", w.Sub(now))
	}
	now = now.Add(time.Second)
	tb.due(now, 1, false)
	ban := now.Add(time.Hour)
	tb.done(now, addr, Outcome{ID: a, Err: errors.New("banned"), RetryAt: ban})
	if w := tb.wake(now, false); !w.Equal(ban) {
		t.Fatalf("banned: wake %v, want %v", w, ban)
	}

	tb.add(now, Candidate{Addr: "10.0.0.2:1", Source: Tracker})
	tb.due(now, 1, false)
	tb.done(now, "10.0.0.2:1", Outcome{ID: self, Err: ErrSelf, Self: true})
	tb.add(now, Candidate{Addr: "10.0.0.2:1", Source: PEX})
	if got := tb.due(now.Add(time.Hour), 5, false); slices.Contains(addrs(got), "10.0.0.2:1") {
		t.Fatal("own address dialed again")
	}
}

// TestInboundAddrs: a peer that dialed us is reachable at its listen port
// on the address it came from, or at a specific address it named.
func TestInboundAddrs(t *testing.T) {
	tests := []struct {
		remote string
		listen []string
		want   []string
	}{
		{"10.0.0.5:40000", []string{"0.0.0.0:4777"}, []string{"10.0.0.5:4777"}},
		{"[fe80::1%eth0]:40000", []string{"[::]:4777"}, []string{"[fe80::1%eth0]:4777"}},
		{"10.0.0.5:40000", []string{"192.0.2.1:4777", "0.0.0.0:4777"}, []string{"192.0.2.1:4777", "10.0.0.5:4777"}},
		{"10.0.0.5:40000", []string{"127.0.0.1:4777"}, nil},
		{"127.0.0.1:40000", []string{"127.0.0.1:4777"}, []string{"127.0.0.1:4777"}},
		{"10.0.0.5:40000", []string{"garbage", "0.0.0.0:0"}, nil},
	}
	for _, tc := range tests {
		if got := InboundAddrs(tc.remote, tc.listen); !slices.Equal(got, tc.want) {
			t.Errorf("InboundAddrs(%s, %v) = %v, want %v", tc.remote, tc.listen, got, tc.want)
		}
	}
}

// TestExpireAndForget: a source's word runs out; a remembered address
// that keeps failing long after it last worked is forgotten.
func TestExpireAndForget(t *testing.T) {
	tb := newTable(nid(t, 9), Backoff{Min: time.Second, Max: time.Minute})
	tb.add(t0, Candidate{Addr: "10.0.0.1:1", Source: MDNS, TTL: 2 * time.Minute})
	tb.add(t0, Candidate{Addr: "10.0.0.2:1", Source: Static})
	tb.expire(t0.Add(2 * time.Minute))
	if tb.entries["10.0.0.1:1"] != nil || tb.entries["10.0.0.2:1"] == nil {
		t.Fatalf("after the TTL: entries %v", tb.infos(t0))
	}
	tb.restore(t0, "10.0.0.3:1", nid(t, 3), t0.Add(-30*24*time.Hour), false)
	now := t0
	forgot := false
	for i := 0; i < forgetAfter && !forgot; i++ {
		if len(tb.due(now, 5, false)) == 0 {
			now = tb.wake(now, false)
			i--
			continue
		}
		tb.done(now, "10.0.0.2:1", Outcome{Err: errors.New("x")})
		_, forgot = tb.done(now, "10.0.0.3:1", Outcome{Err: errors.New("x")})
	}
	if !forgot || tb.entries["10.0.0.3:1"] != nil {
		t.Fatalf("remembered address not forgotten after %d failures", forgetAfter)
	}
	if tb.entries["10.0.0.2:1"] == nil {
		t.Fatal("static address forgotten")
	}
}

// TestClaimAgainstProof: while the node a certificate proved at an
// address is connected, a source naming another node there is not
// believed; once it is gone, the new claim is tried.
func TestClaimAgainstProof(t *testing.T) {
	tb := newTable(nid(t, 9), Backoff{Min: time.Second, Max: time.Minute})
	real, liar := nid(t, 1), nid(t, 2)
	const addr = "10.0.0.1:4777"
	tb.add(t0, Candidate{Addr: addr, ID: real, Source: MDNS})
	tb.due(t0, 1, false)
	tb.done(t0, addr, Outcome{ID: real})
	tb.add(t0, Candidate{Addr: addr, ID: liar, Source: MDNS})
	if got := tb.entries[addr].id; got != real {
		t.Fatalf("entry names %s, want the proved %s", got, real)
	}
	if got := tb.due(t0.Add(time.Hour), 1, false); got != nil {
		t.Fatalf("dialed %v while its proved node is connected", got)
	}
	tb.disconnect(t0, Event{ID: real})
	tb.add(t0, Candidate{Addr: addr, ID: liar, Source: MDNS})
	if got := tb.entries[addr].id; got != liar {
		t.Fatalf("after the drop the entry names %s, want the new claim", got)
	}
}

// TestSourceFoundAfterConnect: a peer that dialed us before mDNS found it
// is listed by mDNS once mDNS names it at the address its connection
// proved; a claim at an address nothing proved changes nothing.
func TestSourceFoundAfterConnect(t *testing.T) {
	a := nid(t, 1)
	for _, tc := range []struct {
		name string
		cand Candidate
		want Source
	}{
		{"mdns at the proved address", Candidate{Addr: "10.0.0.1:4777", ID: a, Source: MDNS}, MDNS},
		{"mdns elsewhere", Candidate{Addr: "10.0.0.7:4777", ID: a, Source: MDNS}, Inbound},
		{"the DHT at the proved address", Candidate{Addr: "10.0.0.1:4777", ID: a, Source: DHT}, DHT},
		{"another node there", Candidate{Addr: "10.0.0.1:4777", ID: nid(t, 2), Source: Static}, Inbound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTable(nid(t, 9), Backoff{Min: time.Second, Max: time.Minute})
			tb.connect(t0, Event{Connected: true, ID: a, Addr: "10.0.0.1:40000", ListenAddrs: []string{"0.0.0.0:4777"}})
			if got := tb.sourcesOf()[a]; got != Inbound {
				t.Fatalf("before: %q, want inbound", got)
			}
			tb.add(t0, tc.cand)
			if got := tb.sourcesOf()[a]; got != tc.want {
				t.Fatalf("after: %q, want %q", got, tc.want)
			}
		})
	}
}

// TestYieldToTheKeptDialer: a node found by mDNS or peer exchange whose
// own dial to us is the one both sides keep is given the grace to dial
// first; if it does, we never dial it; if not, we do once the grace is
// up. Other nodes, and other sources, are dialed at once.
func TestYieldToTheKeptDialer(t *testing.T) {
	self, a, b, c := nid(t, 9), nid(t, 1), nid(t, 2), nid(t, 3)
	for _, tc := range []struct {
		name    string
		dialsUs bool
	}{{"it dials us", true}, {"it does not", false}} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTable(self, Backoff{Min: time.Second, Max: time.Minute})
			tb.yield = func(id identity.NodeID) bool { return id != b }
			tb.grace = 2 * time.Second
			tb.add(t0, Candidate{Addr: "10.0.0.1:1", ID: a, Source: PEX})
			tb.add(t0, Candidate{Addr: "10.0.0.2:1", ID: b, Source: MDNS}) // ours is the kept dial
			tb.add(t0, Candidate{Addr: "10.0.0.3:1", ID: c, Source: Static})
			tb.add(t0, Candidate{Addr: "10.0.0.4:1", Source: DHT}) // no ID: nothing to go by
			if got := addrs(tb.due(t0, 10, false)); !slices.Equal(got, []string{"10.0.0.3:1", "10.0.0.2:1", "10.0.0.4:1"}) {
				t.Fatalf("due at once: %v", got)
			}
			if w := tb.wake(t0, false); !w.Equal(t0.Add(2 * time.Second)) {
				t.Fatalf("wakes at %v, want when the grace is up", w)
			}
			if tc.dialsUs {
				tb.connect(t0.Add(time.Second), Event{Connected: true, ID: a, Addr: "10.0.0.1:40000", ListenAddrs: []string{"0.0.0.0:1"}})
			}
			got := addrs(tb.due(t0.Add(2*time.Second), 10, false))
			if want := !tc.dialsUs; slices.Contains(got, "10.0.0.1:1") != want {
				t.Fatalf("after the grace: %v (a dialed us: %v)", got, tc.dialsUs)
			}
		})
	}
}

// TestTableBounded: past its bound the table takes a new long shot only in
// the place of one that failed (the one that failed most), so a hostile
// source's flood of addresses neither grows it nor pushes out addresses
// not yet tried; a static or mDNS address always gets in.
func TestTableBounded(t *testing.T) {
	tb := newTable(nid(t, 9), Backoff{Min: time.Second, Max: time.Minute})
	tb.max = 4
	for i := range 4 {
		tb.add(t0, Candidate{Addr: fmt.Sprintf("10.0.0.%d:1", i+1), Source: DHT})
	}
	if tb.add(t0, Candidate{Addr: "10.0.1.1:1", Source: PEX, ID: nid(t, 1)}) || len(tb.entries) != 4 {
		t.Fatalf("a fifth long shot was taken while none had failed: %d entries", len(tb.entries))
	}
	tb.due(t0, 4, false) // all four dialing: .1 to .3 fail, .2 twice; .4 still dialing
	for _, a := range []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.2:1"} {
		tb.done(t0, a, Outcome{Err: errors.New("refused")})
	}
	twice := "10.0.0.2:1"
	if !tb.add(t0, Candidate{Addr: "10.0.1.1:1", Source: PEX, ID: nid(t, 1)}) || len(tb.entries) != 4 || tb.entries[twice] != nil {
		t.Fatalf("the new long shot did not take the place of %s, which failed most: %v", twice, slices.Collect(maps.Keys(tb.entries)))
	}
	if !tb.add(t0, Candidate{Addr: "192.168.1.5:1", Source: MDNS}) || !tb.add(t0, Candidate{Addr: "192.168.1.6:1", Source: Static}) {
		t.Fatal("an mDNS or static address was refused by a full table")
	}
	for i := range 100 { // a flood: nothing left to push out but the one failed address
		tb.add(t0, Candidate{Addr: fmt.Sprintf("10.9.0.%d:1", i), Source: Tracker})
	}
	if len(tb.entries) > 6 {
		t.Fatalf("the flood grew the table to %d", len(tb.entries))
	}
}
