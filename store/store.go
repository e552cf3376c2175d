package store

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/ipfs/go-cid"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound means the store holds no block (or key) by that name.
	ErrNotFound = errors.New("not found")
	// ErrRefChanged means a block stored as a reference could not be read
	// back as it was: the file changed, shrank or vanished, or its bytes no
	// longer hash to the block's CID. The reference is never served.
	ErrRefChanged = errors.New("referenced file changed")
	// ErrHashMismatch means bytes offered as a block do not hash to its CID.
	ErrHashMismatch = errors.New("block does not match its hash")
	// ErrPinned means an operation was refused because a pin needs the block.
	ErrPinned = errors.New("pinned")
	// ErrUnsupportedCid means a CID's multihash is not sha2-256, the only
	// hash the store accepts.
	ErrUnsupportedCid = errors.New("unsupported CID: multihash must be sha2-256")
)

// Ref says where the bytes of a block live in a file outside the store,
// and what the file was when the block was hashed: its size, mtime, ctime
// and inode (the last two zero where unknown: references recorded before
// they were kept, or a platform that does not report them). Reading it
// back checks the file still has them; a local reader also re-hashes the
// bytes, a peer (which verifies them itself) need not (ReadRefForPeer).
type Ref struct {
	Path     string    // absolute path of the file
	Offset   int64     // where the block starts in the file
	Length   uint32    // length of the block
	FileSize int64     // file size when the reference was recorded
	ModTime  time.Time // file mtime when the reference was recorded
	CTime    time.Time // file ctime then; zero: unknown, not checked
	Inode    uint64    // file inode then; 0: unknown, not checked
}

// NewRef returns the reference to length bytes at offset of the file at
// path, whose stat (taken when its bytes were hashed) is info.
func NewRef(path string, info fs.FileInfo, offset int64, length uint32) Ref {
	ctime, inode := FileID(info)
	return Ref{Path: path, Offset: offset, Length: length, FileSize: info.Size(), ModTime: info.ModTime(), CTime: ctime, Inode: inode}
}

// PinMode says what a pin keeps.
type PinMode uint8

const (
	// PinRecursive keeps the block and every block reachable from it.
	PinRecursive PinMode = iota + 1
	// PinDirect keeps only the block itself.
	PinDirect
)

func (m PinMode) String() string {
	switch m {
	case PinRecursive:
		return "recursive"
	case PinDirect:
		return "direct"
	}
	return "unknown"
}

// Pin is one pinned root.
type Pin struct {
	Cid  cid.Cid
	Mode PinMode
}

// Blocks reads blocks.
type Blocks interface {
	// Get returns the bytes of block c, a copy the caller owns. Bytes read
	// through a reference are always hashed and never returned unless they
	// match c (else ErrRefChanged); copies are hashed only where the store
	// was opened to hash on read (else ErrHashMismatch). ErrNotFound if
	// the block is not held.
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	// Has reports whether block c is held, as a copy or as a reference
	// (the referenced file is not checked).
	Has(ctx context.Context, c cid.Cid) (bool, error)
}

// Batch groups writes that are committed together. Its methods are not
// safe for concurrent use. A batch that is not committed must be
// Discarded; Discard after Commit does nothing, so `defer b.Discard()` is
// the usual pattern.
//
// Pins are applied at Commit, atomically with the last blocks and only
// after every block of the batch is written. A small batch shows nothing
// before Commit; a store may write a large one in steps to bound its memory
// (the badger store: every 4 MiB or 4096 blocks), so some of its blocks can
// be seen earlier. Blocks of a discarded batch that were already written
// are unpinned garbage for the next collection. While a batch is open a
// collection cannot sweep, so keep batches short.
type Batch interface {
	// Put stores a copy of data as block c. The caller has already hashed
	// data (Put does not re-hash it); data is copied, so the caller may
	// reuse it once Put returns. A block already held as a copy is not
	// written again; one held as a reference becomes a copy.
	Put(c cid.Cid, data []byte) error
	// PutRef stores block c as a reference into a file. A block already
	// held as a copy stays a copy.
	PutRef(c cid.Cid, ref Ref) error
	// Pin pins c in the same commit as the blocks.
	Pin(c cid.Cid, mode PinMode) error
	// Commit writes the batch. The batch cannot be used afterwards.
	Commit() error
	// Discard drops what was not written yet and releases the batch.
	Discard()
}

// GCStats reports what a garbage collection removed.
type GCStats struct {
	Blocks int   // blocks (copies and references) removed
	Bytes  int64 // bytes of block data freed (references count their length)
}

// Stats describes a store's contents.
type Stats struct {
	Blocks    int   // blocks held as copies
	Refs      int   // blocks held as references whose files are as recorded
	StaleRefs int   // references whose files moved or changed: not held (a read drops them)
	DataBytes int64 // bytes of copied block data
	RefBytes  int64 // bytes of data referenced in files
	Pins      int
	DiskBytes int64 // bytes the store takes on disk, where known
}

// Store is a block store with pins and garbage collection.
type Store interface {
	Blocks
	// NewBatch starts a group of writes. While a batch is open a garbage
	// collection cannot sweep, so blocks added in it are never collected
	// between being written and being pinned.
	NewBatch(ctx context.Context) Batch
	// Delete removes a block (copy or reference). Missing blocks are not
	// an error; a block that is itself pinned is refused with ErrPinned
	// (blocks only reachable from a recursive pin are not checked).
	Delete(ctx context.Context, c cid.Cid) error
	// Size returns the length of block c without reading a referenced file.
	Size(ctx context.Context, c cid.Cid) (int, error)
	// AllKeys calls fn with the multihash of every block held.
	AllKeys(ctx context.Context, fn func(mh []byte) error) error

	// Pin pins c (whose block need not be present yet). A recursive pin
	// replaces a direct one; a direct pin leaves a recursive one as it is.
	Pin(ctx context.Context, c cid.Cid, mode PinMode) error
	// Unpin removes the pin on c, whatever its mode; ErrNotFound if none.
	Unpin(ctx context.Context, c cid.Cid) error
	// Pins lists every pin.
	Pins(ctx context.Context) ([]Pin, error)
	// WatchPins tells what changed since a watcher last looked: the pins'
	// generation, which grows the moment a change of them commits (Pin,
	// Unpin, a batch with pins), a count of committed block writes, and
	// a channel closed at the next change of the pins.
	WatchPins() PinState
	// PinGen returns WatchPins' two counters without a channel, cheaply.
	PinGen() (gen, writes uint64)

	// AddRoots registers a set of roots that garbage collection keeps
	// (recursively) besides pins, such as a folder's current index. A
	// second call with the same name replaces the set. The function is
	// called at the start of every collection and again, with the store
	// locked against batches, just before the sweep: it must not open a
	// batch or wait for one.
	AddRoots(name string, roots func(ctx context.Context) ([]cid.Cid, error))
	// GC removes every block not reachable from a pin or a registered root.
	// Reachable blocks that are missing are fine (partial DAGs); a
	// reachable node that is present but does not decode, or is a
	// reference that no longer reads back, stops the collection before
	// anything is removed (its links are unknown). Raw leaves are never
	// read.
	GC(ctx context.Context) (GCStats, error)

	Stats(ctx context.Context) (Stats, error)
	Close() error
}
