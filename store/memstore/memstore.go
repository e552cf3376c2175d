package memstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
)

// Options tunes a Store; the zero value is the default.
type Options struct {
	// HashOnRead verifies copies on every Get, as references always are.
	HashOnRead bool
}

// Store is an in-memory block store. It is safe for concurrent use.
type Store struct {
	opt   Options
	gc    store.GCLock
	roots store.RootSets
	watch store.PinWatch

	mu     sync.RWMutex
	closed bool
	blocks map[string][]byte    // multihash -> copy
	refs   map[string]store.Ref // multihash -> reference
	pins   map[string]store.Pin // CID bytes -> pin
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New(opt Options) *Store {
	return &Store{
		opt:    opt,
		blocks: make(map[string][]byte),
		refs:   make(map[string]store.Ref),
		pins:   make(map[string]store.Pin),
	}
}

var errClosed = errors.New("memstore: store is closed")

// Get returns a copy of block c, reading and checking a reference.
func (s *Store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if err := store.CheckCid(c); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, errClosed
	}
	data, isCopy := s.blocks[string(c.Hash())]
	ref, isRef := s.refs[string(c.Hash())]
	s.mu.RUnlock()
	switch {
	case isCopy:
		if s.opt.HashOnRead {
			if err := store.VerifyBlock(c, data); err != nil {
				return nil, err
			}
		}
		return append([]byte(nil), data...), nil
	case isRef:
		data, err := store.ReadRef(c, ref)
		if err != nil && store.RefStale(err) && c.Type() == cid.Raw {
			// Its file moved or changed: drop it, the block is missing.
			s.mu.Lock()
			if cur, ok := s.refs[string(c.Hash())]; ok && cur == ref {
				delete(s.refs, string(c.Hash()))
			}
			s.mu.Unlock()
			return nil, fmt.Errorf("%w (reference dropped): %w", err, store.ErrNotFound)
		}
		return data, err
	}
	return nil, fmt.Errorf("block %s: %w", c, store.ErrNotFound)
}

// Has reports whether block c is held as a copy or a reference.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if err := store.CheckCid(c); err != nil {
		return false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, isCopy := s.blocks[string(c.Hash())]
	_, isRef := s.refs[string(c.Hash())]
	return isCopy || isRef, nil
}

// Size returns the length of block c.
func (s *Store) Size(ctx context.Context, c cid.Cid) (int, error) {
	if err := store.CheckCid(c); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if data, ok := s.blocks[string(c.Hash())]; ok {
		return len(data), nil
	}
	if ref, ok := s.refs[string(c.Hash())]; ok {
		return int(ref.Length), nil
	}
	return 0, fmt.Errorf("block %s: %w", c, store.ErrNotFound)
}

// Delete removes block c unless it is pinned itself.
func (s *Store) Delete(ctx context.Context, c cid.Cid) error {
	if err := store.CheckCid(c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pins[c.KeyString()]; ok {
		return fmt.Errorf("delete %s: %w %s", c, store.ErrPinned, p.Mode)
	}
	delete(s.blocks, string(c.Hash()))
	delete(s.refs, string(c.Hash()))
	return nil
}

// AllKeys calls fn with the multihash of every block, in no set order.
func (s *Store) AllKeys(ctx context.Context, fn func(mh []byte) error) error {
	s.mu.RLock()
	keys := make([]string, 0, len(s.blocks)+len(s.refs))
	for k := range s.blocks {
		keys = append(keys, k)
	}
	for k := range s.refs {
		if _, dup := s.blocks[k]; !dup {
			keys = append(keys, k)
		}
	}
	s.mu.RUnlock()
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn([]byte(k)); err != nil {
			return err
		}
	}
	return nil
}

// Pin pins c; a recursive pin replaces a direct one, never the reverse.
func (s *Store) Pin(ctx context.Context, c cid.Cid, mode store.PinMode) error {
	if err := checkPin(c, mode); err != nil {
		return err
	}
	if err := s.gc.RLock(ctx); err != nil {
		return err
	}
	defer s.gc.RUnlock()
	s.mu.Lock()
	s.pinLocked(c, mode)
	s.mu.Unlock()
	s.watch.PinsChanged()
	return nil
}

func checkPin(c cid.Cid, mode store.PinMode) error {
	if mode != store.PinRecursive && mode != store.PinDirect {
		return fmt.Errorf("pin %s: unknown mode %d", c, mode)
	}
	return store.CheckCid(c)
}

func (s *Store) pinLocked(c cid.Cid, mode store.PinMode) {
	if old, ok := s.pins[c.KeyString()]; ok && old.Mode == store.PinRecursive {
		return
	}
	s.pins[c.KeyString()] = store.Pin{Cid: c, Mode: mode}
}

// Unpin removes the pin on c.
func (s *Store) Unpin(ctx context.Context, c cid.Cid) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pins[c.KeyString()]; !ok {
		return fmt.Errorf("unpin %s: not pinned: %w", c, store.ErrNotFound)
	}
	delete(s.pins, c.KeyString())
	s.watch.PinsChanged()
	return nil
}

// WatchPins returns the pins' state; see store.Store.
func (s *Store) WatchPins() store.PinState { return s.watch.WatchPins() }

// PinGen returns the pins' generation and the count of block writes.
func (s *Store) PinGen() (gen, writes uint64) { return s.watch.PinGen() }

