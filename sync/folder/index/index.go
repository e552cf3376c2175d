package index

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
	"github.com/shoal-sync/shoal/sync/identity"
)

// Key prefixes inside a folder's namespace. Part of the on-disk format.
const (
	pGlobal = 'g' // g ‖ path → Signed: the newest record known for path
	pSeq    = 's' // s ‖ origin ‖ seq → Signed: every record held, current (in g) or kept in h
	pMark   = 'm' // m ‖ origin → seq: every record of origin up to seq is held (or superseded)
	pLocal  = 'l' // l ‖ path → Local: what this machine has on disk
	pNeed   = 'n' // n ‖ path → empty: the global record is not on disk here
	pBlock  = 'b' // b ‖ multihash → empty: a block of this folder's files
	pHist   = 'h' // h ‖ path ‖ 0 ‖ origin ‖ seq → Signed: a superseded record of path
)

// MaxHistory is how many superseded records of a path the index keeps
// unless SetRetention says otherwise.
const MaxHistory = 10

// ErrReadOnly is returned when a read-only folder is asked to publish.
var ErrReadOnly = errors.New("folder is read-only")

// Options configures an Index.
type Options struct {
	KV     *badgerstore.KV // the folder's namespace of the node's database
	Folder identity.FolderID
	Pub    ed25519.PublicKey  // the folder's public signing key
	Key    ed25519.PrivateKey // its private key; nil on a read-only peer
	Device uint64             // this device's short ID
	// Wins reports whether a beats b when their versions are concurrent;
	// it must choose the same on every peer (see sync/folder/conflict).
	Wins func(a, b *Record) bool
}

// Index is one folder's manifest in badger. Its methods are safe for
// concurrent use: every change is one transaction.
type Index struct {
	opt Options
	ret retainPtr // nil: MaxHistory, no age limit

	idPrefix [8]byte       // random: this process's delta keys differ from any other's
	deltaSeq atomic.Uint64 // numbers this process's delta keys
	unfolded atomic.Int64  // deltas written since the last fold
	folding  sync.Mutex
}

// Open returns the index kept in opt.KV.
func Open(opt Options) (*Index, error) {
	if opt.KV == nil || len(opt.Pub) != ed25519.PublicKeySize || opt.Device == 0 || opt.Wins == nil {
		return nil, errors.New("index: KV, Pub, Device and Wins are required")
	}
	ix := &Index{opt: opt}
	if err := ix.initCounts(context.Background()); err != nil {
		return nil, fmt.Errorf("index: count: %w", err)
	}
	return ix, nil
}

// Writable reports whether this peer may publish changes.
func (ix *Index) Writable() bool { return ix.opt.Key != nil }

// Device returns this device's short ID.
func (ix *Index) Device() uint64 { return ix.opt.Device }

// Local is what this machine holds on disk at a path, as last scanned or
// written, and which version of the path that content is.
type Local struct {
	Type    Type   `cbor:"1,keyasint"`
	Size    int64  `cbor:"2,keyasint,omitempty"`
	Mode    uint32 `cbor:"3,keyasint,omitempty"`
	ModTime int64  `cbor:"4,keyasint,omitempty"`
	CTime   int64  `cbor:"5,keyasint,omitempty"`
	Inode   uint64 `cbor:"6,keyasint,omitempty"`
	Root    []byte `cbor:"7,keyasint,omitempty"`
	Target  string `cbor:"8,keyasint,omitempty"`
	Deleted bool   `cbor:"9,keyasint,omitempty"`
	// Version is the version of the record this content is.
	Version Vector `cbor:"10,keyasint,omitempty"`
	// Changed: edited here on a read-only peer, not published.
	Changed bool `cbor:"11,keyasint,omitempty"`
}

// Mark is an origin device and a sequence.
type Mark struct {
	Origin, Seq uint64
}

func gKey(path string) []byte { return append([]byte{pGlobal}, path...) }
func lKey(path string) []byte { return append([]byte{pLocal}, path...) }
func nKey(path string) []byte { return append([]byte{pNeed}, path...) }
func mKey(origin uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pMark}, origin)
}
func sKey(origin, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte{pSeq}, origin), seq)
}

