package swarm

import (
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
)

// A peer may send blocks we did not ask it for: a few arrive late after a
// cancel or a timeout, but a peer that sends many is wasting our bandwidth
// and hashing. Such blocks are dropped unhashed; past a budget the peer is
// disconnected.
const (
	// unaskedFree is how many unasked bytes any peer may send.
	unaskedFree = 8 << 20
	// unaskedShare is the part of the asked bytes it sent that it may
	// send again unasked (1/unaskedShare).
	unaskedShare = 8
	// askedTTL: a request neither answered nor withdrawn this long is
	// forgotten (the peer choked us, or went quiet).
	askedTTL = 2 * time.Minute
)

// ask records want-blocks sent to p.
func (p *peer) ask(cs []cid.Cid, now time.Time) {
	p.askedMu.Lock()
	defer p.askedMu.Unlock()
	if p.asked == nil {
		p.asked = make(map[cid.Cid]time.Time)
	}
	for _, c := range cs {
		p.asked[c] = now
	}
}

// unask forgets a request withdrawn with a cancel.
func (p *peer) unask(c cid.Cid) {
	p.askedMu.Lock()
	defer p.askedMu.Unlock()
	delete(p.asked, c)
}

// take reports whether c was asked of p, and forgets the request.
func (p *peer) take(c cid.Cid) bool {
	p.askedMu.Lock()
	defer p.askedMu.Unlock()
	_, ok := p.asked[c]
	delete(p.asked, c)
	return ok
}

// forgetAsked drops requests older than askedTTL.
func (p *peer) forgetAsked(now time.Time) {
	p.askedMu.Lock()
	defer p.askedMu.Unlock()
	for c, at := range p.asked {
		if now.Sub(at) > askedTTL {
			delete(p.asked, c)
		}
	}
}

// unaskedBlock counts n bytes p sent unasked and returns an error once
// it has sent more than its budget.
func (p *peer) unaskedBlock(n int) error {
	total := p.unasked.Add(int64(n))
	if budget := unaskedFree + p.bytesIn.Load()/unaskedShare; total > budget {
		return fmt.Errorf("sent %d bytes of blocks never asked for (budget %d): %w", total, budget, errUnasked)
	}
	return nil
}
