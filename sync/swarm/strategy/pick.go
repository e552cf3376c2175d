package strategy

import (
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/identity"
)

// Next returns the requests to send now: for every peer that is not
// choking us (in the order peers were added), blocks it has, rarest first,
// until its in-flight bytes reach PeerBytes. Once every block that some
// peer has is requested (endgame), idle peers are also asked for blocks
// already requested elsewhere, fewest requests first, then newest.
func (p *Picker) Next(now time.Time) []Request {
	var out []Request
	if p.remaining == 0 {
		return nil
	}
	for _, ps := range p.order {
		if ps.choking || now.Before(ps.snubUntil) {
			continue
		}
		for {
			endgame := p.endgame()
			var seq int
			var ok bool
			if endgame {
				if ps.bytes >= p.cfg.EndgamePeerBytes {
					break
				}
				seq, ok = p.endgamePick(ps)
			} else {
				if ps.bytes >= p.cfg.PeerBytes {
					break
				}
				seq, ok = p.rarest(ps)
			}
			if !ok {
				break
			}
			b := p.blocks[seq]
			out = append(out, Request{Peer: ps.id, Cid: b.c, Size: b.size, Dup: len(b.inflight) > 0})
			p.request(ps, seq, now)
		}
	}
	return out
}

// endgame reports whether every block some peer has is already requested.
func (p *Picker) endgame() bool {
	for k := 1; k < len(p.avail); k++ {
		if !p.avail[k].empty() {
			return false
		}
	}
	return !p.flying.empty()
}

// rarest picks for ps a pending block it has with the fewest sources.
func (p *Picker) rarest(ps *peerState) (int, bool) {
	for k := 1; k < len(p.avail); k++ {
		p.cands = p.cands[:0]
		p.avail[k].scanAnd(ps.has, func(i int) bool {
			p.cands = append(p.cands, i)
			return len(p.cands) < p.cfg.Window
		})
		switch len(p.cands) {
		case 0:
			continue
		case 1:
			return p.cands[0], true
		default:
			return p.cands[p.rng.IntN(len(p.cands))], true
		}
	}
	return 0, false
}

// endgamePick picks for ps a block in flight elsewhere that ps has and was
// not asked for: fewest requests, then the one queued behind the most bytes
// at its peer, then the most recently requested. A block deep in a slow
// peer's queue is the one ps can deliver first, and the cancel sent when it
// does reaches that peer before it sends the block: a duplicate request
// then rarely becomes duplicate bytes. A block whose peer has little more
// than it in flight is about to arrive and is not duplicated.
func (p *Picker) endgamePick(ps *peerState) (int, bool) {
	best, bestN, bestQ := -1, 0, 0
	var bestAt time.Time
	p.flying.scanAnd(ps.has, func(i int) bool {
		if ps.reqs.has(i) {
			return true
		}
		b := p.blocks[i]
		last := b.inflight[len(b.inflight)-1]
		n, q, at := len(b.inflight), last.peer.bytes, last.at
		if q < 2*b.size {
			return true
		}
		if best < 0 || n < bestN || (n == bestN && (q > bestQ || q == bestQ && at.After(bestAt))) {
			best, bestN, bestQ, bestAt = i, n, q, at
		}
		return true
	})
	return best, best >= 0
}

func (p *Picker) request(ps *peerState, seq int, now time.Time) {
	b := p.blocks[seq]
	p.unlist(seq)
	b.inflight = append(b.inflight, flight{peer: ps, at: now, size: b.size})
	p.flying.set(seq)
	if ps.bytes == 0 {
		ps.progress = now
	}
	ps.reqs.set(seq)
	ps.bytes += b.size
}

// Received records that peer id sent block c of size bytes; ok says
// whether its bytes hashed to c. A good wanted block is done and its other
// requests are to be cancelled; a bad one is a strike against the peer
// (and the block is asked of others), and MaxStrikes strikes drop it.
func (p *Picker) Received(now time.Time, id identity.NodeID, c cid.Cid, size int, ok bool) Result {
	var res Result
	ps := p.peers[id]
	seq, known := p.index[c]
	if !ok {
		if ps == nil {
			return res
		}
		if known {
			p.unflight(ps, seq)
			if ps.has.has(seq) {
				p.unlist(seq)
				ps.has.clear(seq)
				p.blocks[seq].avail--
				p.list(seq)
			}
		}
		ps.strikes++
		if ps.strikes >= p.cfg.MaxStrikes {
			p.RemovePeer(id)
			res.Dropped = true
		}
		return res
	}
	if ps != nil {
		ps.progress = now
		ps.snubUntil = time.Time{}
	}
	if !known || p.blocks[seq].done {
		if ps != nil {
			p.unflight(ps, seq)
		}
		return res
	}
	b := p.blocks[seq]
	p.unlist(seq)
	for _, f := range b.inflight {
		f.peer.bytes -= f.size
		f.peer.reqs.clear(seq)
		if f.peer != ps {
			res.Cancels = append(res.Cancels, Cancel{Peer: f.peer.id, Cid: c})
		}
	}
	b.inflight = nil
	p.flying.clear(seq)
	b.done = true
	b.size = size
	p.remaining--
	res.Wanted = true
	return res
}

// Strikes returns the strikes against peer id.
func (p *Picker) Strikes(id identity.NodeID) int {
	if ps := p.peers[id]; ps != nil {
		return ps.strikes
	}
	return 0
}

// Expire returns to the pool the requests of every peer that has had
// requests in flight and delivered nothing for Timeout, snubs those peers
// for Timeout, and returns the requests to cancel.
func (p *Picker) Expire(now time.Time) []Cancel {
	var out []Cancel
	for _, ps := range p.order {
		if ps.bytes > 0 && now.Sub(ps.progress) >= p.cfg.Timeout {
			out = append(out, p.returnAll(ps)...)
			ps.snubUntil = now.Add(p.cfg.Timeout)
		}
	}
	return out
}
