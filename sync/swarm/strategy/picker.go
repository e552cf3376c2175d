package strategy

import (
	"math/rand/v2"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/identity"
)

// PickerConfig tunes a Picker. The zero value gives the defaults.
type PickerConfig struct {
	// PeerBytes bounds the bytes requested from one peer and not yet
	// received (pipelining); a peer may go over by at most one block.
	// Default 4 MiB.
	PeerBytes int
	// EstimatedSize is the size assumed for a block whose size is not
	// known when it is wanted. Default 256 KiB.
	EstimatedSize int
	// MaxStrikes is how many bad blocks a peer may send before it is
	// dropped. Default 3.
	MaxStrikes int
	// Window: among equally rare candidates the picker takes one at random
	// from the first Window in DAG order, so that leechers starting together
	// do not all ask the seed for the same blocks, while files still arrive
	// roughly in order (within Window blocks). Default 32: once leechers
	// hold blocks and say so, rarity spreads them; a wider window only
	// scatters a file's arrival, which a puller gathering whole segments
	// to write around the page cache must then hold in memory. 1 means
	// strict DAG order.
	Window int
	// Timeout: a peer with requests in flight that delivers nothing for
	// this long has them returned to the pool and gets no new requests for
	// as long again. Default 30 s.
	Timeout time.Duration
	// EndgamePeerBytes: in endgame a peer is sent duplicate requests only
	// while its own in-flight bytes are below this, which keeps duplicate
	// bytes to about one block per idle peer. Default EstimatedSize.
	EndgamePeerBytes int
	// Seed seeds the random tie-break.
	Seed uint64
}

