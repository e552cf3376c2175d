package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
)

// GCLock lets open batches hold off a collection's sweep. Batches take it
// shared, a collection exclusively. New batches are let in while a
// collection waits (so a goroutine holding one batch may open another
// without deadlock); they wait only while a collection holds it. The zero
// value is ready to use.
type GCLock struct {
	mu      sync.Mutex
	readers int
	writer  bool
	changed chan struct{} // closed and replaced on every release
}

func (l *GCLock) wait() <-chan struct{} {
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

func (l *GCLock) broadcast() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// RLock takes the lock shared, waiting while a collection holds it.
func (l *GCLock) RLock(ctx context.Context) error {
	for {
		l.mu.Lock()
		if !l.writer {
			l.readers++
			l.mu.Unlock()
			return nil
		}
		ch := l.wait()
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for garbage collection: %w", ctx.Err())
		}
	}
}

// RUnlock releases a shared hold.
func (l *GCLock) RUnlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.readers <= 0 {
		panic("store: GCLock.RUnlock without RLock")
	}
	l.readers--
	if l.readers == 0 {
		l.broadcast()
	}
}

// Lock takes the lock exclusively, waiting until no batch is open.
func (l *GCLock) Lock(ctx context.Context) error {
	for {
		l.mu.Lock()
		if !l.writer && l.readers == 0 {
			l.writer = true
			l.mu.Unlock()
			return nil
		}
		ch := l.wait()
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for open batches: %w", ctx.Err())
		}
	}
}

// Unlock releases an exclusive hold.
func (l *GCLock) Unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.writer {
		panic("store: GCLock.Unlock without Lock")
	}
	l.writer = false
	l.broadcast()
}

// RootSets holds the root sets registered with Store.AddRoots. The zero
// value is ready to use.
type RootSets struct {
	mu   sync.Mutex
	sets map[string]func(ctx context.Context) ([]cid.Cid, error)
}

// Add registers (or replaces) the root set called name.
func (r *RootSets) Add(name string, roots func(ctx context.Context) ([]cid.Cid, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sets == nil {
		r.sets = make(map[string]func(ctx context.Context) ([]cid.Cid, error))
	}
	if roots == nil {
		delete(r.sets, name)
		return
	}
	r.sets[name] = roots
}

// Collect calls every registered set, in name order, and returns all
// their roots.
func (r *RootSets) Collect(ctx context.Context) ([]cid.Cid, error) {
	r.mu.Lock()
	names := make([]string, 0, len(r.sets))
	for n := range r.sets {
		names = append(names, n)
	}
	fns := make([]func(ctx context.Context) ([]cid.Cid, error), len(names))
	sort.Strings(names)
	for i, n := range names {
		fns[i] = r.sets[n]
	}
	r.mu.Unlock()
	var all []cid.Cid
	for i, fn := range fns {
		roots, err := fn(ctx)
		if err != nil {
			return nil, fmt.Errorf("root set %q: %w", names[i], err)
		}
		all = append(all, roots...)
	}
	return all, nil
}

// Marker finds the blocks reachable from a collection's roots: the mark
// phase of a mark-and-sweep collection. Marking can run in two rounds:
// one while batches still write, and a second, with the GCLock held, from
// the roots as they are then and the blocks found missing in the first.
type Marker struct {
	// Get reads a block's bytes for its links. ErrNotFound counts as
	// missing; any other error stops the mark, ErrRefChanged included: the
	// links of a node that cannot be read are unknown, and sweeping without
	// them could remove pinned blocks.
	Get func(ctx context.Context, c cid.Cid) ([]byte, error)

	live     map[string]struct{} // multihashes to keep
	explored map[string]struct{} // non-raw CIDs whose links were followed
	missing  []cid.Cid           // CIDs visited but absent
}

// Live reports whether the block with multihash mh must be kept.
func (m *Marker) Live(mh []byte) bool {
	_, ok := m.live[string(mh)]
	return ok
}

// LiveCount returns how many blocks are marked live.
func (m *Marker) LiveCount() int { return len(m.live) }

// MarkDirect keeps the block c itself and none of its links.
func (m *Marker) MarkDirect(c cid.Cid) {
	m.init()
	m.live[string(c.Hash())] = struct{}{}
}

func (m *Marker) init() {
	if m.live == nil {
		m.live = make(map[string]struct{})
		m.explored = make(map[string]struct{})
	}
}

// MarkPins marks every pin: recursive ones with their DAGs.
func (m *Marker) MarkPins(ctx context.Context, pins []Pin) error {
	var rec []cid.Cid
	for _, p := range pins {
		if p.Mode == PinDirect {
			m.MarkDirect(p.Cid)
			continue
		}
		rec = append(rec, p.Cid)
	}
	return m.MarkRecursive(ctx, rec)
}

// MarkRecursive keeps each root and every block reachable from it.
func (m *Marker) MarkRecursive(ctx context.Context, roots []cid.Cid) error {
	m.init()
	stack := append([]cid.Cid(nil), roots...)
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mark: %w", err)
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		m.live[string(c.Hash())] = struct{}{}
		if c.Type() == unixfs.CodecRaw {
			continue
		}
		key := c.KeyString()
		if _, ok := m.explored[key]; ok {
			continue
		}
		data, err := m.Get(ctx, c)
		if errors.Is(err, ErrNotFound) {
			m.missing = append(m.missing, c)
			continue
		}
		if err != nil {
			return fmt.Errorf("mark: read %s: %w", c, err)
		}
		links, err := unixfs.Links(c, data)
		if err != nil {
			return fmt.Errorf("mark: block %s is reachable but its links cannot be read: %w", c, err)
		}
		m.explored[key] = struct{}{}
		stack = append(stack, links...)
	}
	return nil
}

// Remark runs the second round: it marks from roots (the pins' and root
// sets' current roots) and retries every block that was missing, since a
// batch may have added it meanwhile.
func (m *Marker) Remark(ctx context.Context, pins []Pin, roots []cid.Cid) error {
	retry := m.missing
	m.missing = nil
	if err := m.MarkPins(ctx, pins); err != nil {
		return err
	}
	return m.MarkRecursive(ctx, append(roots, retry...))
}
