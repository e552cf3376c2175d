package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/chunker/unixfs"
	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/diskfree"
)

// Options tunes a Store; the zero value suits a small machine.
type Options struct {
	// HashOnRead verifies copied blocks on every Get (references are
	// always verified). Off by default, as in kubo.
	HashOnRead bool
	// SyncWrites makes every commit durable before it returns. Off by
	// default: data is flushed on Close.
	SyncWrites bool
	// Logger receives badger's warnings and errors; nil means slog.Default.
	Logger *slog.Logger
	// MinFree is the free space kept on the store's filesystem: a write
	// that would go below it fails with an error wrapping syscall.ENOSPC.
	// Zero means DefaultMinFree.
	MinFree diskfree.Floor
}

// valueThreshold is the size from which badger keeps values in its value
// log rather than in the LSM tree. Block sizes are computed from it.
const valueThreshold = 1 << 10

// memTableSize is badger's memtable size. Blocks over valueThreshold live
// in the value log, so a memtable holds only keys, references and small
// nodes. Its arena (about 1.3 x this, on the Go heap) and its write-ahead
// log (2 x this, mmapped) stay resident as they fill, and a restart
// replays the log into a new arena. Flushing one builds its table in
// memory, about five times its size at the peak (a 100,000-file sync
// showed 44 MiB for flushes of 8 MiB ones). 4 MiB (badger: 64) keeps an
// idle daemon's RSS and a busy one's peak small, and its transaction
// limit (15 %) above the batch's flushEstimate.
const memTableSize = 4 << 20

// tableSize is the size of the tables compactions write (badger: 2 MiB,
// doubling per level; here the same on every level). A compaction builds
// up to five at once in memory on each of the two compactors, and each
// builder grows to a few times its table: 40 MiB of a 100,000-file
// sync's peak. A store of a few hundred MiB of keys and references is a
// few hundred tables.
const tableSize = 1 << 20

// level0Tables is how many memtable flushes level 0 holds before they
// are compacted into level 1 (badger: 5, stalling writes at 15; here at
// level0Tables+10), and baseLevelSize is level 1's target size (badger:
// 10 MiB). With 4 MiB memtables badger's shape compacts level 0 into a
// full level 1 every 20 MiB of keys and rewrites level 1 each time: in
// a profile of a 100,000-file sync's receiver, compactions' table
// builds and msyncs took 6.8 s of CPU. Ten flushes into a 40 MiB level 1
// do that less often: the receiver's peak RSS in that sync went from
// 189-205 MiB to 164-170 MiB (and to 166-171 MiB for both daemons with
// the daemon's 128 MiB heap limit, 182-192 MiB with badger's shape), at
// the same speed. A restart's read of level 0 stays small: ten tables
// of a few MiB.
const (
	level0Tables  = 10
	baseLevelSize = 40 << 20
)

// maxValueLogFile is the size of one value log file (badger: 1 GiB), on
// a filesystem of 8 GiB or more; on a smaller one a file is 1/32 of it, at
// least minValueLogFile. A collection gets disk space back by rewriting
// whole files, which needs free space for a file's live part: smaller
// files need less room to free room, so a full disk can be recovered from.
const (
	maxValueLogFile = 256 << 20
	minValueLogFile = 8 << 20
)

// valueLogFileSize returns the value log file size for the filesystem
// holding dir.
func valueLogFileSize(dir string) int64 {
	sp, ok, err := diskfree.Stat(dir)
	if err != nil || !ok {
		return maxValueLogFile
	}
	return min(max(int64(sp.Total/32), minValueLogFile), maxValueLogFile)
}