func (c PickerConfig) withDefaults() PickerConfig {
	if c.PeerBytes <= 0 {
		c.PeerBytes = 4 << 20
	}
	if c.EstimatedSize <= 0 {
		c.EstimatedSize = 256 << 10
	}
	if c.MaxStrikes <= 0 {
		c.MaxStrikes = 3
	}
	if c.Window <= 0 {
		c.Window = 32
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.EndgamePeerBytes <= 0 {
		c.EndgamePeerBytes = c.EstimatedSize
	}
	return c
}

// Request asks Peer for block Cid, expected to be Size bytes.
type Request struct {
	Peer identity.NodeID
	Cid  cid.Cid
	Size int
	// Dup marks an endgame request for a block already asked of another peer.
	Dup bool
}

// Cancel withdraws an earlier request for Cid from Peer.
type Cancel struct {
	Peer identity.NodeID
	Cid  cid.Cid
}

// Result says what a received block changed.
type Result struct {
	// Wanted is true when the block was good and still wanted: pass it on.
	Wanted bool
	// Cancels withdraw the block's other requests (endgame duplicates).
	Cancels []Cancel
	// Dropped is true when the sender reached MaxStrikes and was removed.
	Dropped bool
}

type flight struct {
	peer *peerState
	at   time.Time
	size int
}

type block struct {
	c        cid.Cid
	size     int
	avail    int // live peers that have it
	done     bool
	inflight []flight
}

type peerState struct {
	id        identity.NodeID
	has       bitset
	reqs      bitset // blocks requested from it and not yet received
	bytes     int    // bytes of reqs
	choking   bool   // the peer chokes us
	strikes   int
	progress  time.Time // last block received, or first request after idling
	snubUntil time.Time
}

// Picker decides which blocks to request from which peers: rarest first
// among blocks not yet requested (ties in DAG order, see Window), many
// requests in flight per peer bounded by bytes, endgame once every
// available block is requested, strikes for bad blocks. It does no I/O and
// is not safe for concurrent use: one goroutine owns it.
type Picker struct {
	cfg       PickerConfig
	rng       *rand.Rand
	blocks    []*block // by sequence: the order blocks were wanted in
	index     map[cid.Cid]int
	remaining int      // wanted and not done
	avail     []bitset // avail[k]: pending blocks that k live peers have
	flying    bitset   // blocks with at least one request in flight
	peers     map[identity.NodeID]*peerState
	order     []*peerState // peers in the order they were added
	cands     []int
}

// NewPicker returns an empty Picker.
func NewPicker(cfg PickerConfig) *Picker {
	cfg = cfg.withDefaults()
	return &Picker{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		index: make(map[cid.Cid]int),
		peers: make(map[identity.NodeID]*peerState),
	}
}

// Config returns the configuration in use, defaults filled in.
func (p *Picker) Config() PickerConfig { return p.cfg }

// Remaining returns how many wanted blocks have not arrived.
func (p *Picker) Remaining() int { return p.remaining }

// InFlight returns the bytes requested from peer id and not yet received.
func (p *Picker) InFlight(id identity.NodeID) int {
	if ps := p.peers[id]; ps != nil {
		return ps.bytes
	}
	return 0
}

// Wants reports whether c is wanted and has not arrived.
func (p *Picker) Wants(c cid.Cid) bool {
	i, ok := p.index[c]
	return ok && !p.blocks[i].done
}

// pending: wanted, not arrived, not requested from anyone.
func pending(b *block) bool { return !b.done && len(b.inflight) == 0 }

func (p *Picker) unlist(seq int) {
	if b := p.blocks[seq]; pending(b) {
		p.avail[b.avail].clear(seq)
	}
}

func (p *Picker) list(seq int) {
	if b := p.blocks[seq]; pending(b) {
		for len(p.avail) <= b.avail {
			p.avail = append(p.avail, nil)
		}
		p.avail[b.avail].set(seq)
	}
}

// Want adds c to the wanted blocks, after those already wanted (DAG order
// as discovered). size is its length if known, else 0. Wanting a block
// again is a no-op, unless it was given up with Unwant.
func (p *Picker) Want(c cid.Cid, size int) {
	if size <= 0 {
		size = p.cfg.EstimatedSize
	}
	if seq, ok := p.index[c]; ok {
		b := p.blocks[seq]
		if b.done {
			b.done = false
			b.size = size
			p.remaining++
			p.list(seq)
		}
		return
	}
	seq := len(p.blocks)
	p.blocks = append(p.blocks, &block{c: c, size: size})
	p.index[c] = seq
	p.remaining++
	p.list(seq)
}

// Unwant gives up block c (its fetch was cancelled) and returns the
// requests to withdraw.
func (p *Picker) Unwant(c cid.Cid) []Cancel {
	seq, ok := p.index[c]
	if !ok || p.blocks[seq].done {
		return nil
	}
	b := p.blocks[seq]
	p.unlist(seq)
	var out []Cancel
	for _, f := range b.inflight {
		out = append(out, Cancel{Peer: f.peer.id, Cid: c})
		f.peer.reqs.clear(seq)
		f.peer.bytes -= f.size
	}
	b.inflight = nil
	p.flying.clear(seq)
	b.done = true
	p.remaining--
	return out
}

// Compact forgets every block once none remains wanted, so a long-lived
// picker does not grow without bound. Peers and their states are kept.
func (p *Picker) Compact() {
	if p.remaining != 0 || len(p.blocks) == 0 {
		return
	}
	p.blocks = nil
	p.index = make(map[cid.Cid]int)
	p.avail = nil
	p.flying = nil
	for _, ps := range p.order {
		ps.has, ps.reqs, ps.bytes = nil, nil, 0
	}
}

// AddPeer adds a peer. It starts choking us, as a new BitTorrent
// connection does, until SetChoking(id, false).
func (p *Picker) AddPeer(id identity.NodeID) {
	if p.peers[id] != nil {
		return
	}
	ps := &peerState{id: id, choking: true}
	p.peers[id] = ps
	p.order = append(p.order, ps)
}

// RemovePeer removes a peer (disconnected or dropped): its requests return
// to the pool and its blocks no longer count as available.
func (p *Picker) RemovePeer(id identity.NodeID) {
	ps := p.peers[id]
	if ps == nil {
		return
	}
	p.returnAll(ps)
	ps.has.each(func(seq int) {
		if seq < len(p.blocks) {
			p.unlist(seq)
			p.blocks[seq].avail--
			p.list(seq)
		}
	})
	delete(p.peers, id)
	for i, o := range p.order {
		if o == ps {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

// returnAll puts every request in flight to ps back in the pool and
// returns them as cancels.
func (p *Picker) returnAll(ps *peerState) []Cancel {
	var out []Cancel
	ps.reqs.each(func(seq int) {
		out = append(out, Cancel{Peer: ps.id, Cid: p.blocks[seq].c})
		p.unflight(ps, seq)
	})
	return out
}

// unflight withdraws the request for seq from ps.
func (p *Picker) unflight(ps *peerState, seq int) {
	if !ps.reqs.has(seq) {
		return
	}
	b := p.blocks[seq]
	for i, f := range b.inflight {
		if f.peer == ps {
			ps.bytes -= f.size
			b.inflight = append(b.inflight[:i], b.inflight[i+1:]...)
			break
		}
	}
	ps.reqs.clear(seq)
	if len(b.inflight) == 0 {
		p.flying.clear(seq)
		p.list(seq)
	}
}

// Have records that peer id has block c. It reports whether that makes
// the peer a source of a block still wanted (we are interested in it).
func (p *Picker) Have(id identity.NodeID, c cid.Cid) bool {
	ps := p.peers[id]
	seq, ok := p.index[c]
	if ps == nil || !ok {
		return false
	}
	if !ps.has.has(seq) {
		p.unlist(seq)
		ps.has.set(seq)
		p.blocks[seq].avail++
		p.list(seq)
	}
	return !p.blocks[seq].done
}

// DontHave records that peer id lacks block c; a request for it to that
// peer returns to the pool.
func (p *Picker) DontHave(id identity.NodeID, c cid.Cid) {
	ps := p.peers[id]
	seq, ok := p.index[c]
	if ps == nil || !ok {
		return
	}
	p.unflight(ps, seq)
	if ps.has.has(seq) {
		p.unlist(seq)
		ps.has.clear(seq)
		p.blocks[seq].avail--
		p.list(seq)
	}
}

// SetChoking records whether peer id chokes us. A peer that chokes us
// discards our requests, so they return to the pool.
func (p *Picker) SetChoking(id identity.NodeID, choking bool) {
	ps := p.peers[id]
	if ps == nil {
		return
	}
	ps.choking = choking
	if choking {
		p.returnAll(ps)
	}
}

// Interesting reports whether peer id has a block we still want.
func (p *Picker) Interesting(id identity.NodeID) bool {
	ps := p.peers[id]
	if ps == nil {
		return false
	}
	found := false
	ps.has.each(func(seq int) {
		if !found && seq < len(p.blocks) && !p.blocks[seq].done {
			found = true
		}
	})
	return found
}

// Missing returns the wanted blocks that have not arrived, in DAG order.
func (p *Picker) Missing() []cid.Cid {
	var out []cid.Cid
	for _, b := range p.blocks {
		if !b.done {
			out = append(out, b.c)
		}
	}
	return out
}

// Size returns the size recorded for c (its real size once arrived) and
// whether c is known.
func (p *Picker) Size(c cid.Cid) (int, bool) {
	if i, ok := p.index[c]; ok {
		return p.blocks[i].size, true
	}
	return 0, false
}

// Sourceless returns up to n wanted blocks, in DAG order, that no peer has
// said it has and none is requested from: the ones to ask about again, as
// a peer that said don't-have may have got them since.
func (p *Picker) Sourceless(n int) []cid.Cid {
	if len(p.avail) == 0 || n <= 0 {
		return nil
	}
	var out []cid.Cid
	p.avail[0].each(func(seq int) {
		if len(out) < n {
			out = append(out, p.blocks[seq].c)
		}
	})
	return out
}

// Requested reports whether block c is requested from peer id and not
// yet received.
func (p *Picker) Requested(id identity.NodeID, c cid.Cid) bool {
	ps := p.peers[id]
	seq, ok := p.index[c]
	return ps != nil && ok && ps.reqs.has(seq)
}