// needs reports whether the global record g is not what the disk holds.
func needs(g *Record, l *Local) bool {
	switch {
	case g == nil:
		return false
	case l == nil:
		return !g.Deleted
	case l.Changed:
		return false // a read-only peer's edit waits for revert
	case g.Deleted && l.Deleted:
		return false
	}
	return l.Version.Compare(g.Version) != Equal
}

// txn wraps a badger transaction with the index's encodings.
type txn struct {
	ix *Index
	t  *badgerstore.KVTxn
	d  *counts // what the transaction changed of the index's counts
}

func (t txn) global(path string) (*Record, Signed, error) {
	v, err := t.t.Get(gKey(path))
	if errors.Is(err, store.ErrNotFound) {
		return nil, Signed{}, nil
	}
	if err != nil {
		return nil, Signed{}, err
	}
	var s Signed
	if err := decMode.Unmarshal(v, &s); err != nil {
		return nil, Signed{}, fmt.Errorf("index: stored record %q: %w", path, err)
	}
	r, err := Decode(s.Data)
	if err != nil {
		return nil, Signed{}, fmt.Errorf("index: stored record %q: %w", path, err)
	}
	return r, s, nil
}

// decodeSigned decodes a stored Signed and its record.
func decodeSigned(v []byte) (*Record, error) {
	var s Signed
	if err := decMode.Unmarshal(v, &s); err != nil {
		return nil, err
	}
	return Decode(s.Data)
}

// historyHas reports whether the record of path by origin at seq is kept.
func (t txn) historyHas(r *Record) (bool, error) {
	k := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(hPrefix(r.Path), r.Origin), r.Seq)
	_, err := t.t.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (t txn) local(path string) (*Local, error) {
	v, err := t.t.Get(lKey(path))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var l Local
	if err := decMode.Unmarshal(v, &l); err != nil {
		return nil, fmt.Errorf("index: local state of %q: %w", path, err)
	}
	return &l, nil
}

func (t txn) mark(origin uint64) (uint64, error) {
	v, err := t.t.Get(mKey(origin))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil || len(v) != 8 {
		return 0, fmt.Errorf("index: mark of %x: %v", origin, err)
	}
	return binary.BigEndian.Uint64(v), nil
}

func (t txn) setMark(origin, seq uint64) error {
	return t.t.Put(mKey(origin), binary.BigEndian.AppendUint64(nil, seq))
}

// putGlobal makes s (decoded as r) the global record of its path,
// replacing old, and updates the need flag against the local state.
func (t txn) putGlobal(r *Record, s Signed, old *Record) error {
	if old != nil {
		_, olds, err := t.global(old.Path)
		if err != nil {
			return err
		}
		if err := t.keepHistory(old, olds); err != nil {
			return err
		}
	}
	enc, err := encMode.Marshal(s)
	if err != nil {
		return err
	}
	if err := t.t.Put(gKey(r.Path), enc); err != nil {
		return err
	}
	if err := t.t.Put(sKey(r.Origin, r.Seq), enc); err != nil {
		return err
	}
	l, err := t.local(r.Path)
	if err != nil {
		return err
	}
	t.moved(old, l, r, l)
	return t.setNeed(r.Path, r, l)
}

func hPrefix(path string) []byte { return append(append([]byte{pHist}, path...), 0) }