// Store is a store.Store on badger, plus a key-value namespace (KV). It is
// safe for concurrent use.
type Store struct {
	db    *badger.DB
	dir   string
	opt   Options
	gc    store.GCLock
	gcMu  sync.Mutex // one collection at a time
	roots store.RootSets
	watch store.PinWatch
	bufs  bufPool
	refs  store.RefFiles // the files references point into, held open a moment

	readOnly error        // set when opened read-only on a full disk: what writes return
	vlogSize int64        // badger's value log file size
	mapDir   string       // dir as the kernel names it, for trimMapped
	written  atomic.Int64 // bytes batches have written, to pace trimMapped
	dirTime  atomic.Int64 // the directory's mtime at the last TrimChanged
	closed   atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database in dir.
func Open(dir string, opt Options) (*Store, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	ro := openMode(dir)
	bo := badgerOptions(dir, opt)
	if ro != nil {
		opt.Logger.Warn(ro.Error())
		bo = bo.WithReadOnly(true)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", dir, err)
	}
	mapDir, err := filepath.Abs(dir)
	if err == nil {
		mapDir, err = filepath.EvalSymlinks(mapDir)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store in %s: %w", dir, err)
	}
	return &Store{db: db, dir: dir, opt: opt, mapDir: mapDir, readOnly: ro, vlogSize: bo.ValueLogFileSize}, nil
}

// OpenBadger opens the badger database in dir with the options Open uses,
// for benchmarks that compare the store with badger itself.
func OpenBadger(dir string, opt Options) (*badger.DB, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return badger.Open(badgerOptions(dir, opt))
}

// Trim takes every mapped page of the store's files (value log, tables,
// memtable logs) out of this process's resident memory: a daemon calls it
// while it syncs and once it is idle, so that what badger read or wrote
// through its maps stops counting as the daemon's own. The pages stay in
// the page cache; the next access maps them back without a disk read.
func (s *Store) Trim() { unmapResident(s.mapDir) }

// TrimChanged is Trim when badger made or removed a file since the last
// TrimChanged (its directory's modification time moved): compactions
// and memtable flushes go on after the writes that caused them, and
// every table they read or write becomes resident through its map. It
// reports whether it trimmed; a daemon calls it often, and it costs a
// stat when nothing changed.
func (s *Store) TrimChanged() bool {
	fi, err := os.Stat(s.mapDir)
	if err != nil {
		return false
	}
	t := fi.ModTime().UnixNano()
	if s.dirTime.Swap(t) == t {
		return false
	}
	s.Trim()
	return true
}

// trimEvery is how many bytes batches write between two trimMapped calls.
const trimEvery = 64 << 20

// wrote counts n bytes written by a batch and trims the mapped value log
// every trimEvery bytes.
func (s *Store) wrote(n int) {
	total := s.written.Add(int64(n))
	if total/trimEvery != (total-int64(n))/trimEvery {
		trimMapped(s.mapDir)
	}
}

// badgerOptions returns badger's options tuned for a machine with two
// cores: large values go to the value log uncompressed, the index cache
// is small, and only two memtables and two compactors run. There is no
// block cache: with neither compression nor encryption a table's block
// is read from its mapped file as it is, and badger's cache in front of
// that only adds work to every lookup (its documentation says so).
func badgerOptions(dir string, opt Options) badger.Options {
	o := badger.DefaultOptions(dir).
		WithValueThreshold(valueThreshold).
		WithMemTableSize(memTableSize).
		WithValueLogFileSize(valueLogFileSize(dir)).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(8 << 20).
		WithBaseTableSize(tableSize).
		WithNumMemtables(2).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithSyncWrites(opt.SyncWrites).
		WithMetricsEnabled(false).
		WithLogger(slogLogger{opt.Logger})
	o.TableSizeMultiplier = 1
	o.NumLevelZeroTables = level0Tables
	o.NumLevelZeroTablesStall = level0Tables + 10
	o.BaseLevelSize = baseLevelSize
	return o
}

// slogLogger routes badger's log lines to slog, keeping warnings and errors.
type slogLogger struct{ l *slog.Logger }

func msg(format string, args ...any) string {
	return "badger: " + strings.TrimSpace(fmt.Sprintf(format, args...))
}

func (s slogLogger) Errorf(format string, args ...any)   { s.l.Error(msg(format, args...)) }
func (s slogLogger) Warningf(format string, args ...any) { s.l.Warn(msg(format, args...)) }
func (s slogLogger) Infof(string, ...any)                {}
func (s slogLogger) Debugf(string, ...any)               {}

// Close flushes everything to disk and closes the database. Calls after
// the first do nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.refs.Close()
	serr := s.db.Sync()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.dir, err)
	}
	if serr != nil {
		return fmt.Errorf("close store %s: sync: %w", s.dir, serr)
	}
	return nil
}

// Key prefixes; see the package comment.
var (
	prefixBlock     = []byte("b/")
	prefixRef       = []byte("r/")
	prefixRecursive = []byte("p/r/")
	prefixDirect    = []byte("p/d/")
	prefixKV        = []byte("k/")
)

func key(prefix, id []byte) []byte {
	k := make([]byte, 0, len(prefix)+len(id))
	return append(append(k, prefix...), id...)
}

