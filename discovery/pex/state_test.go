package pex

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/wire"
)

func nid(t testing.TB, b byte) identity.NodeID {
	t.Helper()
	raw := make([]byte, identity.NodeIDLen)
	raw[0], raw[1], raw[2], raw[3] = 0x12, 0x20, b, byte(len(fmt.Sprint(b)))
	id, err := identity.NodeIDFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var (
	t0   = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	keyR = [20]byte{0xaa}
	keyS = [20]byte{0xbb}
)

func scope(k [20]byte) []byte { return append([]byte(nil), k[:]...) }

// msgsTo returns the messages for id.
func msgsTo(out []outgoing, id identity.NodeID) []wire.PeerExchange {
	var ms []wire.PeerExchange
	for _, o := range out {
		if o.To == id {
			ms = append(ms, o.Msg)
		}
	}
	return ms
}

// TestPublicScopes: a peer that says it serves a root we serve learns of
// the other peers serving it, at once; one that serves another root
// learns nothing; later members come as a delta after the interval, and
// the gone as dropped.
func TestPublicScopes(t *testing.T) {
	self, a, b, c, d := nid(t, 9), nid(t, 1), nid(t, 2), nid(t, 3), nid(t, 4)
	s := newState(self, time.Minute)
	s.setOurs([][20]byte{keyR})
	for i, id := range []identity.NodeID{a, b, c} {
		s.connect(peerInfo{ID: id, Addrs: []string{fmt.Sprintf("10.0.0.%d:4777", i+1)}})
	}
	out, _ := s.flush(t0, nil, nil)
	for _, id := range []identity.NodeID{a, b, c} {
		if ms := msgsTo(out, id); len(ms) != 1 || len(ms[0].Added) != 0 || !bytes.Equal(ms[0].Scope, keyR[:]) {
			t.Fatalf("first flush to %s: %+v, want one declaration of R", id.Short(), ms)
		}
	}
	// a and b serve R, c serves S.
	s.receive(t0, a, wire.PeerExchange{Scope: scope(keyR)}, nil)
	s.receive(t0, b, wire.PeerExchange{Scope: scope(keyR)}, nil)
	if r := s.receive(t0, c, wire.PeerExchange{Scope: scope(keyS), Added: []wire.PexPeer{{ID: d.Bytes(), Addrs: []string{"10.0.0.4:4777"}}}}, nil); len(r.Add) != 0 {
		t.Fatalf("addresses taken from a scope we are not in: %+v", r)
	}
	out, _ = s.flush(t0, nil, nil)
	ma := msgsTo(out, a)
	if len(ma) != 1 || len(ma[0].Added) != 1 || !bytes.Equal(ma[0].Added[0].ID, b.Bytes()) || ma[0].Added[0].Addrs[0] != "10.0.0.2:4777" {
		t.Fatalf("to a: %+v, want b's address", ma)
	}
	if mc := msgsTo(out, c); len(mc) != 0 {
		t.Fatalf("to c (not in R): %+v", mc)
	}
	// d joins R: a hears of it only after the interval.
	s.connect(peerInfo{ID: d, Addrs: []string{"10.0.0.4:4777"}})
	s.receive(t0, d, wire.PeerExchange{Scope: scope(keyR)}, nil)
	out, _ = s.flush(t0.Add(time.Second), nil, nil)
	if ma := msgsTo(out, a); len(ma) != 0 {
		t.Fatalf("delta to a within the interval: %+v", ma)
	}
	if md := msgsTo(out, d); len(md) != 1 || len(md[0].Added) != 2 {
		t.Fatalf("to the new member d: %+v, want a and b at once", md)
	}
	s.disconnect(b)
	out, _ = s.flush(t0.Add(time.Minute), nil, nil)
	ma = msgsTo(out, a)
	if len(ma) != 1 || len(ma[0].Added) != 1 || !bytes.Equal(ma[0].Added[0].ID, d.Bytes()) || len(ma[0].Dropped) != 1 || !bytes.Equal(ma[0].Dropped[0].ID, b.Bytes()) {
		t.Fatalf("to a after the interval: %+v, want d added and b dropped", ma)
	}
	out, _ = s.flush(t0.Add(3*time.Minute), nil, nil)
	if md := msgsTo(out, d); len(out) != 1 || len(md) != 1 || len(md[0].Dropped) != 1 || !bytes.Equal(md[0].Dropped[0].ID, b.Bytes()) {
		t.Fatalf("later: %+v, want only b dropped, to d", out)
	}
	if out, _ := s.flush(t0.Add(5*time.Minute), nil, nil); len(out) != 0 {
		t.Fatalf("nothing new, yet sent: %+v", out)
	}
}

// TestFolderScopes: folder peers are exchanged only with peers that
// share the folder, and a peer's word about a folder it did not prove is
// ignored.
func TestFolderScopes(t *testing.T) {
	self, a, b, c := nid(t, 9), nid(t, 1), nid(t, 2), nid(t, 3)
	folder := bytes.Repeat([]byte{7}, 32)
	shares := map[identity.NodeID]bool{a: true, b: true}
	shared := func(p identity.NodeID, f []byte) bool { return shares[p] && bytes.Equal(f, folder) }
	folders := func(p identity.NodeID) [][]byte {
		if shares[p] {
			return [][]byte{folder}
		}
		return nil
	}
	s := newState(self, time.Minute)
	for i, id := range []identity.NodeID{a, b, c} {
		s.connect(peerInfo{ID: id, Addrs: []string{fmt.Sprintf("10.0.0.%d:4777", i+1)}})
	}
	out, _ := s.flush(t0, shared, folders)
	if ma := msgsTo(out, a); len(ma) != 1 || len(ma[0].Added) != 1 || !bytes.Equal(ma[0].Added[0].ID, b.Bytes()) {
		t.Fatalf("to a: %+v, want b", ma)
	}
	if mc := msgsTo(out, c); len(mc) != 0 {
		t.Fatalf("folder peers sent to c, which did not prove it: %+v", mc)
	}
	r := s.receive(t0, c, wire.PeerExchange{Scope: folder, Added: []wire.PexPeer{{ID: nid(t, 5).Bytes(), Addrs: []string{"10.0.0.5:1"}}}}, shared)
	if len(r.Add) != 0 || r.Why == "" {
		t.Fatalf("c's folder exchange taken: %+v", r)
	}
	r = s.receive(t0, a, wire.PeerExchange{Scope: folder, Added: []wire.PexPeer{{ID: nid(t, 5).Bytes(), Addrs: []string{"10.0.0.5:1"}}, {ID: self.Bytes(), Addrs: []string{"10.0.0.9:1"}}}}, shared)
	if len(r.Add) != 1 || r.Add[0].Addr != "10.0.0.5:1" || r.Add[0].ID != nid(t, 5) {
		t.Fatalf("a's folder exchange: %+v, want the one other peer (never ourselves)", r)
	}
}

// TestFloodIgnored: past the burst a peer gets one message a minute; the
// rest are ignored, and counted as floods.
func TestFloodIgnored(t *testing.T) {
	s := newState(nid(t, 9), time.Minute)
	s.setOurs([][20]byte{keyR})
	a := nid(t, 1)
	s.connect(peerInfo{ID: a})
	m := wire.PeerExchange{Scope: scope(keyR), Added: []wire.PexPeer{{ID: nid(t, 2).Bytes(), Addrs: []string{"10.0.0.2:1"}}}}
	taken, floods := 0, 0
	for i := range 100 {
		r := s.receive(t0.Add(time.Duration(i)*time.Second), a, m, nil)
		if r.Flood {
			floods++
		} else if len(r.Add) > 0 {
			taken++
		}
	}
	// 100 s: a burst of 3, then one a minute.
	if taken != recvBurst+1 || floods != 100-taken {
		t.Fatalf("taken %d, floods %d", taken, floods)
	}
}

// TestCaps: one message carries at most 50 added; loopback and zoned
// addresses go only where they mean something.
func TestCaps(t *testing.T) {
	s := newState(nid(t, 9), time.Minute)
	s.setOurs([][20]byte{keyR})
	for i := range 80 {
		id := nid(t, byte(i+10))
		s.connect(peerInfo{ID: id, Addrs: []string{fmt.Sprintf("10.1.0.%d:4777", i), "[fe80::1%eth0]:4777", "127.0.0.1:4777"}})
		s.receive(t0, id, wire.PeerExchange{Scope: scope(keyR)}, nil)
	}
	out, _ := s.flush(t0, nil, nil)
	for _, o := range out {
		if len(o.Msg.Added) > wire.MaxPexAdded {
			t.Fatalf("%d added in one message", len(o.Msg.Added))
		}
		for _, p := range o.Msg.Added {
			if len(p.Addrs) != 1 {
				t.Fatalf("addresses %v sent to a peer not on loopback", p.Addrs)
			}
		}
		if f, err := wire.Encode(o.Msg, 0); err != nil {
			t.Fatalf("message does not encode: %v", err)
		} else if _, err := wire.Decode(f); err != nil {
			t.Fatalf("message does not decode: %v", err)
		}
	}
	if got := reachable([]string{"127.0.0.1:1", "[::1]:2", "10.0.0.1:3"}, true); len(got) != 3 {
		t.Fatalf("to a loopback peer: %v", got)
	}
}

// TestStrangeScopesLeaveNothing: a peer that sends messages in scopes we
// do not share with it (random roots, folders it did not prove) has them
// ignored, however many, and they cost it no state and none of its
// allowance where we do share a scope.
func TestStrangeScopesLeaveNothing(t *testing.T) {
	s := newState(nid(t, 9), time.Minute)
	s.setOurs([][20]byte{keyR})
	a := nid(t, 1)
	s.connect(peerInfo{ID: a})
	for i := range 10000 {
		sc := make([]byte, 20+12*(i%2)) // a root, or a folder
		sc[0], sc[1], sc[2] = byte(i), byte(i>>8), 0xee
		r := s.receive(t0, a, wire.PeerExchange{Scope: sc, Added: []wire.PexPeer{{ID: nid(t, 2).Bytes(), Addrs: []string{"10.0.0.2:1"}}}}, nil)
		if len(r.Add) != 0 || r.Flood || r.Why == "" {
			t.Fatalf("message %d in a strange scope: %+v", i, r)
		}
	}
	if p := s.peers[a]; len(p.tokens)+len(p.refilled)+len(p.declared) != 0 {
		t.Fatalf("state kept for strange scopes: %d tokens, %d declared", len(p.tokens), len(p.declared))
	}
	m := wire.PeerExchange{Scope: scope(keyR), Added: []wire.PexPeer{{ID: nid(t, 2).Bytes(), Addrs: []string{"10.0.0.2:1"}}}}
	for i := range recvBurst {
		if r := s.receive(t0, a, m, nil); len(r.Add) != 1 {
			t.Fatalf("message %d in the root we share: %+v", i, r)
		}
	}
	if r := s.receive(t0, a, m, nil); !r.Flood {
		t.Fatalf("past the burst: %+v", r)
	}
}