// keepHistory keeps old (signed as s), a record of a path that a newer
// one replaced, so that every peer knows the path's recent versions: it
// stays among the records gossip sends (s ‖ origin ‖ seq), signed as its
// author made it. Past the retention's count (SetRetention) the oldest go.
func (t txn) keepHistory(old *Record, s Signed) error {
	enc, err := encMode.Marshal(s)
	if err != nil {
		return err
	}
	k := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(hPrefix(old.Path), old.Origin), old.Seq)
	if err := t.t.Put(k, enc); err != nil {
		return err
	}
	if err := t.t.Put(sKey(old.Origin, old.Seq), enc); err != nil {
		return err
	}
	// The path's kept records as committed, and this one: an iterator
	// inside this transaction would sort all its pending writes each time
	// (badger), quadratic over a transaction of many changes. A record
	// this transaction dropped already may show again; dropping it twice
	// is harmless, and a count over by one is trimmed by the next change.
	keys := [][]byte{k}
	times := []int64{old.ModTime}
	recs := []*Record{old}
	err = t.ix.opt.KV.Iterate(context.Background(), hPrefix(old.Path), func(hk, v []byte) error {
		if string(hk) == string(k) {
			return nil
		}
		r, err := decodeSigned(v)
		if err != nil {
			return nil
		}
		keys = append(keys, append([]byte(nil), hk...))
		times = append(times, r.ModTime)
		recs = append(recs, r)
		return nil
	})
	keep := t.ix.retention().versions
	if err != nil || len(keys) <= keep {
		return err
	}
	// Drop the oldest by mtime.
	for len(keys) > keep {
		oldest := 0
		for i := range times {
			if times[i] < times[oldest] {
				oldest = i
			}
		}
		if err := t.t.Delete(keys[oldest]); err != nil {
			return err
		}
		if err := t.t.Delete(sKey(recs[oldest].Origin, recs[oldest].Seq)); err != nil {
			return err
		}
		keys = append(keys[:oldest], keys[oldest+1:]...)
		times = append(times[:oldest], times[oldest+1:]...)
		recs = append(recs[:oldest], recs[oldest+1:]...)
	}
	return nil
}

// History returns the versions of path the index knows, oldest first:
// the superseded records kept, then the current one.
func (ix *Index) History(ctx context.Context, path string) ([]*Record, error) {
	var out []*Record
	err := ix.view(ctx, func(t txn) error {
		err := t.t.Iterate(hPrefix(path), func(_, v []byte) error {
			r, err := decodeSigned(v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
		if err != nil {
			return err
		}
		g, _, err := t.global(path)
		if g != nil {
			out = append(out, g)
		}
		return err
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].ModTime < out[j].ModTime })
	return out, err
}

func (t txn) putLocal(path string, l *Local) error {
	old, err := t.local(path)
	if err != nil {
		return err
	}
	enc, err := encMode.Marshal(l)
	if err != nil {
		return err
	}
	if err := t.t.Put(lKey(path), enc); err != nil {
		return err
	}
	g, _, err := t.global(path)
	if err != nil {
		return err
	}
	t.moved(g, old, g, l)
	return t.setNeed(path, g, l)
}

func (t txn) setNeed(path string, g *Record, l *Local) error {
	if needs(g, l) {
		return t.t.Put(nKey(path), nil)
	}
	return t.t.Delete(nKey(path))
}

// update runs fn in one transaction, with what it changed of the
// counts written beside its changes.
func (ix *Index) update(ctx context.Context, fn func(txn) error) error {
	wrote := false
	err := ix.opt.KV.Update(ctx, func(t *badgerstore.KVTxn) error {
		tx := txn{ix, t, &counts{}} // fresh on every try
		if err := fn(tx); err != nil {
			return err
		}
		wrote = *tx.d != (counts{})
		return tx.putDelta()
	})
	if err == nil && wrote && ix.unfolded.Add(1) >= foldEvery {
		err = ix.fold(ctx)
	}
	return err
}

func (ix *Index) view(ctx context.Context, fn func(txn) error) error {
	// No delta: a read changes no counts.
	return ix.opt.KV.View(ctx, func(t *badgerstore.KVTxn) error { return fn(txn{ix, t, nil}) })
}

// Global returns the global record of path, or nil.
func (ix *Index) Global(ctx context.Context, path string) (r *Record, err error) {
	err = ix.view(ctx, func(t txn) error {
		r, _, err = t.global(path)
		return err
	})
	return r, err
}

// Local returns what this machine holds at path, or nil.
func (ix *Index) Local(ctx context.Context, path string) (l *Local, err error) {
	err = ix.view(ctx, func(t txn) error {
		l, err = t.local(path)
		return err
	})
	return l, err
}

// Marks returns, per origin device, the sequence up to which every record is held.
func (ix *Index) Marks(ctx context.Context) ([]Mark, error) {
	var out []Mark
	err := ix.opt.KV.Iterate(ctx, []byte{pMark}, func(k, v []byte) error {
		if len(k) != 9 || len(v) != 8 {
			return fmt.Errorf("index: bad mark key %x", k)
		}
		out = append(out, Mark{Origin: binary.BigEndian.Uint64(k[1:]), Seq: binary.BigEndian.Uint64(v)})
		return nil
	})
	return out, err
}
