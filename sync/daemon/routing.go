package daemon

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/discovery/dialer"
	"github.com/shoal-sync/shoal/discovery/providers"
)

// contentRouter is content routing through the DHT: it keeps the pinned
// roots announced, and when a fetch starts it looks up who announced the
// root and dials them, so that content is found without --peer.
type contentRouter struct {
	d *Daemon
	p *providers.Providers
}

const (
	// searchDelay is how long a fetch waits for its connected peers before
	// asking the DHT, as kubo does: most content comes from peers already
	// connected, and a lookup costs the DHT nodes work.
	searchDelay = time.Second
	// maxProviderDials bounds the providers dialed for one fetch.
	maxProviderDials = 16
)

func (d *Daemon) startContentRouting(ctx context.Context) *contentRouter {
	st := d.node.Store()
	p := providers.New(providers.Options{
		DHT: d.dht,
		Roots: func(ctx context.Context) ([]cid.Cid, error) {
			pins, err := st.Pins(ctx)
			if err != nil {
				return nil, err
			}
			roots := make([]cid.Cid, len(pins))
			for i, pin := range pins {
				roots[i] = pin.Cid
			}
			return roots, nil
		},
		Logger: d.log.With("part", "providers"),
	})
	d.goRun(func() error {
		p.Run(ctx)
		return nil
	})
	return &contentRouter{d: d, p: p}
}

// kick announces new pins now rather than at the next round.
func (r *contentRouter) kick() {
	if r != nil {
		r.p.Kick()
	}
}

// search waits searchDelay (none when no peer is connected), then looks
// up the providers of c and dials those not connected, and looks again
// after 2, 4, 8 ... up to researchMax seconds, until ctx ends (the fetch
// is done): a provider may announce after the fetch began.
func (r *contentRouter) search(ctx context.Context, c cid.Cid) {
	wait := time.Duration(0)
	if len(r.d.swarm.Peers()) > 0 {
		wait = searchDelay
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.dialProviders(ctx, c)
		wait = min(max(2*wait, 2*time.Second), researchMax)
		t.Reset(wait)
	}
}

// researchMax is the longest a running fetch goes between lookups.
const researchMax = time.Minute

// dialProviders looks up the providers of c once and dials those not
// connected.
func (r *contentRouter) dialProviders(ctx context.Context, c cid.Cid) {
	addrs, err := r.p.Find(ctx, c)
	if err != nil {
		if ctx.Err() == nil {
			r.d.log.Debug("find providers", "cid", c, "err", err)
		}
		return
	}
	connected := r.connectedAddrs()
	dialed := 0
	for _, a := range addrs {
		if dialed == maxProviderDials || ctx.Err() != nil {
			return
		}
		if connected[a] {
			continue
		}
		dialed++
		r.d.log.Debug("dialing provider", "cid", c, "addr", a)
		r.d.dialer.Add(dialer.Candidate{Addr: a.String(), Source: dialer.DHT})
	}
}

// connectedAddrs returns the addresses connected peers are reached at or
// say they accept on, and this node's own.
func (r *contentRouter) connectedAddrs() map[netip.AddrPort]bool {
	out := make(map[netip.AddrPort]bool)
	add := func(s string) {
		if a, err := netip.ParseAddrPort(s); err == nil {
			out[a] = true
		}
	}
	add(r.d.ln.Addr().String())
	for _, p := range r.d.swarm.Peers() {
		for _, s := range slices.Concat([]string{p.Addr}, p.ListenAddrs) {
			add(s)
		}
	}
	return out
}
