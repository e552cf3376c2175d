package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/internal/cborx"
)

// pKept holds the versions this machine keeps of its files:
// k ‖ path ‖ 0 ‖ kept-at (8 bytes, Unix ns) ‖ file → Kept. Part of the
// on-disk format.
const pKept = 'k'

// Kept is a version of a file that this machine keeps: its bytes in a
// file under .shoal/versions (File, slash separated below it), or, where
// File is empty, its blocks as copies in the store. Garbage collection
// keeps the blocks of every Kept entry; retention removes entries.
type Kept struct {
	Path string `cbor:"1,keyasint"`
	Root []byte `cbor:"2,keyasint,omitempty"`
	Size int64  `cbor:"3,keyasint,omitempty"`
	At   int64  `cbor:"4,keyasint"` // when it was replaced, Unix ns
	File string `cbor:"5,keyasint,omitempty"`
}

// Cid returns the kept version's content CID (cid.Undef when unknown).
func (k *Kept) Cid() cid.Cid {
	c, err := cid.Cast(k.Root)
	if err != nil {
		return cid.Undef
	}
	return c
}

func keptKey(k *Kept) []byte {
	key := append(append([]byte{pKept}, k.Path...), 0)
	key = binary.BigEndian.AppendUint64(key, uint64(k.At))
	return append(key, k.File...)
}

var keptDec = cborx.DecMode(cborx.Limits{Nesting: 4, Array: 16, MapPairs: 16})

// PutKept records a version kept here.
func (ix *Index) PutKept(ctx context.Context, k Kept) error {
	enc, err := encMode.Marshal(&k)
	if err != nil {
		return err
	}
	return ix.opt.KV.Put(ctx, keptKey(&k), enc)
}

// PutKepts records many kept versions, a few hundred a transaction.
func (ix *Index) PutKepts(ctx context.Context, ks []Kept) error {
	for len(ks) > 0 {
		n := min(len(ks), maxTxnChanges)
		err := ix.update(ctx, func(t txn) error {
			for i := range ks[:n] {
				enc, err := encMode.Marshal(&ks[i])
				if err != nil {
					return err
				}
				if err := t.t.Put(keptKey(&ks[i]), enc); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		ks = ks[n:]
	}
	return nil
}

// DeleteKept forgets a kept version (its bytes are gone).
func (ix *Index) DeleteKept(ctx context.Context, k Kept) error {
	return ix.opt.KV.Delete(ctx, keptKey(&k))
}

// KeptVersions calls fn with the versions kept here of path (every
// path when all is set), in path order, oldest first within a path.
func (ix *Index) KeptVersions(ctx context.Context, path string, all bool, fn func(k Kept) error) error {
	prefix := []byte{pKept}
	if !all {
		prefix = append(append(prefix, path...), 0)
	}
	return ix.opt.KV.Iterate(ctx, prefix, func(key, v []byte) error {
		var k Kept
		if err := keptDec.Unmarshal(v, &k); err != nil {
			return fmt.Errorf("index: kept version %q: %w", key[1:], err)
		}
		return fn(k)
	})
}

// retention is how much of a path's history the index keeps.
type retention struct {
	versions int
	maxAge   time.Duration
}

// SetRetention sets how many superseded records of a path the index
// keeps (versions) and for how long after they were superseded (maxAge,
// 0: no limit). The default is MaxHistory and no age limit.
func (ix *Index) SetRetention(versions int, maxAge time.Duration) {
	ix.ret.Store(&retention{versions: max(versions, 0), maxAge: maxAge})
}

func (ix *Index) retention() retention {
	if r := ix.ret.Load(); r != nil {
		return *r
	}
	return retention{versions: MaxHistory}
}

// retainPtr is the Index field that holds the retention.
type retainPtr = atomic.Pointer[retention]

// PruneHistory drops the superseded records that the retention no
// longer keeps at time now: past the count of a path (the oldest first)
// or superseded (the next version's time) longer than the maximum age
// ago. It returns how many went.
func (ix *Index) PruneHistory(ctx context.Context, now time.Time) (int, error) {
	ret := ix.retention()
	type hist struct {
		key []byte
		r   *Record
	}
	byPath := map[string][]hist{}
	err := ix.opt.KV.Iterate(ctx, []byte{pHist}, func(k, v []byte) error {
		r, err := decodeSigned(v)
		if err != nil {
			return nil
		}
		byPath[r.Path] = append(byPath[r.Path], hist{append([]byte(nil), k...), r})
		return nil
	})
	if err != nil {
		return 0, err
	}
	var drop []hist
	for p, hs := range byPath {
		sort.SliceStable(hs, func(i, j int) bool { return hs[i].r.ModTime < hs[j].r.ModTime })
		g, err := ix.Global(ctx, p)
		if err != nil {
			return 0, err
		}
		for i, h := range hs {
			if len(hs)-i > ret.versions {
				drop = append(drop, h)
				continue
			}
			if ret.maxAge <= 0 {
				continue
			}
			var next int64
			switch {
			case i+1 < len(hs):
				next = hs[i+1].r.ModTime
			case g != nil:
				next = g.ModTime
			default:
				continue
			}
			if now.Sub(time.Unix(0, next)) > ret.maxAge {
				drop = append(drop, h)
			}
		}
	}
	total := len(drop)
	for len(drop) > 0 {
		n := min(len(drop), maxTxnChanges)
		err := ix.update(ctx, func(t txn) error {
			for _, h := range drop[:n] {
				if err := t.t.Delete(h.key); err != nil {
					return err
				}
				if err := t.t.Delete(sKey(h.r.Origin, h.r.Seq)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		drop = drop[n:]
	}
	return total, nil
}
