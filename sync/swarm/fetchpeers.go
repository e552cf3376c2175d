package swarm

import (
	"slices"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/identity"
)

// A fetch with FetchOptions.Peers asks only the peers its filter admits.
// The owner keeps each such fetch's last answers (fetch.admit) and asks a
// peer about a block only when some fetch waiting for the block admits
// it: want-haves go only there, and a have from anyone else is not
// recorded, so the picker never requests the block elsewhere.

// admits reports whether f may ask peer id.
func (f *fetch) admits(id identity.NodeID) bool { return f.peers == nil || f.admit[id] }

// mayAsk reports whether a fetch waiting for c may ask q for it.
func (o *owner) mayAsk(q *peer, c cid.Cid) bool {
	if o.restricted == 0 {
		return true
	}
	for _, f := range o.waiting[c] {
		if f.admits(q.id) {
			return true
		}
	}
	return false
}

// mayAskBesides is mayAsk leaving fetch f out.
func (o *owner) mayAskBesides(q *peer, c cid.Cid, f *fetch) bool {
	for _, g := range o.waiting[c] {
		if g != f && g.admits(q.id) {
			return true
		}
	}
	return false
}

// askable returns those of cs that q may be asked about.
func (o *owner) askable(q *peer, cs []cid.Cid) []cid.Cid {
	if o.restricted == 0 {
		return cs
	}
	var out []cid.Cid
	for _, c := range cs {
		if o.mayAsk(q, c) {
			out = append(out, c)
		}
	}
	return out
}

// startFetch registers f and, for a restricted fetch, asks its filter
// about the peers connected now.
func (o *owner) startFetch(f *fetch) {
	o.fetches[f] = struct{}{}
	if f.peers == nil {
		return
	}
	o.restricted++
	f.admit = make(map[identity.NodeID]bool, len(o.peers))
	for id := range o.peers {
		f.admit[id] = f.peers(id)
	}
}

// admitPeer asks the restricted fetches' filters about a new peer p.
func (o *owner) admitPeer(p *peer) {
	if o.restricted == 0 {
		return
	}
	for f := range o.fetches {
		if f.peers != nil {
			f.admit[p.id] = f.peers(p.id)
		}
	}
}

// forgetPeer drops p from the restricted fetches' answers.
func (o *owner) forgetPeer(p *peer) {
	for f := range o.fetches {
		if f.admit != nil {
			delete(f.admit, p.id)
		}
	}
}

// want takes blocks f wants: the picker learns the new ones, and every
// peer f admits is asked about those it was not asked about already
// (new to the picker, or wanted so far only by fetches not admitting it).
func (o *owner) want(f *fetch, cids []cid.Cid, sizes []int) (fresh int) {
	isFresh := make([]bool, len(cids))
	for i, c := range cids {
		if !o.picker.Wants(c) {
			o.picker.Want(c, sizes[i])
			isFresh[i] = true
			fresh++
		}
	}
	now := time.Now()
	for _, q := range o.peers {
		if !f.admits(q.id) {
			continue
		}
		if f.sources.has(q.id, now) {
			o.presume(q, cids)
			continue
		}
		var ask []cid.Cid
		for i, c := range cids {
			if isFresh[i] || o.restricted > 0 && !o.mayAskBesides(q, c, f) {
				ask = append(ask, c)
			}
		}
		o.sendCids(q, mWantHave, ask)
	}
	for _, c := range cids {
		o.waiting[c] = append(o.waiting[c], f)
	}
	return fresh
}

// presume records that q has cids without asking it, q being one of the
// fetch's Sources: the picker asks q for them with want-blocks straight
// away, a round trip and a want-have per block fewer, as Bitswap asks
// the peers of a session. A block q lacks comes back as dont-have and
// its request returns to the pool, for the peers asked with want-haves
// (or those asked again later).
func (o *owner) presume(q *peer, cids []cid.Cid) {
	for _, c := range cids {
		if o.picker.Have(q.id, c) {
			interested(q)
		}
	}
}

// refilter asks the restricted fetches' filters again about every peer:
// a peer newly admitted is asked about the fetch's blocks, one no longer
// admitted has its requests for them withdrawn and its haves forgotten.
func (o *owner) refilter() {
	if o.restricted == 0 {
		return
	}
	for f := range o.fetches {
		if f.peers == nil {
			continue
		}
		var in, out []*peer
		for id, q := range o.peers {
			ok := f.peers(id)
			if ok == f.admit[id] {
				continue
			}
			f.admit[id] = ok
			if ok {
				in = append(in, q)
			} else {
				out = append(out, q)
			}
		}
		if len(in)+len(out) == 0 {
			continue
		}
		var cs []cid.Cid
		for c, fs := range o.waiting {
			if slices.Contains(fs, f) {
				cs = append(cs, c)
			}
		}
		for _, q := range in {
			var ask []cid.Cid
			for _, c := range cs {
				if !o.mayAskBesides(q, c, f) {
					ask = append(ask, c)
				}
			}
			o.s.log.Debug("fetch admits peer", "peer", q.id.Short(), "blocks", len(ask))
			o.sendCids(q, mWantHave, ask)
		}
		for _, q := range out {
			o.s.log.Debug("fetch no longer admits peer", "peer", q.id.Short())
			for _, c := range cs {
				if !o.mayAsk(q, c) {
					o.withdraw(q, c)
				}
			}
		}
		o.dirty = true
	}
}

// withdraw stops asking q for c: a request in flight is cancelled and its
// have forgotten, so the block goes to other peers.
func (o *owner) withdraw(q *peer, c cid.Cid) {
	if o.picker.Requested(q.id, c) {
		o.cancel(q, c)
	}
	o.picker.DontHave(q.id, c)
}

// endRestricted: fetch f ended and c, which it wanted, is still wanted by
// others; peers only f admitted are no longer asked for it.
func (o *owner) endRestricted(f *fetch, c cid.Cid) {
	if o.restricted == 0 {
		return
	}
	for _, q := range o.peers {
		if f.admits(q.id) && !o.mayAsk(q, c) {
			o.withdraw(q, c)
		}
	}
}