// Pins lists every pin, ordered by CID bytes.
func (s *Store) Pins(ctx context.Context) ([]store.Pin, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.pins))
	for k := range s.pins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]store.Pin, len(keys))
	for i, k := range keys {
		out[i] = s.pins[k]
	}
	return out, nil
}

// AddRoots registers a root set that collections keep.
func (s *Store) AddRoots(name string, roots func(ctx context.Context) ([]cid.Cid, error)) {
	s.roots.Add(name, roots)
}

// GC removes every block not reachable from a pin or a root set.
func (s *Store) GC(ctx context.Context) (store.GCStats, error) {
	m := &store.Marker{Get: s.Get}
	pins, _ := s.Pins(ctx)
	roots, err := s.roots.Collect(ctx)
	if err != nil {
		return store.GCStats{}, fmt.Errorf("gc: %w", err)
	}
	if err := m.MarkPins(ctx, pins); err != nil {
		return store.GCStats{}, fmt.Errorf("gc: %w", err)
	}
	if err := m.MarkRecursive(ctx, roots); err != nil {
		return store.GCStats{}, fmt.Errorf("gc: %w", err)
	}
	if err := s.gc.Lock(ctx); err != nil {
		return store.GCStats{}, fmt.Errorf("gc: %w", err)
	}
	defer s.gc.Unlock()
	pins, _ = s.Pins(ctx)
	if roots, err = s.roots.Collect(ctx); err != nil {
		return store.GCStats{}, fmt.Errorf("gc: %w", err)
	}
	if err := m.Remark(ctx, pins, roots); err != nil {
		return store.GCStats{}, fmt.Errorf("gc: %w", err)
	}
	var st store.GCStats
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, data := range s.blocks {
		if !m.Live([]byte(k)) {
			delete(s.blocks, k)
			st.Blocks++
			st.Bytes += int64(len(data))
		}
	}
	for k, ref := range s.refs {
		if !m.Live([]byte(k)) {
			delete(s.refs, k)
			st.Blocks++
			st.Bytes += int64(ref.Length)
		}
	}
	return st, nil
}

// Stats counts blocks, references, bytes and pins.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := store.Stats{Blocks: len(s.blocks), Pins: len(s.pins)}
	for _, d := range s.blocks {
		st.DataBytes += int64(len(d))
	}
	for k, r := range s.refs {
		if _, dup := s.blocks[k]; dup {
			continue
		}
		st.Refs++
		st.RefBytes += int64(r.Length)
	}
	st.DiskBytes = 0
	return st, nil
}

// Close marks the store closed; it keeps nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// NewBatch starts a batch whose writes apply at Commit.
func (s *Store) NewBatch(ctx context.Context) store.Batch {
	b := &batch{s: s, ctx: ctx}
	if err := s.gc.RLock(ctx); err != nil {
		b.err = err
		b.done = true
		return b
	}
	return b
}

type op struct {
	c    cid.Cid
	data []byte
	ref  *store.Ref
	pin  store.PinMode
}

type batch struct {
	s    *Store
	ctx  context.Context
	ops  []op
	err  error
	done bool
}

var errBatchDone = errors.New("memstore: batch already committed or discarded")

func (b *batch) check(c cid.Cid) error {
	if b.done {
		if b.err != nil {
			return b.err
		}
		return errBatchDone
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	return store.CheckCid(c)
}

func (b *batch) Put(c cid.Cid, data []byte) error {
	if err := b.check(c); err != nil {
		return fmt.Errorf("put %s: %w", c, err)
	}
	b.ops = append(b.ops, op{c: c, data: append(make([]byte, 0, len(data)), data...)})
	return nil
}

func (b *batch) PutRef(c cid.Cid, ref store.Ref) error {
	if err := b.check(c); err != nil {
		return fmt.Errorf("put reference %s: %w", c, err)
	}
	if err := store.CheckRef(ref); err != nil {
		return fmt.Errorf("put reference %s: %w", c, err)
	}
	b.ops = append(b.ops, op{c: c, ref: &ref})
	return nil
}

func (b *batch) Pin(c cid.Cid, mode store.PinMode) error {
	if err := b.check(c); err != nil {
		return fmt.Errorf("pin %s: %w", c, err)
	}
	if err := checkPin(c, mode); err != nil {
		return err
	}
	b.ops = append(b.ops, op{c: c, pin: mode})
	return nil
}

func (b *batch) Commit() error {
	if b.done {
		if b.err != nil {
			return b.err
		}
		return errBatchDone
	}
	b.done = true
	defer b.s.gc.RUnlock()
	if err := b.ctx.Err(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	pinned, wrote := false, false
	defer func() {
		if wrote {
			s.watch.BlocksWritten()
		}
		if pinned {
			s.watch.PinsChanged()
		}
	}()
	for _, o := range b.ops {
		k := string(o.c.Hash())
		switch {
		case o.pin != 0:
			s.pinLocked(o.c, o.pin)
			pinned = true
			continue
		case o.ref != nil:
			if _, isCopy := s.blocks[k]; !isCopy {
				s.refs[k] = *o.ref
			}
		default:
			s.blocks[k] = o.data
			delete(s.refs, k)
		}
		wrote = true
	}
	b.ops = nil
	return nil
}

func (b *batch) Discard() {
	if b.done {
		return
	}
	b.done = true
	b.ops = nil
	b.s.gc.RUnlock()
}
