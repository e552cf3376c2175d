package pex

import (
	"net/netip"
	"slices"
	"time"

	"github.com/shoal-sync/shoal/discovery/dialer"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/wire"
)

// Limits on what one peer may send in one scope: a burst, then one
// message an interval (BEP 11: at most one a minute).
const (
	recvBurst = 3
	// CandidateTTL is how long an address learnt by exchange is kept.
	CandidateTTL = 30 * time.Minute
)

// Scope lengths: a public root's provider key, a folder ID.
const (
	publicScopeLen = 20
	folderScopeLen = 32
)

// peerInfo is a connected peer as the exchange sees it.
type peerInfo struct {
	ID       identity.NodeID
	Addrs    []string // where others may reach it (IP:PORT)
	Loopback bool     // its connection is over loopback
}

type peerState struct {
	info     peerInfo
	declared map[string]bool                     // public scopes it said it takes part in
	told     map[string]map[identity.NodeID]bool // per scope: members we told it of
	spoke    map[string]bool                     // scopes we have sent it anything in
	last     map[string]time.Time                // per scope: our last delta to it
	tokens   map[string]float64                  // per scope: its allowance
	refilled map[string]time.Time
}

// state decides what to exchange; it does no I/O and reads no clock.
type state struct {
	self     identity.NodeID
	interval time.Duration
	ours     map[string]bool // public scopes we take part in
	peers    map[identity.NodeID]*peerState
}

func newState(self identity.NodeID, interval time.Duration) *state {
	return &state{self: self, interval: interval, ours: make(map[string]bool), peers: make(map[identity.NodeID]*peerState)}
}

func (s *state) setOurs(keys [][20]byte) {
	s.ours = make(map[string]bool, len(keys))
	for _, k := range keys {
		s.ours[string(k[:])] = true
	}
}

func (s *state) connect(info peerInfo) {
	s.peers[info.ID] = &peerState{info: info, declared: make(map[string]bool),
		told: make(map[string]map[identity.NodeID]bool), spoke: make(map[string]bool),
		last: make(map[string]time.Time), tokens: make(map[string]float64), refilled: make(map[string]time.Time)}
}

func (s *state) disconnect(id identity.NodeID) { delete(s.peers, id) }

// Shared says whether a peer and this node share a folder (both proved
// it on their connection).
type Shared func(peer identity.NodeID, folder []byte) bool

// member reports whether p takes part in scope with us.
func (s *state) member(p *peerState, scope string, shared Shared) bool {
	if len(scope) == folderScopeLen {
		return shared != nil && shared(p.info.ID, []byte(scope))
	}
	return s.ours[scope] && p.declared[scope]
}

// received is what a message from a peer yields.
type received struct {
	Add   []dialer.Candidate
	Drop  []string
	Flood bool   // over its allowance: ignored
	Why   string // why ignored, if it was
}

// receive handles m from peer from at now.
func (s *state) receive(now time.Time, from identity.NodeID, m wire.PeerExchange, shared Shared) received {
	p := s.peers[from]
	if p == nil {
		return received{Why: "not connected"}
	}
	scope := string(m.Scope)
	// Whether the scope is one we share with it is decided first, so
	// that a peer naming scopes by the million leaves no state behind.
	switch len(scope) {
	case publicScopeLen:
		if !s.ours[scope] {
			return received{Why: "a root we do not serve"}
		}
	case folderScopeLen:
		if !s.member(p, scope, shared) {
			return received{Why: "a folder not proved on this connection"}
		}
	default:
		return received{Why: "bad scope"}
	}
	if !p.allow(scope, now, s.interval) {
		return received{Flood: true, Why: "over one message a minute"}
	}
	if len(scope) == publicScopeLen {
		p.declared[scope] = true
	}
	var r received
	for _, pp := range m.Added {
		id, err := identity.NodeIDFromBytes(pp.ID)
		if err != nil || id == s.self || id == from {
			continue
		}
		for _, a := range pp.Addrs {
			r.Add = append(r.Add, dialer.Candidate{Addr: a, ID: id, Source: dialer.PEX, TTL: CandidateTTL})
		}
	}
	for _, pp := range m.Dropped {
		r.Drop = append(r.Drop, pp.Addrs...)
	}
	return r
}

