package dialer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// fakeNet answers dials: live addresses with their node, the rest refused.
type fakeNet struct {
	mu    sync.Mutex
	live  map[string]identity.NodeID
	tries map[string]int
	conns chan identity.NodeID
}

func newFakeNet() *fakeNet {
	return &fakeNet{live: make(map[string]identity.NodeID), tries: make(map[string]int), conns: make(chan identity.NodeID, 100)}
}

func (n *fakeNet) dial(ctx context.Context, a Attempt) (identity.NodeID, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tries[a.Addr]++
	id, ok := n.live[a.Addr]
	if !ok {
		return identity.NodeID{}, fmt.Errorf("dial %s: connection refused", a.Addr)
	}
	if !a.ID.IsZero() && a.ID != id {
		return id, errors.New("node ID mismatch")
	}
	n.conns <- id
	return id, nil
}

func (n *fakeNet) triesOf(addr string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tries[addr]
}

// memStore is a Store in memory.
type memStore struct {
	mu   sync.Mutex
	recs map[string]Record
}

func (m *memStore) LoadPeers(context.Context) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.recs {
		out = append(out, r)
	}
	return out, nil
}

func (m *memStore) SavePeer(_ context.Context, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[r.Addr] = r
	return nil
}

func (m *memStore) DeletePeer(_ context.Context, addr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, addr)
	return nil
}

// TestDeadCandidatesNoStorm: among 1,000 dead candidates the attempts
// stay within the rate, and a live peer found meanwhile is connected at
// once (fake time).
func TestDeadCandidatesNoStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		net := newFakeNet()
		d := New(Options{Self: nid(t, 9), Dial: net.dial, Rate: 20, Parallel: 8})
		go d.Run(ctx)
		var cands []Candidate
		for i := range 1000 {
			cands = append(cands, Candidate{Addr: fmt.Sprintf("10.0.%d.%d:4777", i/250, i%250), Source: Tracker})
		}
		d.Add(cands...)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got, limit := d.Attempts(), int64(20*10+8); got > limit {
			t.Fatalf("%d attempts in 10 s, limit %d", got, limit)
		}
		live := nid(t, 1)
		net.mu.Lock()
		net.live["10.9.9.9:4777"] = live
		net.mu.Unlock()
		start := time.Now()
		d.Add(Candidate{Addr: "10.9.9.9:4777", ID: live, Source: MDNS})
		if id := <-net.conns; id != live || time.Since(start) > time.Second {
			t.Fatalf("live peer %s connected after %v", id, time.Since(start))
		}
	})
}

// TestRedialAndRemember: a dropped peer is dialed again; a restarted
// dialer with only its store dials the address that worked, first.
func TestRedialAndRemember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		net := newFakeNet()
		peer := nid(t, 1)
		net.live["10.0.0.1:4777"] = peer
		st := &memStore{recs: make(map[string]Record)}
		d := New(Options{Self: nid(t, 9), Dial: net.dial, Store: st})
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		d.Add(Candidate{Addr: "10.0.0.1:4777", Source: Tracker})
		<-net.conns
		d.Event(Event{Connected: true, ID: peer, Addr: "10.0.0.1:4777", Outbound: true})
		d.Event(Event{Connected: false, ID: peer})
		<-net.conns // redialed
		if src := d.Sources()[peer]; src != Tracker {
			t.Fatalf("source %q, want tracker", src)
		}
		cancel()
		<-done
		if r := st.recs["10.0.0.1:4777"]; r.ID != peer || r.LastOK.IsZero() {
			t.Fatalf("store has %+v", maps.Collect(maps.All(st.recs)))
		}

		ctx, cancel = context.WithCancel(t.Context())
		defer cancel()
		d = New(Options{Self: nid(t, 9), Dial: net.dial, Store: st})
		go d.Run(ctx)
		if id := <-net.conns; id != peer {
			t.Fatalf("restarted dialer reached %s", id)
		}
		if src := d.Sources()[peer]; src != Remembered {
			t.Fatalf("source %q, want remembered", src)
		}
	})
}

// TestStaticAddRemove: a static peer is kept in the store until removed.
func TestStaticAddRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		net := newFakeNet()
		st := &memStore{recs: make(map[string]Record)}
		d := New(Options{Self: nid(t, 9), Dial: net.dial, Store: st})
		go d.Run(ctx)
		if err := d.AddStatic(ctx, "10.0.0.7:4777", identity.NodeID{}); err != nil {
			t.Fatal(err)
		}
		if !st.recs["10.0.0.7:4777"].Static {
			t.Fatalf("static peer not stored: %+v", st.recs)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := net.triesOf("10.0.0.7:4777"); n < 2 {
			t.Fatalf("static peer tried %d times in 3 s", n)
		}
		infos := d.Candidates()
		if len(infos) != 1 || infos[0].State != "waiting" || infos[0].Next.IsZero() {
			t.Fatalf("candidates %+v", infos)
		}
		if err := d.RemoveStatic(ctx, "10.0.0.7:4777"); err != nil {
			t.Fatal(err)
		}
		if len(st.recs) != 0 || len(d.Candidates()) != 0 {
			t.Fatalf("after rm: store %v, candidates %v", st.recs, d.Candidates())
		}
		if err := d.RemoveStatic(ctx, "10.0.0.7:4777"); err == nil {
			t.Fatal("removing an unknown peer: no error")
		}
	})
}

// TestSilentCandidatesKeepSlots: 1,000 candidates that never answer (each
// dial runs to its timeout) cannot take every slot: a peer found on the
// LAN meanwhile is dialed at once (fake time).
func TestSilentCandidatesKeepSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		live := nid(t, 1)
		connected := make(chan time.Time, 1)
		dial := func(ctx context.Context, a Attempt) (identity.NodeID, error) {
			if a.Addr == "10.9.9.9:4777" {
				connected <- time.Now()
				return live, nil
			}
			<-ctx.Done() // silence until the dial timeout
			return identity.NodeID{}, ctx.Err()
		}
		d := New(Options{Self: nid(t, 9), Dial: dial, DialTimeout: 10 * time.Second})
		go d.Run(ctx)
		var cands []Candidate
		for i := range 1000 {
			cands = append(cands, Candidate{Addr: fmt.Sprintf("10.0.%d.%d:4777", i/250, i%250), Source: DHT})
		}
		d.Add(cands...)
		time.Sleep(time.Second)
		synctest.Wait()
		start := time.Now()
		d.Add(Candidate{Addr: "10.9.9.9:4777", ID: live, Source: MDNS})
		if at := <-connected; at.Sub(start) > 100*time.Millisecond {
			t.Fatalf("live peer dialed %v after it was found", at.Sub(start))
		}
	})
}
