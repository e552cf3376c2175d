package index

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/badgerstore"
)

// Counts of the index are kept as they change, so that a status costs a
// few keys, not a pass over every path. Each transaction that changes a
// path writes what it changed as a delta key of its own (c ‖ 'd' ‖ id):
// a blind write, so concurrent changes never conflict over one counter.
// Now and then the deltas are folded into the base (c ‖ 'b').
const (
	pCount    = 'c'
	countBase = 'b'
	countDiff = 'd'
)

// counts is what Stats reports of the whole index, or a change of it.
type counts struct {
	files, dirs, links, needFiles, localChanged int64
	bytes, needBytes                            int64
}

func (c *counts) add(o counts, sign int64) {
	c.files += sign * o.files
	c.dirs += sign * o.dirs
	c.links += sign * o.links
	c.bytes += sign * o.bytes
	c.needFiles += sign * o.needFiles
	c.needBytes += sign * o.needBytes
	c.localChanged += sign * o.localChanged
}

// share is what one path with global record g and local state l adds to
// the counts (either may be nil).
func share(g *Record, l *Local) counts {
	var c counts
	if g != nil && !g.Deleted {
		switch g.Type {
		case TypeFile:
			c.files, c.bytes = 1, g.Size
		case TypeDir:
			c.dirs = 1
		case TypeSymlink:
			c.links = 1
		}
	}
	if needs(g, l) {
		c.needFiles = 1
		if !g.Deleted {
			c.needBytes = g.Size
		}
	}
	if l != nil && l.Changed {
		c.localChanged = 1
	}
	return c
}

// moved notes in the transaction's delta that a path went from (g0, l0)
// to (g1, l1).
func (t txn) moved(g0 *Record, l0 *Local, g1 *Record, l1 *Local) {
	t.d.add(share(g0, l0), -1)
	t.d.add(share(g1, l1), 1)
}

func (c counts) stats() Stats {
	return Stats{Files: int(c.files), Dirs: int(c.dirs), Links: int(c.links), Bytes: c.bytes,
		NeedFiles: int(c.needFiles), NeedBytes: c.needBytes, LocalChanged: int(c.localChanged)}
}

func (c counts) encode() []byte {
	var b []byte
	for _, v := range [...]int64{c.files, c.dirs, c.links, c.bytes, c.needFiles, c.needBytes, c.localChanged} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

func decodeCounts(b []byte) (counts, error) {
	var v [7]int64
	for i := range v {
		x, n := binary.Varint(b)
		if n <= 0 {
			return counts{}, errors.New("index: malformed counts")
		}
		v[i], b = x, b[n:]
	}
	if len(b) != 0 {
		return counts{}, errors.New("index: malformed counts")
	}
	return counts{files: v[0], dirs: v[1], links: v[2], bytes: v[3], needFiles: v[4], needBytes: v[5], localChanged: v[6]}, nil
}

// putDelta writes the transaction's delta, when there is one, under a
// key no other transaction uses.
func (t txn) putDelta() error {
	if *t.d == (counts{}) {
		return nil
	}
	k := append([]byte{pCount, countDiff}, t.ix.idPrefix[:]...)
	k = binary.BigEndian.AppendUint64(k, t.ix.deltaSeq.Add(1))
	return t.t.Put(k, t.d.encode())
}

// foldEvery is how many deltas may pile up before they are folded, and
// at most how many one fold takes.
const foldEvery = 1024

// sumCounts sums the base and the deltas, at most limit of them (0:
// every one), calling seen (if not nil) with each delta's key; it
// returns how many deltas it took.
func sumCounts(t *badgerstore.KVTxn, limit int, seen func(k []byte)) (counts, int, error) {
	v, err := t.Get([]byte{pCount, countBase})
	if errors.Is(err, store.ErrNotFound) {
		return counts{}, 0, errNoCounts
	}
	if err != nil {
		return counts{}, 0, err
	}
	c, err := decodeCounts(v)
	if err != nil {
		return counts{}, 0, err
	}
	n := 0
	diffs := []byte{pCount, countDiff}
	err = t.IterateFrom(diffs, diffs, func(k, v []byte) error {
		if limit > 0 && n == limit {
			return badgerstore.ErrStop
		}
		d, err := decodeCounts(v)
		if err != nil {
			return err
		}
		c.add(d, 1)
		n++
		if seen != nil {
			seen(k)
		}
		return nil
	})
	return c, n, err
}

var errNoCounts = errors.New("index: no counts kept")

// fold moves up to foldEvery deltas into the base, in one transaction.
func (ix *Index) fold(ctx context.Context) error {
	if !ix.folding.TryLock() {
		return nil // another fold runs
	}
	defer ix.folding.Unlock()
	err := ix.opt.KV.Update(ctx, func(t *badgerstore.KVTxn) error {
		var keys [][]byte
		c, _, err := sumCounts(t, foldEvery, func(k []byte) { keys = append(keys, append([]byte(nil), k...)) })
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := t.Delete(k); err != nil {
				return err
			}
		}
		return t.Put([]byte{pCount, countBase}, c.encode())
	})
	if err != nil {
		return fmt.Errorf("index: fold counts: %w", err)
	}
	ix.unfolded.Store(0)
	return nil
}

