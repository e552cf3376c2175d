package badgerstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
)

// pinMode returns how c is pinned, or 0.
func pinMode(txn *badger.Txn, c cid.Cid) (store.PinMode, error) {
	for _, m := range []store.PinMode{store.PinRecursive, store.PinDirect} {
		_, err := txn.Get(pinKey(c, m))
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return 0, err
		}
	}
	return 0, nil
}

func pinKey(c cid.Cid, mode store.PinMode) []byte {
	if mode == store.PinRecursive {
		return key(prefixRecursive, c.Bytes())
	}
	return key(prefixDirect, c.Bytes())
}

func checkPin(c cid.Cid, mode store.PinMode) error {
	if mode != store.PinRecursive && mode != store.PinDirect {
		return fmt.Errorf("pin %s: unknown mode %d", c, mode)
	}
	return store.CheckCid(c)
}

// pinEntries returns the writes that pin c: blind writes, so pinning never
// conflicts. A recursive pin drops a direct one; a direct pin beside a
// recursive one is shadowed by it.
func pinEntries(txn *badger.Txn, c cid.Cid, mode store.PinMode) error {
	if err := txn.Set(pinKey(c, mode), nil); err != nil {
		return err
	}
	if mode == store.PinRecursive {
		return txn.Delete(pinKey(c, store.PinDirect))
	}
	return nil
}

// Pin pins c.
func (s *Store) Pin(ctx context.Context, c cid.Cid, mode store.PinMode) error {
	if err := checkPin(c, mode); err != nil {
		return err
	}
	if err := s.gc.RLock(ctx); err != nil {
		return fmt.Errorf("pin %s: %w", c, err)
	}
	defer s.gc.RUnlock()
	if err := s.room(0); err != nil {
		return fmt.Errorf("pin %s: %w", c, err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return pinEntries(txn, c, mode) }); err != nil {
		return fmt.Errorf("pin %s: %w", c, err)
	}
	s.watch.PinsChanged()
	return nil
}

// Unpin removes the pin on c, whatever its mode.
func (s *Store) Unpin(ctx context.Context, c cid.Cid) error {
	if err := s.roomToFree(); err != nil {
		return fmt.Errorf("unpin %s: %w", c, err)
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		mode, err := pinMode(txn, c)
		if err != nil {
			return err
		}
		if mode == 0 {
			return fmt.Errorf("not pinned: %w", store.ErrNotFound)
		}
		if err := txn.Delete(pinKey(c, store.PinRecursive)); err != nil {
			return err
		}
		return txn.Delete(pinKey(c, store.PinDirect))
	})
	if err != nil {
		return fmt.Errorf("unpin %s: %w", c, err)
	}
	s.watch.PinsChanged()
	return nil
}

// WatchPins returns the pins' state; see store.Store.
func (s *Store) WatchPins() store.PinState { return s.watch.WatchPins() }

// PinGen returns the pins' generation and the count of block writes.
func (s *Store) PinGen() (gen, writes uint64) { return s.watch.PinGen() }

// Pins lists every pin: recursive ones, then direct ones, each in CID byte
// order.
func (s *Store) Pins(ctx context.Context) ([]store.Pin, error) {
	var pins []store.Pin
	rec := make(map[string]bool)
	for _, mode := range []store.PinMode{store.PinRecursive, store.PinDirect} {
		prefix := pinKey(cid.Undef, mode)
		err := s.iterate(ctx, prefix, false, func(item *badger.Item) error {
			raw := item.Key()[len(prefix):]
			if rec[string(raw)] {
				return nil
			}
			c, err := cid.Cast(raw)
			if err != nil {
				return fmt.Errorf("pin key %x: %w", item.Key(), err)
			}
			if mode == store.PinRecursive {
				rec[string(raw)] = true
			}
			pins = append(pins, store.Pin{Cid: c, Mode: mode})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list pins: %w", err)
		}
	}
	return pins, nil
}
