package lookup

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

func fixed(d time.Duration) TimeoutFunc {
	return func(Contact) Timing { return Timing{Stall: d, Timeout: d} }
}

// byte19 makes a node whose distance to the zero target is b.
func byte19(b byte) krpc.NodeInfo {
	var id nodeid.ID
	id[19] = b
	return krpc.NodeInfo{ID: id}
}

// TestNextContact: the closest fresh contact among the k closest that have
// not failed is queried next; failed ones make room, answered and in-flight
// ones are skipped.
func TestNextContact(t *testing.T) {
	t0 := time.Unix(0, 0)
	tests := []struct {
		name     string
		k        int
		nodes    []byte
		answered []byte
		inFlight []byte
		failed   []byte
		want     byte // 0: none
	}{
		{"closest first", 3, []byte{9, 3, 5}, nil, nil, nil, 3},
		{"skips answered and in flight", 3, []byte{9, 3, 5}, []byte{3}, []byte{5}, nil, 9},
		{"only among the k closest", 2, []byte{9, 3, 5}, []byte{3}, []byte{5}, nil, 0},
		{"a failed contact makes room", 2, []byte{9, 3, 5}, nil, []byte{5}, []byte{3}, 9},
		{"nothing left", 3, []byte{3}, []byte{3}, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewShortlist(nodeid.ID{}, tt.k, 1)
			for _, b := range tt.nodes {
				s.Add([]krpc.NodeInfo{byte19(b)}, 1)
			}
			mark := func(bs []byte, st status) {
				for _, b := range bs {
					c := s.byID[byte19(b).ID]
					if c.st == fresh && st != fresh {
						s.inFlight++
					}
					c.st, c.attempts, c.deadline, c.stallAt = st, 1, t0.Add(time.Second), t0.Add(time.Second)
					if st != inFlight {
						s.inFlight--
					}
				}
			}
			mark(tt.answered, answered)
			mark(tt.inFlight, inFlight)
			mark(tt.failed, failed)
			c, ok := s.Next(t0, fixed(time.Second))
			if got := c.ID[19]; ok != (tt.want != 0) || got != tt.want {
				t.Errorf("Next = %d (%v), want %d", got, ok, tt.want)
			}
		})
	}
}

