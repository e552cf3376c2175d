package badgerstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
)

// AddRoots registers a root set that collections keep.
func (s *Store) AddRoots(name string, roots func(ctx context.Context) ([]cid.Cid, error)) {
	s.roots.Add(name, roots)
}

// GC removes every block not reachable from a pin or a registered root
// set. It marks once while batches run, then waits for open batches to
// finish, holds new ones off, marks again from the pins and roots as they
// are then, and sweeps. Disk space of removed copies comes back as badger
// rewrites its value log, which GC asks for but cannot force.
func (s *Store) GC(ctx context.Context) (store.GCStats, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	st, err := s.collect(ctx)
	if err != nil {
		return store.GCStats{}, fmt.Errorf("gc: %w", err)
	}
	if st.Blocks > 0 {
		s.shrinkValueLog(ctx)
	}
	return st, nil
}

func (s *Store) collect(ctx context.Context) (store.GCStats, error) {
	m := &store.Marker{Get: s.Get}
	pins, err := s.Pins(ctx)
	if err != nil {
		return store.GCStats{}, err
	}
	roots, err := s.roots.Collect(ctx)
	if err != nil {
		return store.GCStats{}, err
	}
	if err := m.MarkPins(ctx, pins); err != nil {
		return store.GCStats{}, err
	}
	if err := m.MarkRecursive(ctx, roots); err != nil {
		return store.GCStats{}, err
	}

	if err := s.gc.Lock(ctx); err != nil {
		return store.GCStats{}, err
	}
	defer s.gc.Unlock()
	if pins, err = s.Pins(ctx); err != nil {
		return store.GCStats{}, err
	}
	if roots, err = s.roots.Collect(ctx); err != nil {
		return store.GCStats{}, err
	}
	if err := m.Remark(ctx, pins, roots); err != nil {
		return store.GCStats{}, err
	}
	return s.sweep(ctx, m)
}

// sweep deletes every block m did not mark.
func (s *Store) sweep(ctx context.Context, m *store.Marker) (store.GCStats, error) {
	var st store.GCStats
	if err := s.roomToFree(); err != nil {
		return st, err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, p := range [][]byte{prefixBlock, prefixRef} {
		err := s.iterate(ctx, p, false, func(item *badger.Item) error {
			if m.Live(item.Key()[len(p):]) {
				return nil
			}
			size := 0
			if p[0] == prefixBlock[0] {
				size = valueSize(item)
			} else if err := item.Value(func(v []byte) error {
				r, err := decodeRef(v)
				size = int(r.Length)
				return err
			}); err != nil {
				return err
			}
			if err := wb.Delete(item.KeyCopy(nil)); err != nil {
				return err
			}
			st.Blocks++
			st.Bytes += int64(size)
			return nil
		})
		if err != nil {
			return store.GCStats{}, fmt.Errorf("sweep: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return store.GCStats{}, fmt.Errorf("sweep: %w", err)
	}
	return st, nil
}

// shrinkValueLog asks badger to rewrite value log files that are mostly
// garbage, until it finds none or ctx ends.
func (s *Store) shrinkValueLog(ctx context.Context) {
	for ctx.Err() == nil {
		// A rewrite writes a value log file's live part (at most half
		// of it, by the ratio) anew before the old file goes.
		if err := s.roomToRewrite(); err != nil {
			s.opt.Logger.Warn("badger value log gc skipped", "err", err)
			return
		}
		err := s.db.RunValueLogGC(0.5)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.opt.Logger.Warn("badger value log gc", "err", err)
		}
		return
	}
}
