package swarm

import (
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm/strategy"
	"github.com/shoal-sync/shoal/sync/transport"
)

// maxPeerWants bounds the blocks remembered per peer for later haves.
const maxPeerWants = 1 << 15

// forgetWants: while no fetch runs, what peers asked about longer ago than
// this is forgotten (nothing will arrive to tell them about).
const forgetWants = time.Minute

// maxCids bounds the CIDs in one want/have message.
const maxCids = 512

// A fetch asks connected peers again about wanted blocks none of them has
// (they said don't-have, or have not answered): first reaskFirst after a
// want, then at doubling intervals up to reaskMax, at most reaskCids
// blocks a time. A peer that gains a block announces it with a have; this
// catches a peer that gained it some other way.
const (
	reaskFirst = time.Second
	reaskMax   = 30 * time.Second
	reaskCids  = 2 * maxCids
)

// histLen is how many one-second samples of each peer's byte counters
// are kept: the choker looks 20 s back.
const histLen = 21

type sample struct{ in, out int64 }

// owner is the one goroutine that owns the swarm state: peers, picker,
// choker, fetches. Everything reaches it as events.
type owner struct {
	s       *Swarm
	peers   map[identity.NodeID]*peer
	hist    map[*peer][]sample
	picker  *strategy.Picker
	choker  *strategy.Choker
	fetches map[*fetch]struct{}
	waiting map[cid.Cid][]*fetch // fetches a wanted block goes to
	// wantedBy: per peer, blocks it asked about that we lacked; it is told
	// (have) when we get one, so leechers learn what they can trade.
	wantedBy map[*peer]map[cid.Cid]time.Time // when it asked
	rechoked time.Time
	swept    time.Time
	idle     time.Time // when the last fetch ended
	dirty    bool      // the picker may have new requests to make

	reaskAt    time.Time     // when to ask about sourceless blocks again
	reaskEvery time.Duration // the interval after that

	probes map[*probe]struct{} // running Probes (probe.go)

	restricted int // running fetches with FetchOptions.Peers (fetchpeers.go)
}

func newOwner(s *Swarm) *owner {
	return &owner{
		s:        s,
		peers:    make(map[identity.NodeID]*peer),
		hist:     make(map[*peer][]sample),
		picker:   strategy.NewPicker(s.opt.Picker),
		choker:   strategy.NewChoker(s.opt.Choker),
		fetches:  make(map[*fetch]struct{}),
		waiting:  make(map[cid.Cid][]*fetch),
		wantedBy: make(map[*peer]map[cid.Cid]time.Time),
		idle:     time.Now(),
	}
}

func (o *owner) run() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	o.rechoked = time.Now()
	pins := o.s.opt.Store.WatchPins()
	for {
		select {
		case ev := <-o.s.events:
			o.handle(ev)
		case now := <-tick.C:
			o.tick(now)
		case <-pins.Changed:
			// What the policy serves may have grown: tell peers that
			// asked for blocks we lacked (their writers check each).
			pins = o.s.opt.Store.WatchPins()
			o.announceWanted()
		case <-o.s.servable:
			o.announceWanted()
		case <-o.s.refilter:
			o.refilter()
		case <-o.s.ctx.Done():
			for _, p := range o.peers {
				p.link.close()
			}
			return
		}
		if o.dirty {
			o.pump(time.Now())
		}
	}
}

