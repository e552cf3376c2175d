package session

import (
	"context"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/wire"
)

// eagerRelay is the most new records a relay passes on as they are: a
// rumour of a few changes reaches peers the author never meets at once,
// and costs little when they had it already. More are announced.
const eagerRelay = 64

// Relay passes records of f that came from peer from on to our other
// peers sharing f. A few go as they are (a rumour). Many (a large change),
// or any that came in an answer to our summary, would, in a mesh where every peer hears the
// author, reach each peer once from the author and once more from every
// other peer: instead they are announced with our summary
// (IndexSummary.Announce), and a peer that lacks them asks for exactly
// those. A peer still being sent an answer waits for it to end before it
// asks (announced), so a joiner hearing one index from the sharer and
// announcements from the other joiners takes every record once.
//
// Peers older than protocol 1.3 are sent the records.
func (s *Session) Relay(ctx context.Context, f identity.FolderID, recs []wire.SignedRecord, from identity.NodeID) {
	if len(recs) <= eagerRelay && !s.expecting(from, f) {
		s.PushExcept(f, recs, from)
		return
	}
	var marks []wire.Mark
	for _, c := range s.peersOf(f) {
		if c.ID() == from {
			continue
		}
		if c.ProtocolMinor() < wire.MinorAnnounce {
			for rs := recs; len(rs) > 0; rs = rs[min(len(rs), maxBatch):] {
				s.sendRecords(c, wire.IndexRecords{Folder: f[:], Records: rs[:min(len(rs), maxBatch)]})
			}
			continue
		}
		if marks == nil {
			var err error
			if marks, err = s.opt.Model.Summary(ctx, f); err != nil {
				s.log.Warn("index summary", "folder", f.String()[:8], "err", err)
				return
			}
		}
		c.Send(wire.IndexSummary{Folder: f[:], Marks: marks, Announce: true})
	}
}

// announced takes c's announcement of theirs for f: if we lack records
// it holds, we send our summary as a reply (c answers with what we lack),
// unless an answer is still coming to us for f, which may bring them; the
// newest announcement then waits until no answer is (settled).
func (s *Session) announced(ctx context.Context, c *swarm.Conn, f identity.FolderID, theirs []wire.Mark) error {
	s.mu.Lock()
	st := s.conns[c]
	switch {
	case st == nil:
		s.mu.Unlock()
		return nil
	case s.awaitingLocked(f):
		st.announced[f] = theirs
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return s.askIfLacking(ctx, c, f, theirs)
}

// askIfLacking sends c our summary of f as a reply if theirs holds records
// we lack.
func (s *Session) askIfLacking(ctx context.Context, c *swarm.Conn, f identity.FolderID, theirs []wire.Mark) error {
	mine, err := s.opt.Model.Summary(ctx, f)
	if err != nil {
		s.log.Warn("index summary", "folder", f.String()[:8], "err", err)
		return nil
	}
	if !lacks(mine, theirs) {
		return nil
	}
	return s.sendMarks(c, f, mine, true)
}

// lacks reports whether theirs holds a record of some origin past what
// mine holds of it.
func lacks(mine, theirs []wire.Mark) bool {
	have := make(map[uint64]uint64, len(mine))
	for _, m := range mine {
		have[m.Origin] = max(have[m.Origin], m.Seq)
	}
	for _, m := range theirs {
		if m.Seq > have[m.Origin] {
			return true
		}
	}
	return false
}

// expecting reports whether an answer of f is still to end from peer.
func (s *Session) expecting(peer identity.NodeID, f identity.FolderID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, st := range s.conns {
		if c.ID() == peer && st.expect[f] {
			return true
		}
	}
	return false
}

// awaitingLocked reports whether an answer to a summary of f we sent is
// still to end, on any connection; s.mu is held.
func (s *Session) awaitingLocked(f identity.FolderID) bool {
	for _, st := range s.conns {
		if st.expect[f] {
			return true
		}
	}
	return false
}

// answered notes that c's answer of f ended (its last message taken in,
// or c gone), and, once no answer of f is still coming, takes up the
// announcements that waited for it.
func (s *Session) answered(c *swarm.Conn, f identity.FolderID) {
	s.mu.Lock()
	if st := s.conns[c]; st != nil {
		delete(st.expect, f)
	}
	s.mu.Unlock()
	s.settle(f, false)
}

// settle takes up the announcements of f that waited for an answer: once
// none is still coming, or now if force (the periodic exchange: a peer
// that never ends its answer holds nothing up for longer).
func (s *Session) settle(f identity.FolderID, force bool) {
	type waiting struct {
		c     *swarm.Conn
		marks []wire.Mark
	}
	var todo []waiting
	s.mu.Lock()
	if force || !s.awaitingLocked(f) {
		for c, st := range s.conns {
			if ms, ok := st.announced[f]; ok {
				delete(st.announced, f)
				todo = append(todo, waiting{c, ms})
			}
		}
	}
	s.mu.Unlock()
	for _, w := range todo {
		if err := s.askIfLacking(s.stop, w.c, f, w.marks); err != nil {
			s.log.Debug("index summary for peer", "peer", w.c.ID().Short(), "err", err)
		}
	}
}
