package swarm

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/identity"
)

// Policy says which blocks may be served to which peer. Folder sync passes
// its own, allowing folder-only blocks only on connections that proved the
// folder key. MayServe is called from connection goroutines concurrently.
type Policy interface {
	MayServe(ctx context.Context, peer identity.NodeID, c cid.Cid) bool
}

// ServeAll is the Policy that serves every block in the store to anyone.
type ServeAll struct{}

// MayServe returns true.
func (ServeAll) MayServe(context.Context, identity.NodeID, cid.Cid) bool { return true }

// PinPolicy serves, to anyone, the blocks reachable from the store's pins
// (public content). The set is rebuilt when a lookup misses and the last
// build is older than Refresh, so a new pin is served within Refresh.
type PinPolicy struct {
	Store store.Store
	// Refresh bounds how stale the set may be. Default 10 s.
	Refresh time.Duration

	mu    sync.Mutex
	set   map[string]struct{} // multihashes
	built time.Time
}

// MayServe reports whether c is reachable from a pin.
func (p *PinPolicy) MayServe(ctx context.Context, _ identity.NodeID, c cid.Cid) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.set[string(c.Hash())]; ok {
		return true
	}
	refresh := p.Refresh
	if refresh <= 0 {
		refresh = 10 * time.Second
	}
	if p.set != nil && time.Since(p.built) < refresh {
		return false
	}
	set, err := pinnedSet(ctx, p.Store)
	if err != nil {
		return false
	}
	p.set, p.built = set, time.Now()
	_, ok := p.set[string(c.Hash())]
	return ok
}

// pinnedSet walks every pin's DAG (what the store holds of it).
func pinnedSet(ctx context.Context, s store.Store) (map[string]struct{}, error) {
	pins, err := s.Pins(ctx)
	if err != nil {
		return nil, err
	}
	set := make(map[string]struct{})
	var stack []cid.Cid
	for _, pin := range pins {
		set[string(pin.Cid.Hash())] = struct{}{}
		if pin.Mode == store.PinRecursive {
			stack = append(stack, pin.Cid)
		}
	}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c.Type() != unixfs.CodecDagPB {
			continue
		}
		data, err := s.Get(ctx, c)
		if err != nil {
			continue // not held: nothing below it to serve either
		}
		links, err := unixfs.Links(c, data)
		if err != nil {
			continue
		}
		for _, l := range links {
			k := string(l.Hash())
			if _, seen := set[k]; !seen {
				set[k] = struct{}{}
				stack = append(stack, l)
			}
		}
	}
	return set, nil
}