func (o *owner) handle(ev event) {
	now := time.Now()
	p := ev.peer
	switch ev.kind {
	case evAddPeer:
		if old := o.peers[p.id]; old != nil {
			// Two connections to one peer (both dialed at once): keep the
			// one both sides keep, by transport.Prefer.
			if old.outbound == p.outbound || !transport.Prefer(o.s.opt.Self, p.id, p.outbound) {
				ev.reply <- ErrDuplicatePeer
				return
			}
			o.removePeer(now, old)
			old.link.close()
		}
		o.peers[p.id] = p
		o.s.npeers.Store(int32(len(o.peers)))
		o.picker.AddPeer(p.id)
		o.admitPeer(p)
		ev.reply <- nil
		o.s.peerSubs.publish(p.event(true))
		if missing := o.askable(p, o.picker.Missing()); len(missing) > 0 {
			o.sendCids(p, mWantHave, missing)
		}
	case evRemovePeer:
		if o.peers[p.id] != p {
			return
		}
		o.removePeer(now, p)
	case evMsg:
		if o.peers[p.id] != p {
			return
		}
		o.peerMsg(now, p, ev.msg)
	case evBlock:
		o.block(now, p, ev.cids[0], ev.data, ev.ok, ev.owned)
	case evPeerWants:
		if o.peers[p.id] != p {
			return
		}
		w := o.wantedBy[p]
		if w == nil {
			w = make(map[cid.Cid]time.Time)
			o.wantedBy[p] = w
		}
		for _, c := range ev.cids {
			if len(w) < maxPeerWants {
				w[c] = now
			}
		}
		p.out.push(outItem{announce: ev.cids}) // we may have got them meanwhile
	case evAnnounced:
		if w := o.wantedBy[p]; w != nil {
			for _, c := range ev.cids {
				delete(w, c)
			}
		}
	case evPeerCancels:
		if w := o.wantedBy[p]; w != nil {
			for _, c := range ev.cids {
				delete(w, c)
			}
		}
	case evCall:
		ev.call(o)
	case evFetchStart:
		o.startFetch(ev.fetch)
	case evWant:
		if o.want(ev.fetch, ev.cids, ev.sizes) > 0 {
			// New blocks are asked about again reaskFirst from now at
			// the latest, and older ones no later than they were due:
			// wants arriving all the time (a pull of many files) must not
			// put off asking again about a block a peer refused.
			o.reaskEvery = reaskFirst
			if at := now.Add(reaskFirst); o.reaskAt.IsZero() || at.Before(o.reaskAt) {
				o.reaskAt = at
			}
		}
		o.dirty = true
	case evStored:
		for q, w := range o.wantedBy {
			var got []cid.Cid
			for _, c := range ev.cids {
				if _, ok := w[c]; ok {
					delete(w, c)
					got = append(got, c)
				}
			}
			if len(got) > 0 {
				q.out.push(outItem{announce: got})
			}
		}
		o.dirty = true // the fetch's queue shrank
	case evFetchEnd:
		o.endFetch(ev.fetch)
	case evPeers:
		list := make([]*peer, 0, len(o.peers))
		for _, q := range o.peers {
			list = append(list, q)
		}
		ev.peers <- list
	}
}

// announceWanted asks every peer's writer to send have for the blocks the
// peer asked about that we may serve now.
func (o *owner) announceWanted() {
	for q, w := range o.wantedBy {
		if len(w) == 0 {
			continue
		}
		cs := make([]cid.Cid, 0, len(w))
		for c := range w {
			cs = append(cs, c)
		}
		q.out.push(outItem{announce: cs})
	}
}

// reask asks every peer again about wanted blocks none has, with backoff.
func (o *owner) reask(now time.Time) {
	if o.picker.Remaining() == 0 {
		o.reaskAt = time.Time{} // nothing due: the next want sets it
		return
	}
	if now.Before(o.reaskAt) || len(o.peers) == 0 {
		return
	}
	o.reaskEvery = min(max(2*o.reaskEvery, reaskFirst), reaskMax)
	o.reaskAt = now.Add(o.reaskEvery)
	cs := o.picker.Sourceless(reaskCids)
	if len(cs) == 0 {
		return
	}
	o.s.log.Debug("asking peers again about blocks none has", "blocks", len(cs), "next in", o.reaskEvery)
	for _, q := range o.peers {
		o.sendCids(q, mWantHave, o.askable(q, cs))
	}
}

// removePeer forgets p and hands its slots and requests to others.
func (o *owner) removePeer(now time.Time, p *peer) {
	delete(o.peers, p.id)
	o.s.npeers.Store(int32(len(o.peers)))
	o.s.peerSubs.publish(p.event(false))
	delete(o.hist, p)
	delete(o.wantedBy, p)
	o.forgetPeer(p)
	o.picker.RemovePeer(p.id)
	o.probeGone(p)
	o.fill(now)
	o.dirty = true
}