// TestTimeoutPolicy: a measured contact times out after SRTT + 4·RTTVar,
// bounded; a contact never measured after the Unknown default, or what the
// network's round trips say once they say it (later at once, sooner only
// with enough samples).
func TestTimeoutPolicy(t *testing.T) {
	ms := time.Millisecond
	steady := RTT{}
	for range 20 {
		steady = steady.Add(80 * ms)
	}
	jittery := RTT{}.Add(50 * ms).Add(450 * ms)
	network := RTT{}
	for i := range 40 {
		network = network.Add(time.Duration(90+i%3*10) * ms)
	}
	lognormal := RTT{SRTT: 170 * ms, RTTVar: 150 * ms, Samples: 500}
	tests := []struct {
		name   string
		p      Policy
		r, all RTT
		want   time.Duration
	}{
		{"unknown: default", Policy{}, RTT{}, RTT{}, 700 * ms},
		{"unknown: configured", Policy{Unknown: 300 * ms}, RTT{}, RTT{}, 300 * ms},
		{"unknown, few network samples: default", Policy{}, RTT{}, RTT{}.Add(100 * ms), 700 * ms},
		{"unknown, steady network: its spread", Policy{Min: 10 * ms}, RTT{}, network, network.SRTT + 4*network.RTTVar},
		{"unknown, steady network: Min", Policy{}, RTT{}, network, 300 * ms},
		{"unknown, heavy-tailed network: its spread", Policy{}, RTT{}, lognormal, lognormal.SRTT + 4*lognormal.RTTVar},
		{"unknown, few slow samples: lengthened at once", Policy{}, RTT{}, RTT{}.Add(400 * ms), 1200 * ms},
		{"unknown, slow network: up to Max", Policy{}, RTT{}, RTT{SRTT: 1500 * ms, RTTVar: 500 * ms, Samples: 100}, 2 * time.Second},
		{"first sample: 3×", Policy{Min: 10 * ms}, RTT{}.Add(100 * ms), RTT{}, 300 * ms},
		{"first sample of 200ms: 3×", Policy{}, RTT{}.Add(200 * ms), RTT{}, 600 * ms},
		{"steady 80ms: Min", Policy{}, steady, network, 300 * ms},
		{"steady 80ms, low Min", Policy{Min: 10 * ms}, steady, RTT{}, steady.SRTT + 4*steady.RTTVar},
		{"jittery: mean plus deviation", Policy{}, jittery, RTT{}, jittery.SRTT + 4*jittery.RTTVar},
		{"slow contact: Max", Policy{}, RTT{}.Add(1500 * ms), RTT{}, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Timeout(tt.r, tt.all); got != tt.want {
				t.Errorf("Timeout(%+v) = %v, want %v", tt.r, got, tt.want)
			}
		})
	}
	timings := []struct {
		name   string
		r, all RTT
		want   Timing
	}{
		{"nothing known: a third of Unknown", RTT{}, RTT{}, Timing{Stall: 700 * ms / 3, Timeout: 700 * ms}},
		{"unknown contact: twice the network's SRTT", RTT{}, lognormal, Timing{Stall: 340 * ms, Timeout: 770 * ms}},
		{"known contact: twice its SRTT", RTT{}.Add(100 * ms), lognormal, Timing{Stall: 200 * ms, Timeout: 300 * ms}},
		{"fast LAN: no sooner than Min/2", RTT{}.Add(time.Millisecond), lognormal, Timing{Stall: 150 * ms, Timeout: 300 * ms}},
	}
	for _, tt := range timings {
		if got := (Policy{}).Timing(tt.r, tt.all); got != tt.want {
			t.Errorf("%s: Timing = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if steady.SRTT != 80*ms || steady.RTTVar > 5*ms {
		t.Errorf("20 samples of 80ms: %+v", steady)
	}
	if jittery.SRTT != 100*ms || jittery.RTTVar != 118750*time.Microsecond {
		t.Errorf("samples 50ms, 450ms: %+v, want SRTT 100ms, RTTVar 118.75ms (RFC 6298)", jittery)
	}
}

// TestTimedOutAndWiden follows one contact through its attempts: it holds
// an α slot until its first timeout (then the lookup widens), is asked
// again while it has attempts, is given up after the last, and still
// counts if its answer comes late.
func TestTimedOutAndWiden(t *testing.T) {
	t0 := time.Unix(0, 0)
	ms := time.Millisecond
	s := NewShortlist(nodeid.ID{}, 8, 3)
	s.Add([]krpc.NodeInfo{byte19(1), byte19(2)}, 1)
	s.Next(t0, fixed(100*ms))
	s.Next(t0.Add(50*ms), fixed(100*ms))
	steps := []struct {
		at             time.Duration
		active         int
		resend, gaveUp []byte
		inFlight       int
	}{
		{60 * ms, 2, nil, nil, 2},
		{100 * ms, 1, []byte{1}, nil, 2}, // 1 stalls: asked again, no longer holds a slot
		{150 * ms, 0, []byte{2}, nil, 2},
		{200 * ms, 0, []byte{1}, nil, 2},
		{250 * ms, 0, []byte{2}, nil, 2},
		{300 * ms, 0, nil, []byte{1}, 1}, // three attempts unanswered: given up
		{350 * ms, 0, nil, []byte{2}, 0},
	}
	ids := func(cs []Contact) []byte {
		var out []byte
		for _, c := range cs {
			out = append(out, c.ID[19])
		}
		return out
	}
	for _, st := range steps {
		now := t0.Add(st.at)
		resend, gaveUp := s.Expire(now, fixed(100*ms))
		if a := s.Active(now, 3); a != st.active || !slices.Equal(ids(resend), st.resend) || !slices.Equal(ids(gaveUp), st.gaveUp) || s.InFlight() != st.inFlight {
			t.Errorf("at %v: active %d, resend %v, gave up %v, in flight %d; want %d, %v, %v, %d",
				st.at, a, ids(resend), ids(gaveUp), s.InFlight(), st.active, st.resend, st.gaveUp, st.inFlight)
		}
	}
	if !s.Done() {
		t.Error("not done once every contact was given up")
	}

	// With a least give-up time, the last timeout waits for it.
	g := NewShortlist(nodeid.ID{}, 8, 2)
	g.SetMinGiveUp(time.Second)
	g.Add([]krpc.NodeInfo{byte19(1)}, 1)
	g.Next(t0, fixed(100*ms))
	g.Expire(t0.Add(100*ms), fixed(100*ms)) // asked again
	if _, gaveUp := g.Expire(t0.Add(200*ms), fixed(100*ms)); len(gaveUp) != 0 {
		t.Error("given up 200ms after the first query, before the least give-up time of 1s")
	}
	if at, _ := g.NextDeadline(t0.Add(200 * ms)); at != t0.Add(time.Second) {
		t.Errorf("next deadline %v, want the give-up time", at.Sub(t0))
	}
	if _, gaveUp := g.Expire(t0.Add(time.Second), fixed(100*ms)); len(gaveUp) != 1 {
		t.Error("not given up at the least give-up time")
	}
	if !s.Answered(byte19(2).ID, "late") || s.Answered(byte19(2).ID, "again") {
		t.Error("a late answer must count once")
	}
	if got := s.Closest(); len(got) != 1 || got[0].Token != "late" {
		t.Errorf("Closest = %+v, want the late answerer", got)
	}
}

// TestRunDoesNotWaitOnTheDead runs lookups in fake time over a network
// where 30 % of the nodes never answer and the others answer in 20–300 ms:
// every lookup finds the true 8 closest live nodes (the nodes answer with
// their 16 closest, so that the dead do not hide live ones), and lookups
// wait on a dead contact only as long as giving up on it takes (3 attempts
// of 350 ms), while querying the next contacts in its place.
func TestRunDoesNotWaitOnTheDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 22))
		nw := newNetwork(rng, 1500)
		rtt := map[nodeid.ID]time.Duration{}
		var live []krpc.NodeInfo
		for _, n := range nw.nodes {
			if rng.Float64() < 0.3 {
				nw.down[n.ID] = true
			} else {
				live = append(live, n)
			}
			rtt[n.ID] = time.Duration(20+rng.IntN(280)) * time.Millisecond
		}
		q := func(ctx context.Context, n krpc.NodeInfo) (Reply, error) {
			if nw.down[n.ID] {
				<-ctx.Done() // silent: only the lookup's own timeouts end it
				return Reply{}, ctx.Err()
			}
			select {
			case <-time.After(rtt[n.ID]):
			case <-ctx.Done():
				return Reply{}, ctx.Err()
			}
			return nw.query(nodeid.ID{})(ctx, n)
		}
		var took []time.Duration
		for i := range 40 {
			target := nw.nodes[rng.IntN(len(nw.nodes))].ID
			query := func(ctx context.Context, n krpc.NodeInfo) (Reply, error) {
				r, err := q(ctx, n)
				if err == nil {
					r.Nodes = closest(nw.known[n.ID], target, 16) // the dead hide fewer live nodes
				}
				return r, err
			}
			start := time.Now()
			res, err := Run(t.Context(), Config{Target: target, Query: query, Timeout: fixed(350 * time.Millisecond), MinGiveUp: time.Millisecond},
				[]krpc.NodeInfo{live[rng.IntN(len(live))]})
			took = append(took, time.Since(start))
			if err != nil {
				t.Fatal(err)
			}
			want := closest(live, target, 8)
			var got, wantIDs []nodeid.ID
			for _, c := range res.Closest {
				got = append(got, c.ID)
			}
			for _, w := range want {
				wantIDs = append(wantIDs, w.ID)
			}
			if !slices.Equal(got, wantIDs) {
				t.Errorf("lookup %d: not the true 8 closest live nodes", i)
			}
		}
		slices.Sort(took)
		// Giving up on a dead contact takes 3 × 350 ms; a lookup meets
		// about one new dead contact near the target per round.
		if med, worst := took[len(took)/2], took[len(took)-1]; med > 2*time.Second || worst > 4*time.Second {
			t.Errorf("lookups took median %v, max %v: they waited on the dead", med, worst)
		}
		t.Logf("40 lookups: median %v, max %v", took[len(took)/2], took[len(took)-1])
	})
}

