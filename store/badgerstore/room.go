package badgerstore

import (
	"errors"
	"fmt"

	"github.com/shoal-sync/shoal/store/diskfree"
)

// Badger writes its value log and memtable logs through memory maps: on a
// full disk a write to them is a SIGBUS, not an error. So the store keeps
// a floor of free space (Options.MinFree) and refuses a write that would
// go below it, with an error wrapping syscall.ENOSPC; what is stored stays
// readable, and writes work again once there is room.

// DefaultMinFreeBytes is the absolute part of the default floor: room for
// what badger writes besides a batch's own bytes (a memtable's log and
// its flush into a table, the batch commits in flight, new log files'
// headers), so that no write of badger's meets a full disk.
const DefaultMinFreeBytes = 2*memTableSize + maxInflight*flushBytes + 16<<20

// freeReserve is the least free space removals (deletes, unpins, a
// collection's tombstones) need: they write a few bytes to the memtable's
// log, and they are what makes room.
const freeReserve = 4 << 20

// openReserve: below this much free space the store opens read-only, as
// opening for writes writes new log files' headers through memory maps.
const openReserve = 1 << 20

// DefaultMinFree is the default floor: 1 % of the filesystem, at least
// DefaultMinFreeBytes.
var DefaultMinFree = diskfree.Floor{Percent: diskfree.DefaultPercent, Bytes: DefaultMinFreeBytes}

func (o Options) minFree() diskfree.Floor {
	if o.MinFree == (diskfree.Floor{}) {
		return DefaultMinFree
	}
	return o.MinFree
}

// room returns nil if n more bytes may be written to the store.
func (s *Store) room(n int) error {
	if s.readOnly != nil {
		return s.readOnly
	}
	if err := diskfree.Check(s.dir, uint64(max(n, 0)), s.opt.minFree()); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	return nil
}

// roomToFree returns nil if a removal may be written.
func (s *Store) roomToFree() error {
	if s.readOnly != nil {
		return s.readOnly
	}
	if err := diskfree.Check(s.dir, 0, diskfree.Floor{Bytes: freeReserve}); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	return nil
}

// openMode says whether the store in dir must open read-only: the error
// every write then returns, or nil.
func openMode(dir string) error {
	err := diskfree.Check(dir, 0, diskfree.Floor{Bytes: openReserve})
	var low *diskfree.LowSpaceError
	if errors.As(err, &low) {
		return fmt.Errorf("store %s opened read-only, the disk was full (restart once there is room): %w", dir, err)
	}
	return nil
}

// roomToRewrite returns nil if a value log rewrite may run.
func (s *Store) roomToRewrite() error {
	if s.readOnly != nil {
		return s.readOnly
	}
	if err := diskfree.Check(s.dir, uint64(s.vlogSize/2), diskfree.Floor{Bytes: freeReserve}); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	return nil
}