// valueSize returns the exact length of a block value from its item,
// without reading a value held in the value log. Badger's ValueSize is
// exact for values kept in the tree (shorter than valueThreshold); for
// values in the value log it subtracts a fixed 6-byte guess for the
// entry header, whose real length depends on the varint lengths of the key
// and value lengths. Undo the guess: the header is meta, user meta,
// uvarint(key length + 8), uvarint(value length), uvarint(expiry = 0).
func valueSize(item *badger.Item) int {
	approx := item.ValueSize()
	if approx < valueThreshold {
		return int(approx)
	}
	klen := uint64(len(item.Key()) + 8)
	// approx = 2 + ulen(klen) + ulen(v) + 1 + v - 6
	rest := int(approx) + 6 - 2 - 1 - uvarintLen(klen) // = ulen(v) + v
	for n := 1; n <= binary.MaxVarintLen64; n++ {
		if v := rest - n; v >= 0 && uvarintLen(uint64(v)) == n {
			return v
		}
	}
	return int(approx)
}

func uvarintLen(v uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], v)
}

// Get returns a copy of block c; a reference is read and verified.
func (s *Store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return s.GetInto(ctx, c, nil)
}

// GetInto is Get reading into buf's memory when its capacity is large
// enough, so that a caller serving many blocks (the swarm) can reuse
// buffers instead of allocating one per block.
func (s *Store) GetInto(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	return s.get(ctx, c, buf, false)
}

// GetForPeer is GetInto for a block that goes to a peer, which verifies it
// itself: a block read through a reference whose file's size, mtime, ctime
// and inode are unchanged is not hashed again (store.ReadRefForPeer).
func (s *Store) GetForPeer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	return s.get(ctx, c, buf, true)
}

func (s *Store) get(ctx context.Context, c cid.Cid, buf []byte, forPeer bool) ([]byte, error) {
	if err := store.CheckCid(c); err != nil {
		return nil, err
	}
	var data []byte
	var ref *store.Ref
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key(prefixBlock, c.Hash()))
		if err == nil {
			data, err = item.ValueCopy(buf)
			return err
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if item, err = txn.Get(key(prefixRef, c.Hash())); err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			r, err := decodeRef(v)
			ref = &r
			return err
		})
	})
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return nil, fmt.Errorf("block %s: %w", c, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("read block %s: %w", c, err)
	case ref != nil:
		read := store.ReadRefInto
		if forPeer {
			read = s.refs.ReadRefForPeer
		}
		data, err := read(c, *ref, buf)
		if err != nil && store.RefStale(err) && c.Type() == unixfs.CodecRaw {
			return nil, s.dropRef(c, *ref, err)
		}
		return data, err
	case s.opt.HashOnRead:
		if err := store.VerifyBlock(c, data); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// dropRef deletes the reference to leaf c that failed with err, unless it
// was replaced meanwhile: its file moved or changed, so the block is
// missing now (a fetch brings it again from peers). The error returned
// wraps err and store.ErrNotFound. Only raw leaves are dropped: a dag-pb
// node's links would be lost with it, and garbage collection must stop
// on it rather than sweep what it links to.
func (s *Store) dropRef(c cid.Cid, ref store.Ref, err error) error {
	k := key(prefixRef, c.Hash())
	want := encodeRef(ref)
	derr := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if r, err := decodeRef(v); err != nil || !bytes.Equal(encodeRef(r), want) {
				return nil // replaced meanwhile: keep it
			}
			return txn.Delete(k)
		})
	})
	if derr != nil && !errors.Is(derr, badger.ErrKeyNotFound) {
		s.opt.Logger.Warn("cannot drop a reference that no longer reads back", "cid", c, "err", derr)
		return err
	}
	s.opt.Logger.Info("dropped a reference that no longer reads back; the block is missing now", "cid", c, "err", err)
	return fmt.Errorf("%w (reference dropped): %w", err, store.ErrNotFound)
}

// blockKind says how a block is held.
type blockKind uint8

const (
	kindNone blockKind = iota
	kindCopy
	kindRef
)

func (s *Store) kind(txn *badger.Txn, mh []byte) (blockKind, *badger.Item, error) {
	item, err := txn.Get(key(prefixBlock, mh))
	if err == nil {
		return kindCopy, item, nil
	}
	if !errors.Is(err, badger.ErrKeyNotFound) {
		return kindNone, nil, err
	}
	item, err = txn.Get(key(prefixRef, mh))
	if err == nil {
		return kindRef, item, nil
	}
	if !errors.Is(err, badger.ErrKeyNotFound) {
		return kindNone, nil, err
	}
	return kindNone, nil, nil
}