// allow spends one of p's messages in scope, if it has one left.
func (p *peerState) allow(scope string, now time.Time, interval time.Duration) bool {
	t, ok := p.tokens[scope]
	if !ok {
		t = recvBurst
	} else {
		t = min(recvBurst, t+now.Sub(p.refilled[scope]).Seconds()/interval.Seconds())
	}
	p.refilled[scope] = now
	if t < 1 {
		p.tokens[scope] = t
		return false
	}
	p.tokens[scope] = t - 1
	return true
}

// outgoing is a message to send.
type outgoing struct {
	To  identity.NodeID
	Msg wire.PeerExchange
}

// flush returns the messages due now: to each peer, in each scope it
// shares with us, the members it has not been told of and those gone
// (at most 50 of each, a delta at most once an interval, the first at
// once); and to a peer that has not said so yet, that we take part in
// each of our public scopes. next is when the first delta held back by
// the interval is due (zero: none is held back).
func (s *state) flush(now time.Time, shared Shared, folders func(identity.NodeID) [][]byte) (out []outgoing, next time.Time) {
	ids := make([]identity.NodeID, 0, len(s.peers))
	for id := range s.peers {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b identity.NodeID) int { return a.Compare(b) })
	for _, id := range ids {
		p := s.peers[id]
		scopes := make(map[string]bool)
		for sc := range s.ours {
			scopes[sc] = true
		}
		if folders != nil {
			for _, f := range folders(id) {
				scopes[string(f)] = true
			}
		}
		for _, scope := range sortedKeys(scopes) {
			if !s.member(p, scope, shared) {
				if len(scope) == publicScopeLen && !p.spoke[scope] {
					p.spoke[scope] = true
					out = append(out, outgoing{To: id, Msg: wire.PeerExchange{Scope: []byte(scope)}})
				}
				continue
			}
			if p.spoke[scope] && p.told[scope] != nil && now.Sub(p.last[scope]) < s.interval {
				if _, ok := s.delta(p, scope, shared); ok {
					if due := p.last[scope].Add(s.interval); next.IsZero() || due.Before(next) {
						next = due
					}
				}
				continue
			}
			m, ok := s.delta(p, scope, shared)
			if !ok && p.told[scope] != nil {
				continue
			}
			if p.told[scope] == nil {
				p.told[scope] = make(map[identity.NodeID]bool)
			}
			for _, a := range m.Added {
				id, _ := identity.NodeIDFromBytes(a.ID)
				p.told[scope][id] = true
			}
			for _, d := range m.Dropped {
				id, _ := identity.NodeIDFromBytes(d.ID)
				delete(p.told[scope], id)
			}
			p.spoke[scope], p.last[scope] = true, now
			out = append(out, outgoing{To: id, Msg: m})
		}
	}
	return out, next
}

// delta is what p has not been told in scope: ok is false when nothing.
func (s *state) delta(p *peerState, scope string, shared Shared) (wire.PeerExchange, bool) {
	m := wire.PeerExchange{Scope: []byte(scope)}
	told := p.told[scope]
	members := make(map[identity.NodeID]*peerState)
	for id, q := range s.peers {
		if id != p.info.ID && s.member(q, scope, shared) {
			members[id] = q
		}
	}
	for _, id := range sortedIDs(members) {
		if len(m.Added) == wire.MaxPexAdded {
			break
		}
		if told[id] {
			continue
		}
		addrs := reachable(members[id].info.Addrs, p.info.Loopback)
		if len(addrs) == 0 {
			continue
		}
		m.Added = append(m.Added, wire.PexPeer{ID: id.Bytes(), Addrs: addrs})
	}
	for id := range told {
		if len(m.Dropped) == wire.MaxPexDropped {
			break
		}
		if members[id] == nil {
			m.Dropped = append(m.Dropped, wire.PexPeer{ID: id.Bytes()})
		}
	}
	slices.SortFunc(m.Dropped, func(a, b wire.PexPeer) int { return slices.Compare(a.ID, b.ID) })
	return m, len(m.Added)+len(m.Dropped) > 0
}

// reachable keeps the addresses a peer elsewhere may dial: IP:PORT in
// canonical form, no zone, loopback ones only for a peer on loopback.
func reachable(addrs []string, toLoopback bool) []string {
	var out []string
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" || ap.Addr().IsUnspecified() || ap.Addr().IsLoopback() && !toLoopback {
			continue
		}
		if s := ap.String(); !slices.Contains(out, s) && len(out) < wire.MaxPexAddrs {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedIDs(m map[identity.NodeID]*peerState) []identity.NodeID {
	out := make([]identity.NodeID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b identity.NodeID) int { return a.Compare(b) })
	return out
}