func (o *owner) peerMsg(now time.Time, p *peer, m msg) {
	o.probeMsg(p, m)
	switch m.kind {
	case mHave:
		for _, c := range m.cids {
			// A have from a peer no fetch of c may ask is not recorded:
			// the picker never requests c from it.
			if o.mayAsk(p, c) && o.picker.Have(p.id, c) {
				interested(p)
			}
		}
		o.dirty = true
	case mDontHave:
		for _, c := range m.cids {
			o.picker.DontHave(p.id, c)
		}
		o.dirty = true
	case mChoke:
		p.peerChoking.Store(true)
		o.picker.SetChoking(p.id, true)
		o.dirty = true
	case mUnchoke:
		p.peerChoking.Store(false)
		o.picker.SetChoking(p.id, false)
		o.dirty = true
	case mInterested:
		p.peerInterested.Store(true)
		o.fill(now)
	case mNotInterested:
		p.peerInterested.Store(false)
		o.fill(now)
	}
}

// interested tells p we are interested, unless we told it already: it
// has a block we want.
func interested(p *peer) {
	if !p.amInterested.Load() {
		p.amInterested.Store(true)
		p.out.push(outItem{m: msg{kind: mInterested}})
	}
}

// block takes a block received from p. When owned, data's buffer goes
// back to the pool once no one needs it, or with it to the one fetch
// waiting for it.
func (o *owner) block(now time.Time, p *peer, c cid.Cid, data []byte, ok, owned bool) {
	res := o.picker.Received(now, p.id, c, len(data), ok)
	fs := o.waiting[c]
	if owned && (!ok || !res.Wanted || len(fs) == 0) {
		o.s.recvBufs.put(data) // bad, a duplicate, or for no fetch: unused
	}
	if !ok {
		o.s.badBlocks.Add(1)
		p.strikes.Add(1)
		o.s.log.Warn("bad block", "peer", p.id.Short(), "cid", c, "strikes", p.strikes.Load())
		if res.Dropped {
			if d := o.s.opt.BanDuration; d > 0 {
				o.s.bans.ban(p.id, now.Add(d))
			}
			o.s.log.Warn("dropping peer that sent bad blocks", "peer", p.id.Short(), "banned for", max(o.s.opt.BanDuration, 0))
			p.link.close()
		}
		o.dirty = true
		return
	}
	if !res.Wanted {
		o.s.dupBytes.Add(int64(len(data)))
	}
	for _, cn := range res.Cancels {
		if q := o.peers[cn.Peer]; q != nil {
			o.cancel(q, cn.Cid)
		}
	}
	if res.Wanted {
		for _, f := range fs {
			f.sources.add(p.id, now)
			f.deliver(c, data, owned && len(fs) == 1)
		}
		delete(o.waiting, c)
	}
	o.dirty = true
}

func (o *owner) endFetch(f *fetch) {
	delete(o.fetches, f)
	if f.peers != nil {
		o.restricted--
	}
	if len(o.fetches) == 0 {
		o.idle = time.Now()
	}
	for c := range f.pending {
		fs := o.waiting[c]
		for i, g := range fs {
			if g == f {
				fs = append(fs[:i], fs[i+1:]...)
				break
			}
		}
		if len(fs) > 0 {
			o.waiting[c] = fs
			o.endRestricted(f, c)
			continue
		}
		delete(o.waiting, c)
		for _, cn := range o.picker.Unwant(c) {
			if q := o.peers[cn.Peer]; q != nil {
				o.cancel(q, cn.Cid)
			}
		}
	}
	o.dirty = true
}

// pump sends the picker's next requests, and tells peers we are no longer
// interested once nothing is wanted.
func (o *owner) pump(now time.Time) {
	o.dirty = false
	if o.picker.Remaining() == 0 {
		for _, p := range o.peers {
			if p.amInterested.Load() {
				p.amInterested.Store(false)
				p.out.push(outItem{m: msg{kind: mNotInterested}})
			}
		}
		if len(o.fetches) == 0 {
			o.picker.Compact()
		}
		return
	}
	var queued int64
	for f := range o.fetches {
		queued += f.queued.Load()
	}
	if queued > o.s.opt.MaxQueued {
		return
	}
	byPeer := make(map[identity.NodeID][]cid.Cid)
	var order []identity.NodeID
	for _, r := range o.picker.Next(now) {
		if p := o.peers[r.Peer]; p != nil && !o.mayAsk(p, r.Cid) {
			// Not sent, so nothing to cancel: the block goes back to
			// the pool, for the peers its fetches admit.
			o.picker.DontHave(r.Peer, r.Cid)
			continue
		}
		if byPeer[r.Peer] == nil {
			order = append(order, r.Peer)
		}
		byPeer[r.Peer] = append(byPeer[r.Peer], r.Cid)
	}
	for _, id := range order {
		if p := o.peers[id]; p != nil {
			o.sendCids(p, mWantBlock, byPeer[id])
		}
	}
}