// Has reports whether block c is held as a copy or a reference.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if err := store.CheckCid(c); err != nil {
		return false, err
	}
	var k blockKind
	err := s.db.View(func(txn *badger.Txn) (err error) {
		k, _, err = s.kind(txn, c.Hash())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("look up block %s: %w", c, err)
	}
	return k != kindNone, nil
}

// Size returns the length of block c without reading it.
func (s *Store) Size(ctx context.Context, c cid.Cid) (int, error) {
	if err := store.CheckCid(c); err != nil {
		return 0, err
	}
	size := -1
	err := s.db.View(func(txn *badger.Txn) error {
		k, item, err := s.kind(txn, c.Hash())
		switch {
		case err != nil || k == kindNone:
			return err
		case k == kindCopy:
			size = valueSize(item)
			return nil
		}
		return item.Value(func(v []byte) error {
			r, err := decodeRef(v)
			size = int(r.Length)
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("size of block %s: %w", c, err)
	}
	if size < 0 {
		return 0, fmt.Errorf("block %s: %w", c, store.ErrNotFound)
	}
	return size, nil
}

// Delete removes block c unless it is pinned itself.
func (s *Store) Delete(ctx context.Context, c cid.Cid) error {
	if err := store.CheckCid(c); err != nil {
		return err
	}
	if err := s.roomToFree(); err != nil {
		return fmt.Errorf("delete block %s: %w", c, err)
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		mode, err := pinMode(txn, c)
		if err != nil {
			return err
		}
		if mode != 0 {
			return fmt.Errorf("%w %s", store.ErrPinned, mode)
		}
		if err := txn.Delete(key(prefixBlock, c.Hash())); err != nil {
			return err
		}
		return txn.Delete(key(prefixRef, c.Hash()))
	})
	if err != nil {
		return fmt.Errorf("delete block %s: %w", c, err)
	}
	return nil
}

// AllKeys calls fn with the multihash of every block: copies first, then
// references. The slice is valid only during the call.
func (s *Store) AllKeys(ctx context.Context, fn func(mh []byte) error) error {
	for _, p := range [][]byte{prefixBlock, prefixRef} {
		err := s.iterate(ctx, p, false, func(item *badger.Item) error {
			return fn(item.Key()[len(p):])
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// iterate calls fn for every key under prefix in a read transaction.
func (s *Store) iterate(ctx context.Context, prefix []byte, values bool, fn func(*badger.Item) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		return iterateTxn(ctx, txn, prefix, values, fn)
	})
}

func iterateTxn(ctx context.Context, txn *badger.Txn, prefix []byte, values bool, fn func(*badger.Item) error) error {
	o := badger.DefaultIteratorOptions
	o.PrefetchValues = values
	o.Prefix = prefix
	it := txn.NewIterator(o)
	defer it.Close()
	for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(it.Item()); err != nil {
			return err
		}
	}
	return nil
}

// Stats counts blocks, references, their bytes and pins, and the size of
// the database on disk.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	var st store.Stats
	err := s.iterate(ctx, prefixBlock, false, func(item *badger.Item) error {
		st.Blocks++
		st.DataBytes += int64(valueSize(item))
		return nil
	})
	if err == nil {
		files := make(map[string]os.FileInfo) // stat each file once
		err = s.iterate(ctx, prefixRef, true, func(item *badger.Item) error {
			return item.Value(func(v []byte) error {
				r, err := decodeRef(v)
				if err != nil {
					return err
				}
				fi, ok := files[r.Path]
				if !ok {
					fi, _ = os.Stat(r.Path) // nil: gone
					files[r.Path] = fi
				}
				if store.RefFileChanged(r, fi) {
					st.StaleRefs++ // not held: the next read drops it
					return nil
				}
				st.Refs++
				st.RefBytes += int64(r.Length)
				return nil
			})
		})
	}
	if err == nil {
		var pins []store.Pin
		pins, err = s.Pins(ctx)
		st.Pins = len(pins)
	}
	if err != nil {
		return store.Stats{}, fmt.Errorf("store stats: %w", err)
	}
	st.DiskBytes, err = diskUsage(s.dir)
	if err != nil {
		return store.Stats{}, fmt.Errorf("store stats: %w", err)
	}
	return st, nil
}