// TestWidth: the lookup keeps alpha first queries in flight while answers
// bring nodes closer than the closest known, and asks all of the k closest
// at once after a round (alpha answers in a row) that brought none; a
// closer node narrows it again.
func TestWidth(t *testing.T) {
	tests := []struct {
		name    string
		answers [][]byte // nodes in each answer, in order
		want    int
	}{
		{"no answer yet", nil, 3},
		{"answers bring closer nodes", [][]byte{{20}, {10}, {5}}, 3},
		{"two answers brought nothing closer", [][]byte{{20}, {30}}, 3},
		{"a round brought nothing closer", [][]byte{{30}, {40}, {30, 50}}, 8},
		{"a closer node narrows again", [][]byte{{30}, {40}, {50}, {4}}, 3},
		{"known nodes are not closer", [][]byte{{30}, {5}, {5}, {5}, {5}}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewShortlist(nodeid.ID{}, 8, 1)
			s.Add([]krpc.NodeInfo{byte19(10)}, 1)
			for _, a := range tt.answers {
				var ns []krpc.NodeInfo
				for _, b := range a {
					ns = append(ns, byte19(b))
				}
				s.Reported(ns, 2)
			}
			if got := s.Width(3); got != tt.want {
				t.Errorf("Width(3) = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestVouch: with SetVouch(n), a queried contact that n answers returned
// counts for Done and Closest before its own answer; one that fewer
// returned, or that was never queried, does not; without SetVouch every
// one of the k closest must answer.
func TestVouch(t *testing.T) {
	t0 := time.Unix(0, 0)
	tests := []struct {
		name      string
		vouch     int
		reporters int  // answers that returned node 1
		query     bool // node 1 was queried
		done      bool
	}{
		{"off: waits for the answer", 0, 3, true, false},
		{"vouched for and queried", 2, 2, true, true},
		{"too few reporters", 3, 2, true, false},
		{"never queried", 2, 2, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewShortlist(nodeid.ID{}, 2, 1)
			s.SetVouch(tt.vouch)
			s.Add([]krpc.NodeInfo{byte19(2), byte19(3), byte19(4)}, 1)
			for _, b := range []byte{2, 3, 4} {
				s.Next(t0, fixed(time.Second))
				s.Answered(byte19(b).ID, "tok")
			}
			for range tt.reporters {
				s.Reported([]krpc.NodeInfo{byte19(1)}, 2)
			}
			if tt.query {
				if c, ok := s.Next(t0, fixed(time.Second)); !ok || c.ID[19] != 1 {
					t.Fatalf("Next = %v, %v; want node 1", c.ID[19], ok)
				}
			}
			if got := s.Done(); got != tt.done {
				t.Errorf("Done = %v, want %v", got, tt.done)
			}
			var ids []byte
			for _, c := range s.Closest() {
				ids = append(ids, c.ID[19])
			}
			want := []byte{2, 3}
			if tt.done {
				want = []byte{1, 2}
			}
			if !slices.Equal(ids, want) {
				t.Errorf("Closest = %v, want %v", ids, want)
			}
		})
	}
}

// TestActiveFrontier: a first query holds one of the width slots only
// while its contact is among the width closest contacts the lookup waits
// on; closer nodes learnt since push it out, and the lookup asks them at
// once rather than after the farther query's answer or stall.
func TestActiveFrontier(t *testing.T) {
	t0 := time.Unix(0, 0)
	tests := []struct {
		name     string
		inFlight []byte // queried at t0, in this order
		later    []byte // learnt after
		width    int
		active   int
		next     byte // 0: none while active == width
	}{
		{"three in flight hold three slots", []byte{10, 11, 12}, nil, 3, 3, 0},
		{"a closer node frees the farthest slot", []byte{10, 11, 12}, []byte{5}, 3, 2, 5},
		{"three closer nodes free every slot", []byte{10, 11, 12}, []byte{5, 6, 7}, 3, 0, 5},
		{"farther nodes free nothing", []byte{10, 11, 12}, []byte{20, 21}, 3, 3, 0},
		{"a wider round counts more", []byte{10, 11, 12}, []byte{20}, 8, 3, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewShortlist(nodeid.ID{}, 8, 1)
			for _, b := range tt.inFlight {
				s.Add([]krpc.NodeInfo{byte19(b)}, 1)
				s.Next(t0, fixed(time.Second))
			}
			for _, b := range tt.later {
				s.Add([]krpc.NodeInfo{byte19(b)}, 2)
			}
			now := t0.Add(10 * time.Millisecond)
			if got := s.Active(now, tt.width); got != tt.active {
				t.Fatalf("Active = %d, want %d", got, tt.active)
			}
			if tt.active < tt.width {
				if c, ok := s.Next(now, fixed(time.Second)); !ok || c.ID[19] != tt.next {
					t.Errorf("Next = %d, %v; want %d", c.ID[19], ok, tt.next)
				}
			}
		})
	}
}

// TestResendAtStall: a query that stalls before its timeout is asked again
// at once (a lost datagram costs the stall time, not the timeout), then
// again at its timeout, and given up at the last timeout; a query whose
// stall time is its timeout is asked again only at the timeout.
func TestResendAtStall(t *testing.T) {
	t0 := time.Unix(0, 0)
	ms := time.Millisecond
	tests := []struct {
		name   string
		timing Timing
		steps  []struct {
			at     time.Duration
			resend bool
			gaveUp bool
		}
	}{
		{"stall before timeout", Timing{Stall: 100 * ms, Timeout: 300 * ms}, []struct {
			at     time.Duration
			resend bool
			gaveUp bool
		}{{50 * ms, false, false}, {100 * ms, true, false}, {200 * ms, false, false}, {300 * ms, true, false}, {600 * ms, false, true}}},
		{"stall at timeout", Timing{Stall: 300 * ms, Timeout: 300 * ms}, []struct {
			at     time.Duration
			resend bool
			gaveUp bool
		}{{100 * ms, false, false}, {300 * ms, true, false}, {600 * ms, true, false}, {900 * ms, false, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := func(Contact) Timing { return tt.timing }
			s := NewShortlist(nodeid.ID{}, 8, 3)
			s.Add([]krpc.NodeInfo{byte19(1)}, 1)
			s.Next(t0, tf)
			for _, st := range tt.steps {
				resend, gaveUp := s.Expire(t0.Add(st.at), tf)
				if (len(resend) == 1) != st.resend || (len(gaveUp) == 1) != st.gaveUp {
					t.Errorf("at %v: resend %d, gave up %d; want %v, %v", st.at, len(resend), len(gaveUp), st.resend, st.gaveUp)
				}
			}
		})
	}
}
