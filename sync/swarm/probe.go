package swarm

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/identity"
)

// probe is one running Probe; the owner's goroutine alone touches it
// until done is closed or the Probe ends it.
type probe struct {
	want    map[cid.Cid]bool
	waiting map[*peer]map[cid.Cid]bool // the answers each peer asked still owes
	has     map[cid.Cid][]identity.NodeID
	done    chan struct{}
	closed  bool
}

func (pr *probe) finish() {
	if !pr.closed && len(pr.waiting) == 0 {
		pr.closed = true
		close(pr.done)
	}
}

// Probe asks every connected peer which of cids it has and would serve
// us (want-have; every peer answers have or don't-have), and returns,
// per CID, the peers that said have. It returns when every peer
// answered for every CID, or when ctx ends, with what was answered by
// then; it fetches nothing.
func (s *Swarm) Probe(ctx context.Context, cids []cid.Cid) (map[cid.Cid][]identity.NodeID, error) {
	return s.ProbeFrom(ctx, cids, nil)
}

// ProbeFrom is Probe asking only the connected peers that peers admits
// (nil: all); it runs on the swarm's goroutine, as FetchOptions.Peers.
func (s *Swarm) ProbeFrom(ctx context.Context, cids []cid.Cid, peers func(identity.NodeID) bool) (map[cid.Cid][]identity.NodeID, error) {
	pr := &probe{want: make(map[cid.Cid]bool, len(cids)), waiting: make(map[*peer]map[cid.Cid]bool),
		has: make(map[cid.Cid][]identity.NodeID), done: make(chan struct{})}
	var ask []cid.Cid
	for _, c := range cids {
		if c.Defined() && !pr.want[c] {
			pr.want[c] = true
			ask = append(ask, c)
		}
	}
	start := event{kind: evCall, call: func(o *owner) {
		if o.probes == nil {
			o.probes = make(map[*probe]struct{})
		}
		o.probes[pr] = struct{}{}
		if len(ask) > 0 {
			for _, p := range o.peers {
				if peers != nil && !peers(p.id) {
					continue
				}
				owed := make(map[cid.Cid]bool, len(ask))
				for _, c := range ask {
					owed[c] = true
				}
				pr.waiting[p] = owed
				o.sendCids(p, mWantHave, ask)
			}
		}
		pr.finish()
	}}
	if !s.send(ctx, start) {
		return nil, s.ctxErr(ctx)
	}
	select {
	case <-pr.done:
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	out := make(chan map[cid.Cid][]identity.NodeID, 1)
	end := event{kind: evCall, call: func(o *owner) {
		delete(o.probes, pr)
		out <- pr.has
	}}
	if !s.send(context.Background(), end) {
		return nil, s.ctxErr(ctx)
	}
	return <-out, nil
}

// ctxErr is why a call to the owner did not go through.
func (s *Swarm) ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// probeMsg counts p's have and don't-have answers for running probes.
func (o *owner) probeMsg(p *peer, m msg) {
	if len(o.probes) == 0 || (m.kind != mHave && m.kind != mDontHave) {
		return
	}
	for pr := range o.probes {
		owed := pr.waiting[p]
		if owed == nil {
			continue
		}
		for _, c := range m.cids {
			if !owed[c] {
				continue
			}
			delete(owed, c)
			if m.kind == mHave {
				pr.has[c] = append(pr.has[c], p.id)
			}
		}
		if len(owed) == 0 {
			delete(pr.waiting, p)
		}
		pr.finish()
	}
}

// probeGone stops waiting for a peer that left.
func (o *owner) probeGone(p *peer) {
	for pr := range o.probes {
		delete(pr.waiting, p)
		pr.finish()
	}
}