// cancel withdraws a request for c sent to p.
func (o *owner) cancel(p *peer, c cid.Cid) {
	p.unask(c)
	p.out.push(outItem{m: msg{kind: mCancel, cids: []cid.Cid{c}}})
}

func (o *owner) sendCids(p *peer, kind msgKind, cids []cid.Cid) {
	if kind == mWantBlock {
		p.ask(cids, time.Now()) // before the request can be answered
	}
	for len(cids) > 0 {
		n := min(len(cids), maxCids)
		p.out.push(outItem{m: msg{kind: kind, cids: cids[:n:n]}})
		cids = cids[n:]
	}
}

func (o *owner) tick(now time.Time) {
	if len(o.fetches) == 0 && now.Sub(o.idle) > forgetWants && now.Sub(o.swept) > forgetWants/2 {
		o.swept = now
		for _, w := range o.wantedBy {
			for c, at := range w {
				if now.Sub(at) > forgetWants {
					delete(w, c)
				}
			}
		}
	}
	for _, p := range o.peers {
		p.forgetAsked(now)
		cur := sample{p.bytesIn.Load(), p.bytesOut.Load()}
		if h := o.hist[p]; len(h) > 0 && h[len(h)-1] != cur {
			p.active = now
		}
		h := append(o.hist[p], cur)
		if len(h) > histLen {
			h = h[len(h)-histLen:]
		}
		o.hist[p] = h
	}
	for _, cn := range o.picker.Expire(now) {
		if q := o.peers[cn.Peer]; q != nil {
			o.cancel(q, cn.Cid)
		}
		o.dirty = true
	}
	o.trim(now)
	o.refilter()
	o.reask(now)
	if now.Sub(o.rechoked) >= o.choker.Config().Interval {
		o.rechoked = now
		o.apply(o.choker.Rechoke(now, o.stats(now), o.picker.Remaining() == 0))
	}
	o.dirty = true
}

// trim lets idle peers go when more than Options.Conns.High are connected.
func (o *owner) trim(now time.Time) {
	if len(o.peers) <= o.s.opt.Conns.High {
		return
	}
	stats := make([]strategy.ConnStat, 0, len(o.peers))
	for _, p := range o.peers {
		stats = append(stats, strategy.ConnStat{ID: p.id, Connected: p.connected, Active: p.active, Protected: o.s.isProtected(p.id)})
	}
	for _, id := range strategy.Trim(now, stats, o.s.opt.Conns) {
		o.s.log.Debug("disconnecting idle peer", "peer", id.Short(), "peers", len(o.peers), "high", o.s.opt.Conns.High)
		o.peers[id].link.close() // its reader ends and removes it
	}
}

// fill gives free unchoke slots to interested peers at once.
func (o *owner) fill(now time.Time) {
	o.apply(o.choker.Fill(now, o.stats(now), o.picker.Remaining() == 0))
}

func (o *owner) stats(now time.Time) []strategy.PeerStat {
	out := make([]strategy.PeerStat, 0, len(o.peers))
	for _, p := range o.peers {
		st := strategy.PeerStat{ID: p.id, Interested: p.peerInterested.Load(), Connected: p.connected}
		if h := o.hist[p]; len(h) > 0 {
			st.Gave = p.bytesIn.Load() - h[0].in
			st.Took = p.bytesOut.Load() - h[0].out
		}
		out = append(out, st)
	}
	return out
}

// apply chokes and unchokes peers to match the unchoked set.
func (o *owner) apply(unchoked []identity.NodeID) {
	set := make(map[identity.NodeID]bool, len(unchoked))
	for _, id := range unchoked {
		set[id] = true
	}
	for id, p := range o.peers {
		switch {
		case set[id] && p.amChoking.Load():
			p.amChoking.Store(false)
			p.out.push(outItem{m: msg{kind: mUnchoke}})
		case !set[id] && !p.amChoking.Load():
			p.amChoking.Store(true)
			p.out.dropServes()
			p.out.push(outItem{m: msg{kind: mChoke}})
		}
	}
}
