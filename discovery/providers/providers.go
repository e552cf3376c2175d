package providers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/dht"
)

// Key returns the DHT key under which providers of c are announced.
func Key(c cid.Cid) [20]byte {
	h := sha256.New()
	h.Write([]byte("shoal provide"))
	h.Write(c.Hash())
	var k [20]byte
	copy(k[:], h.Sum(nil))
	return k
}

// DHT is what providers needs of a DHT node (*dht.Server).
type DHT interface {
	Announce(ctx context.Context, infohash [20]byte, port int, impliedPort bool) (dht.AnnounceResult, error)
	GetPeers(ctx context.Context, infohash [20]byte) ([]netip.AddrPort, dht.LookupStats, error)
}

// Options configure a Providers.
type Options struct {
	// DHT is the node announces and lookups go through. Required.
	DHT DHT
	// Roots returns the CIDs to announce (the pinned roots). Required.
	Roots func(ctx context.Context) ([]cid.Cid, error)
	// Port is the TCP port peers reach this node's swarm on. Zero: the
	// DHT socket's own port (BEP 5 implied_port), which is the swarm's
	// port when both share it, as the daemon's do, and survives NAT.
	Port int
	// Interval is how often each root is announced again. Default 15
	// minutes, half the time DHT nodes keep an announce.
	Interval time.Duration
	// Parallel bounds the announces in flight. Default 4.
	Parallel int
	// Logger receives announce failures. Default: discarded.
	Logger *slog.Logger
}

// Providers announces the node's roots and finds providers of others.
type Providers struct {
	opt  Options
	kick chan struct{}

	mu        sync.Mutex
	announced map[cid.Cid]time.Time // when each root was last announced
}

// New returns a Providers; Run does the announcing.
func New(opt Options) *Providers {
	if opt.Interval <= 0 {
		opt.Interval = 15 * time.Minute
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 4
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Providers{opt: opt, kick: make(chan struct{}, 1), announced: make(map[cid.Cid]time.Time)}
}

// Kick asks Run to announce roots it has not announced yet (a new pin)
// now rather than at the next round.
func (p *Providers) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run announces every root now, each again when Interval has passed since
// it was last announced, and new roots when kicked, until ctx ends; it
// returns ctx's error. A root no longer returned by Roots is no longer
// announced: its records expire on the DHT nodes.
func (p *Providers) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-p.kick:
		}
		next := p.round(ctx)
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// round announces the roots that are due and returns how long until the
// next one is.
func (p *Providers) round(ctx context.Context) time.Duration {
	roots, err := p.opt.Roots(ctx)
	if err != nil {
		p.opt.Logger.Warn("providers: list roots", "err", err)
		return time.Minute
	}
	now := time.Now()
	next := p.opt.Interval
	var due []cid.Cid
	p.mu.Lock()
	current := make(map[cid.Cid]bool, len(roots))
	for _, c := range roots {
		current[c] = true
		last, ok := p.announced[c]
		if wait := last.Add(p.opt.Interval).Sub(now); !ok || wait <= 0 {
			due = append(due, c)
		} else {
			next = min(next, wait)
		}
	}
	for c := range p.announced {
		if !current[c] {
			delete(p.announced, c) // unpinned
		}
	}
	p.mu.Unlock()

	sem := make(chan struct{}, p.opt.Parallel)
	var wg sync.WaitGroup
	for _, c := range due {
		select {
		case <-ctx.Done():
			wg.Wait()
			return next
		case sem <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := p.opt.DHT.Announce(ctx, Key(c), p.opt.Port, p.opt.Port == 0)
			if err != nil {
				if ctx.Err() == nil {
					p.opt.Logger.Info("providers: announce", "cid", c, "err", err)
				}
				return // tried again next round
			}
			p.opt.Logger.Debug("providers: announced", "cid", c, "stored", res.Stored)
			p.mu.Lock()
			p.announced[c] = time.Now()
			p.mu.Unlock()
		}()
	}
	wg.Wait()
	// What failed is due again: retry it in a minute, not an Interval.
	p.mu.Lock()
	for _, c := range due {
		if _, ok := p.announced[c]; !ok {
			next = min(next, time.Minute)
		}
	}
	p.mu.Unlock()
	return next
}

// Announced reports when root c was last announced, if it was.
func (p *Providers) Announced(c cid.Cid) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.announced[c]
	return t, ok
}

// Find returns the addresses of peers that announced c.
func (p *Providers) Find(ctx context.Context, c cid.Cid) ([]netip.AddrPort, error) {
	addrs, _, err := p.opt.DHT.GetPeers(ctx, Key(c))
	if err != nil && len(addrs) == 0 {
		return nil, fmt.Errorf("find providers of %s: %w", c, err)
	}
	return addrs, nil
}