// initCounts makes sure the index keeps counts: an index written before
// it did (or a new one) is counted once, whole.
func (ix *Index) initCounts(ctx context.Context) error {
	if _, err := rand.Read(ix.idPrefix[:]); err != nil {
		return err
	}
	_, err := ix.opt.KV.Get(ctx, []byte{pCount, countBase})
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c, err := ix.countAll(ctx)
	if err != nil {
		return err
	}
	// No delta can be there yet: updates write them only once the base
	// exists, which is from here on.
	return ix.opt.KV.Put(ctx, []byte{pCount, countBase}, c.encode())
}

// countAll counts the index by a pass over every global record and
// local state.
func (ix *Index) countAll(ctx context.Context) (counts, error) {
	var c counts
	err := ix.view(ctx, func(t txn) error {
		err := t.t.Iterate([]byte{pGlobal}, func(k, v []byte) error {
			g, err := decodeSigned(v)
			if err != nil {
				return fmt.Errorf("index: stored record %q: %w", k[1:], err)
			}
			l, err := t.local(string(k[1:]))
			if err != nil {
				return err
			}
			c.add(share(g, l), 1)
			return nil
		})
		if err != nil {
			return err
		}
		// Local states of paths with no global record (a read-only
		// peer's new files).
		return t.t.Iterate([]byte{pLocal}, func(k, v []byte) error {
			if _, err := t.t.Get(gKey(string(k[1:]))); err == nil {
				return nil
			}
			var l Local
			if err := decMode.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("index: local state of %q: %w", k[1:], err)
			}
			c.add(share(nil, &l), 1)
			return nil
		})
	})
	return c, err
}

// Stats counts a folder's records.
type Stats struct {
	Files, Dirs, Links int   // global, not deleted
	Bytes              int64 // global file bytes
	NeedFiles          int   // paths whose global record is not on disk
	NeedBytes          int64
	LocalChanged       int // read-only peers: paths edited here
}

// Stats counts the index: from the counts it keeps as it changes, a
// few keys to read however many paths it holds.
func (ix *Index) Stats(ctx context.Context) (Stats, error) { return ix.StatsWhere(ctx, nil) }

// StatsWhere counts the index, the needed paths only among those keep
// accepts (nil: all; see NeedsWhere). With keep, the needs are counted
// by a pass over them.
func (ix *Index) StatsWhere(ctx context.Context, keep func(path string) bool) (Stats, error) {
	var c counts
	var deltas int
	err := ix.view(ctx, func(t txn) (err error) {
		c, deltas, err = sumCounts(t.t, 0, nil)
		return err
	})
	if err != nil {
		return Stats{}, err
	}
	if deltas >= 2*foldEvery {
		ix.fold(ctx) // many readers, few writers: keep the reads short
	}
	st := c.stats()
	if keep == nil {
		return st, nil
	}
	st.NeedFiles, st.NeedBytes = 0, 0
	err = ix.NeedsWhere(ctx, keep, func(g *Record, _ *Local) error {
		st.NeedFiles++
		if !g.Deleted {
			st.NeedBytes += g.Size
		}
		return nil
	})
	return st, err
}
