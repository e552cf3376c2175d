package dht

import (
	"crypto/ed25519"
	"net/netip"
	"slices"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// handleQuery answers one decoded query from a usable address.
func (s *Server) handleQuery(m *krpc.Msg, from netip.AddrPort) {
	s.stats.queries.Add(1)
	a := m.A
	// The table learns of the sender after it has its answer.
	defer s.heard(NodeInfo{ID: a.ID, Addr: from}, false, m.RO)
	now := time.Now()
	r := &krpc.Return{ID: s.id}
	reply := func() {
		s.send(from, &krpc.Msg{T: m.T, Y: "r", R: r, IP: from})
	}
	switch m.Q {
	case krpc.Ping:
		reply()
	case krpc.FindNode:
		s.addNodes(r, a.Target, a.Want, from, now)
		reply()
	case krpc.GetPeers:
		s.mu.Lock()
		r.Token = s.tokens.issue(from.Addr(), now)
		r.Values = s.peers.get(a.InfoHash, now)
		s.mu.Unlock()
		s.addNodes(r, a.InfoHash, a.Want, from, now)
		reply()
	case krpc.AnnouncePeer:
		port := uint16(a.Port)
		if a.ImpliedPort {
			port = from.Port()
		}
		peer := netip.AddrPortFrom(from.Addr(), port)
		s.mu.Lock()
		ok := s.tokens.valid(a.Token, from.Addr(), now)
		if ok && s.usable(peer) {
			s.peers.add(a.InfoHash, peer, now.Add(s.cfg.PeerTTL), s.cfg.MaxPeers, s.cfg.MaxKeys)
		}
		s.mu.Unlock()
		if !ok {
			s.sendError(from, m.T, krpc.CodeProtocol, "bad token")
			return
		}
		reply()
	case krpc.Get:
		s.mu.Lock()
		r.Token = s.tokens.issue(from.Addr(), now)
		it, ok := s.items.get(a.Target, now)
		s.mu.Unlock()
		if ok {
			if it.Mutable() {
				seq := it.Seq
				r.Seq, r.K, r.Sig = &seq, it.K, it.Sig
				if a.Seq == nil || *a.Seq < it.Seq {
					r.V = it.V
				}
			} else {
				r.V = it.V
			}
		}
		s.addNodes(r, a.Target, a.Want, from, now)
		reply()
	case krpc.Put:
		if code, msg := s.put(a, from, now); code != 0 {
			s.sendError(from, m.T, code, msg)
			return
		}
		reply()
	default:
		s.sendError(from, m.T, krpc.CodeMethod, "method unknown")
	}
}

// addNodes fills in the Config.AnswerNodes (default k) closest nodes to
// target in the families the requester wants (by default its own).
func (s *Server) addNodes(r *krpc.Return, target nodeid.ID, want []string, from netip.AddrPort, now time.Time) {
	v4 := slices.Contains(want, "n4") || len(want) == 0 && from.Addr().Is4()
	v6 := slices.Contains(want, "n6") || len(want) == 0 && !from.Addr().Is4()
	s.mu.Lock()
	closest := s.table.Closest(target, 4*s.cfg.AnswerNodes, now)
	s.mu.Unlock()
	for _, n := range closest {
		if n.Addr.Addr().Is4() {
			if v4 && len(r.Nodes) < s.cfg.AnswerNodes {
				r.Nodes = append(r.Nodes, n)
			}
		} else if v6 && len(r.Nodes6) < s.cfg.AnswerNodes {
			r.Nodes6 = append(r.Nodes6, n)
		}
	}
}

// put stores a BEP 44 item; it returns an error code and message on refusal.
func (s *Server) put(a *krpc.Args, from netip.AddrPort, now time.Time) (int, string) {
	if len(a.V) > krpc.MaxValueSize {
		return krpc.CodeTooBig, "message (v field) too big"
	}
	if len(a.Salt) > krpc.MaxSaltSize {
		return krpc.CodeSaltTooBig, "salt (salt field) too big"
	}
	it := Item{V: a.V, K: a.K, Salt: a.Salt, Sig: a.Sig}
	if a.Seq != nil {
		it.Seq = *a.Seq
	}
	if it.Mutable() && (len(it.K) != ed25519.PublicKeySize || len(it.Sig) != ed25519.SignatureSize ||
		!ed25519.Verify(it.K, krpc.SignedBytes(it.Salt, it.Seq, it.V), it.Sig)) {
		return krpc.CodeBadSig, "invalid signature"
	}
	if err := verifyValue(it.V); err != nil {
		return krpc.CodeProtocol, "invalid value"
	}
	s.mu.Lock()
	ok := s.tokens.valid(a.Token, from.Addr(), now)
	s.mu.Unlock()
	if !ok {
		return krpc.CodeProtocol, "bad token"
	}
	return s.storeItem(it, a.CAS, now)
}

// storeItem keeps a verified item unless it would replace a newer one.
func (s *Server) storeItem(it Item, cas *int64, now time.Time) (int, string) {
	target := it.Target()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.items.get(target, now); ok && it.Mutable() {
		if cas != nil && *cas != old.Seq {
			return krpc.CodeCASMismatch, "CAS mismatch"
		}
		if it.Seq < old.Seq || it.Seq == old.Seq && !sameValue(it, old) {
			return krpc.CodeSeqTooLow, "sequence number less than current"
		}
	}
	if _, ok := s.items.m[target]; !ok && len(s.items.m) >= s.cfg.MaxKeys {
		s.items.expire(now)
		if len(s.items.m) >= s.cfg.MaxKeys {
			return krpc.CodeServer, "storage full"
		}
	}
	s.items.m[target] = storedItem{Item: it, expires: now.Add(s.cfg.ItemTTL)}
	return 0, ""
}
