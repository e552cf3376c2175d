package swarm

import (
	"context"
	"errors"
	"sync"

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
// (public content). It keeps the set of those blocks and follows the
// store's pin generation (store.Store.PinGen), so a pin or an unpin
// counts from the moment it commits, with no stale window: a new pin's
// DAG is walked and added; an unpin (or a recursive pin made direct)
// rebuilds the set from every pin, since blocks may be shared between
// pins. Only dag-pb nodes are read, never leaves. A pinned DAG the store
// held only part of when it was walked is extended when the store has
// written blocks since and a lookup misses.
type PinPolicy struct {
	Store store.Store

	mu       sync.Mutex
	built    bool
	gen      uint64                   // pin generation the set reflects
	writes   uint64                   // store writes when the frontier was last looked at
	pins     map[string]store.PinMode // by CID bytes
	set      map[string]struct{}      // multihashes reachable from pins
	explored map[string]struct{}      // multihashes of dag-pb nodes whose links are in set
	frontier map[cid.Cid]struct{}     // dag-pb nodes in set the store lacked when walked
}

// MayServe reports whether c is reachable from a pin.
func (p *PinPolicy) MayServe(ctx context.Context, _ identity.NodeID, c cid.Cid) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.update(ctx); err != nil {
		return false
	}
	if _, ok := p.set[string(c.Hash())]; ok {
		return true
	}
	if _, writes := p.Store.PinGen(); len(p.frontier) > 0 && writes != p.writes {
		p.writes = writes
		p.extend(ctx)
		_, ok := p.set[string(c.Hash())]
		return ok
	}
	return false
}

// update brings the set in line with the store's pins if they changed.
func (p *PinPolicy) update(ctx context.Context) error {
	gen, writes := p.Store.PinGen()
	if p.built && gen == p.gen {
		return nil
	}
	pins, err := p.Store.Pins(ctx)
	if err != nil {
		return err
	}
	cur := make(map[string]store.PinMode, len(pins))
	for _, pin := range pins {
		cur[string(pin.Cid.Bytes())] = pin.Mode
	}
	rebuild := !p.built
	for k, mode := range p.pins {
		if m, ok := cur[k]; !ok || (mode == store.PinRecursive && m != store.PinRecursive) {
			rebuild = true // removed, or no longer recursive
			break
		}
	}
	var added []store.Pin
	if rebuild {
		p.set = make(map[string]struct{})
		p.explored = make(map[string]struct{})
		p.frontier = make(map[cid.Cid]struct{})
		added = pins
	} else {
		for _, pin := range pins {
			if m, ok := p.pins[string(pin.Cid.Bytes())]; !ok || m != pin.Mode {
				added = append(added, pin)
			}
		}
	}
	var roots []cid.Cid
	for _, pin := range added {
		p.set[string(pin.Cid.Hash())] = struct{}{}
		if pin.Mode == store.PinRecursive {
			roots = append(roots, pin.Cid)
		}
	}
	if err := p.walk(ctx, roots); err != nil {
		p.built = false
		return err
	}
	p.pins, p.gen, p.writes, p.built = cur, gen, writes, true
	return nil
}

// extend walks on from the frontier nodes the store holds now.
func (p *PinPolicy) extend(ctx context.Context) {
	var roots []cid.Cid
	for c := range p.frontier {
		if ok, err := p.Store.Has(ctx, c); err == nil && ok {
			delete(p.frontier, c)
			roots = append(roots, c)
		}
	}
	if err := p.walk(ctx, roots); err != nil {
		p.built = false // start again on the next lookup
	}
}

// walk adds every block reachable from roots (what the store holds of
// their DAGs) to the set.
func (p *PinPolicy) walk(ctx context.Context, roots []cid.Cid) error {
	stack := append([]cid.Cid(nil), roots...)
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p.set[string(c.Hash())] = struct{}{}
		if c.Type() != unixfs.CodecDagPB {
			continue
		}
		if _, ok := p.explored[string(c.Hash())]; ok {
			continue
		}
		data, err := p.Store.Get(ctx, c)
		switch {
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrRefChanged):
			p.frontier[c] = struct{}{} // not held: nothing below it yet
			continue
		case err != nil:
			return err
		}
		links, err := unixfs.Links(c, data)
		if err != nil {
			continue // undecodable: nothing below it to serve
		}
		p.explored[string(c.Hash())] = struct{}{}
		delete(p.frontier, c)
		for _, l := range links {
			if _, seen := p.explored[string(l.Hash())]; !seen {
				stack = append(stack, l)
			}
		}
	}
	return nil
}
