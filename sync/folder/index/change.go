package index

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"log/slog"
	"runtime"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/folder/gossip"
	"github.com/shoal-sync/shoal/sync/identity"
)

// Change is a change found on this machine's disk: what the path holds
// now (Deleted for a path that is gone). A Record with only its Path set
// (Type 0) is a file touched but not changed: only Local is stored.
type Change struct {
	Record Record // Path, Type, Size, Mode, ModTime, Root, Target, Deleted
	Local  Local  // the disk state it was read from
}

// maxTxnChanges bounds the changes committed in one transaction.
const maxTxnChanges = 256

// CommitLocal records changes found on disk. On a read-write peer each
// becomes a new signed record: its version is the path's global and local
// versions merged and this device's counter bumped, and it takes the next
// local sequence; the records are returned for pushing to peers. On a
// read-only peer the disk state is kept as a local change, never published.
func (ix *Index) CommitLocal(ctx context.Context, changes []Change) ([]Signed, error) {
	var out []Signed
	for len(changes) > 0 {
		n := min(len(changes), maxTxnChanges)
		var batch []Signed
		err := ix.update(ctx, func(t txn) error {
			batch = batch[:0]
			seq, err := t.mark(ix.opt.Device)
			if err != nil {
				return err
			}
			for i := range changes[:n] {
				s, err := t.commitLocal(&changes[i], &seq)
				if err != nil {
					return err
				}
				if s.Data != nil {
					batch = append(batch, s)
				}
			}
			return t.setMark(ix.opt.Device, seq)
		})
		if err != nil {
			return out, err
		}
		out = append(out, batch...)
		changes = changes[n:]
	}
	return out, nil
}

func (t txn) commitLocal(c *Change, seq *uint64) (Signed, error) {
	r := c.Record
	if r.Type == 0 {
		// Only the stat changed (a touch): no new record.
		l := c.Local
		return Signed{}, t.putLocal(r.Path, &l)
	}
	g, _, err := t.global(r.Path)
	if err != nil {
		return Signed{}, err
	}
	old, err := t.local(r.Path)
	if err != nil {
		return Signed{}, err
	}
	l := c.Local
	if !t.ix.Writable() {
		l.Changed = g == nil || !sameAsRecord(&l, g)
		if old != nil {
			l.Version = old.Version
		}
		return Signed{}, t.putLocal(r.Path, &l)
	}
	// The new version descends from what this disk held (old), not from
	// the global record: a change made over a version this machine never
	// had (a join into a folder with files, an edit while a peer's newer
	// change was not pulled yet) is concurrent with it, a conflict kept
	// beside the winner, never a silent overwrite.
	var v Vector
	if old != nil {
		v = old.Version
	}
	*seq++
	r.Version = v.Update(t.ix.opt.Device)
	r.Origin, r.Seq = t.ix.opt.Device, *seq
	s, err := Sign(&r, t.ix.opt.Folder, t.ix.opt.Key)
	if err != nil {
		return Signed{}, err
	}
	l.Version = r.Version
	if g != nil && r.Version.Compare(g.Version) == Concurrent && !t.ix.opt.Wins(&r, g) {
		// This machine's change loses to a concurrent one held already:
		// the winner stays global, and the pull keeps this content as a
		// conflict copy beside it. The losing record is history.
		if err := t.keepHistory(&r, s); err != nil {
			return Signed{}, err
		}
		return Signed{}, t.putLocal(r.Path, &l)
	}
	if err := t.putLocal(r.Path, &l); err != nil {
		return Signed{}, err
	}
	return s, t.putGlobal(&r, s, g)
}

// sameAsRecord reports whether disk state l is what record g describes.
func sameAsRecord(l *Local, g *Record) bool {
	if l.Deleted || g.Deleted {
		return l.Deleted == g.Deleted
	}
	return l.Type == g.Type && string(l.Root) == string(g.Root) && l.Target == g.Target &&
		(l.Mode&0o100 != 0) == g.Executable()
}

// Applied is a remote record that became the global record of its path.
type Applied struct {
	Record *Record
	Signed Signed // as received, to relay
	// Replaced is the global record it superseded (nil for a new path),
	// and Conflict says the two were concurrent.
	Replaced *Record
	Conflict bool
}

// ApplyRemote checks and stores records received from a peer: each must
// verify against the folder's key and carry a valid path; bad ones are
// skipped and counted in bad. A record becomes the global record of its
// path when its version is newer than the one held, or concurrent and
// winning by Options.Wins. complete lists, per origin, the sequence up to
// which the sender has sent everything it holds (an answer to our
// summary); a rumour has none, and then an origin's mark advances only
// over a contiguous sequence.
func (ix *Index) ApplyRemote(ctx context.Context, in []Signed, complete []Mark, log *slog.Logger) (applied []Applied, bad int, err error) {
	type opened struct {
		r *Record
		s Signed
	}
	// Each record is decoded once. Records held already, byte for byte
	// (an answer and a relay of it, one answer twice), need no check:
	// applying them changes nothing. Checking a signature is most of the
	// cost of taking records in (an ed25519 verify is ~50 µs: 5 s for a
	// 100,000-file folder's index), so a large batch is checked on every
	// core.
	rs, errs := decodeAll(in)
	dup, err := ix.held(ctx, in, rs)
	if err != nil {
		return nil, 0, err
	}
	checkAll(in, dup, errs, ix.opt.Folder, ix.opt.Pub)
	recs := make([]opened, 0, len(in))
	for i, s := range in {
		if dup != nil && dup[i] {
			continue
		}
		if errs[i] != nil {
			bad++
			if log != nil {
				log.Warn("rejected a record", "err", errs[i])
			}
			continue
		}
		recs = append(recs, opened{rs[i], s})
	}
	for len(recs) > 0 || complete != nil {
		n := min(len(recs), maxTxnChanges)
		var batch []Applied
		last := n == len(recs)
		err = ix.update(ctx, func(t txn) error {
			batch = batch[:0]
			for _, o := range recs[:n] {
				a, err := t.applyRemote(o.r, o.s)
				if err != nil {
					return err
				}
				if a != nil {
					batch = append(batch, *a)
				}
			}
			if !last {
				return nil
			}
			for _, m := range complete {
				cur, err := t.mark(m.Origin)
				if err != nil {
					return err
				}
				if m.Seq > cur {
					if err := t.setMark(m.Origin, m.Seq); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return applied, bad, err
		}
		applied = append(applied, batch...)
		recs = recs[n:]
		if last {
			break
		}
	}
	return applied, bad, nil
}

func (t txn) applyRemote(r *Record, s Signed) (*Applied, error) {
	mark, err := t.mark(r.Origin)
	if err != nil {
		return nil, err
	}
	if r.Seq == mark+1 {
		if err := t.setMark(r.Origin, r.Seq); err != nil {
			return nil, err
		}
	}
	g, _, err := t.global(r.Path)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return &Applied{Record: r, Signed: s}, t.putGlobal(r, s, nil)
	}
	switch r.Version.Compare(g.Version) {
	case Greater:
		return &Applied{Record: r, Signed: s, Replaced: g}, t.putGlobal(r, s, g)
	case Concurrent:
		if t.ix.opt.Wins(r, g) {
			return &Applied{Record: r, Signed: s, Replaced: g, Conflict: true}, t.putGlobal(r, s, g)
		}
	case Equal:
		return nil, nil
	}
	// An older version (or a losing one): kept as history if new here,
	// so that every peer knows the path's recent versions.
	if has, err := t.historyHas(r); err != nil || has {
		return nil, err
	}
	return nil, t.keepHistory(r, s)
}

// Since calls fn, in order of origin and sequence, with every record held
// whose sequence is above what theirs says the peer holds of its origin.
// It returns our marks for the origins it went through, which the peer
// may take as complete once it has stored the records.
func (ix *Index) Since(ctx context.Context, theirs []Mark, fn func(Signed) error) ([]Mark, error) {
	mine, err := ix.Marks(ctx)
	if err != nil {
		return nil, err
	}
	ranges := gossip.Missing(toGossip(mine), toGossip(theirs))
	var complete []Mark
	err = ix.view(ctx, func(t txn) error {
		for _, r := range ranges {
			prefix := binary.BigEndian.AppendUint64([]byte{pSeq}, r.Origin)
			err := t.t.IterateFrom(prefix, sKey(r.Origin, r.After+1), func(k, v []byte) error {
				var s Signed
				if err := decMode.Unmarshal(v, &s); err != nil {
					return fmt.Errorf("index: stored record %x: %w", k, err)
				}
				return fn(s)
			})
			if err != nil {
				return err
			}
			complete = append(complete, Mark{Origin: r.Origin, Seq: r.Upto})
		}
		return nil
	})
	return complete, err
}

func toGossip(ms []Mark) []gossip.Mark {
	out := make([]gossip.Mark, len(ms))
	for i, m := range ms {
		out[i] = gossip.Mark{Origin: m.Origin, Seq: m.Seq}
	}
	return out
}

// maxTxnBlocks bounds the block keys written in one transaction, well
// inside badger's limit on a transaction (15 % of its memtable).
const maxTxnBlocks = 4096

// SetLocal records what the disk holds at path now (after a pull), in
// one transaction with the folder's block list for it. A large file's
// first blocks go in transactions of their own before it: a block listed
// for a file not yet recorded only lets proven peers ask for it.
func (ix *Index) SetLocal(ctx context.Context, path string, l *Local, blocks []cid.Cid) error {
	if n := len(blocks) - maxTxnBlocks/2; n > 0 {
		if err := ix.AddBlocks(ctx, blocks[:n]); err != nil {
			return err
		}
		blocks = blocks[n:]
	}
	return ix.update(ctx, func(t txn) error {
		for _, c := range blocks {
			if err := t.t.Put(append([]byte{pBlock}, c.Hash()...), nil); err != nil {
				return err
			}
		}
		return t.putLocal(path, l)
	})
}

// LocalChange is one path's new local state for SetLocals.
type LocalChange struct {
	Path   string
	Local  *Local
	Blocks []cid.Cid
}

// SetLocals is SetLocal for many paths, in as few transactions as the
// size limit allows: a batch of pulled small files costs one commit.
func (ix *Index) SetLocals(ctx context.Context, changes []LocalChange) error {
	for len(changes) > 0 {
		n, blocks := 0, 0
		for n < len(changes) && (n == 0 || blocks+len(changes[n].Blocks) <= maxTxnBlocks/2) {
			blocks += len(changes[n].Blocks)
			n++
		}
		if n == 1 {
			c := changes[0]
			if err := ix.SetLocal(ctx, c.Path, c.Local, c.Blocks); err != nil {
				return err
			}
			changes = changes[1:]
			continue
		}
		err := ix.update(ctx, func(t txn) error {
			for _, c := range changes[:n] {
				for _, b := range c.Blocks {
					if err := t.t.Put(append([]byte{pBlock}, b.Hash()...), nil); err != nil {
						return err
					}
				}
				if err := t.putLocal(c.Path, c.Local); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		changes = changes[n:]
	}
	return nil
}

// AddBlocks records that these blocks belong to the folder's files, so
// that they are served to peers that proved the folder.
func (ix *Index) AddBlocks(ctx context.Context, blocks []cid.Cid) error {
	for len(blocks) > 0 {
		n := min(len(blocks), maxTxnBlocks)
		err := ix.update(ctx, func(t txn) error {
			for _, c := range blocks[:n] {
				if err := t.t.Put(append([]byte{pBlock}, c.Hash()...), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		blocks = blocks[n:]
	}
	return nil
}

// HasBlock reports whether the block with multihash mh belongs to the folder.
func (ix *Index) HasBlock(ctx context.Context, mh []byte) bool {
	_, err := ix.opt.KV.Get(ctx, append([]byte{pBlock}, mh...))
	return err == nil
}

// Locals calls fn with every path this machine holds state for, in order.
func (ix *Index) Locals(ctx context.Context, prefix string, fn func(path string, l *Local) error) error {
	return ix.opt.KV.Iterate(ctx, append([]byte{pLocal}, prefix...), func(k, v []byte) error {
		var l Local
		if err := decMode.Unmarshal(v, &l); err != nil {
			return fmt.Errorf("index: local state of %q: %w", k[1:], err)
		}
		return fn(string(k[1:]), &l)
	})
}

// Globals calls fn with every global record whose path starts with prefix, in order.
func (ix *Index) Globals(ctx context.Context, prefix string, fn func(r *Record) error) error {
	return ix.opt.KV.Iterate(ctx, append([]byte{pGlobal}, prefix...), func(k, v []byte) error {
		var s Signed
		if err := decMode.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("index: stored record %q: %w", k[1:], err)
		}
		r, err := Decode(s.Data)
		if err != nil {
			return fmt.Errorf("index: stored record %q: %w", k[1:], err)
		}
		return fn(r)
	})
}

// Roots returns the content CIDs of every global and local file and of
// every version kept here, for garbage collection to keep.
func (ix *Index) Roots(ctx context.Context) ([]cid.Cid, error) {
	seen := make(map[cid.Cid]bool)
	var out []cid.Cid
	add := func(b []byte) {
		if c, err := cid.Cast(b); err == nil && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	err := ix.Globals(ctx, "", func(r *Record) error { add(r.Root); return nil })
	if err == nil {
		err = ix.Locals(ctx, "", func(_ string, l *Local) error { add(l.Root); return nil })
	}
	if err == nil {
		err = ix.KeptVersions(ctx, "", true, func(k Kept) error { add(k.Root); return nil })
	}
	return out, err
}

// ForgetLocal drops the local state of path (a file gone from disk that
// the index never published, or after a revert).
func (ix *Index) ForgetLocal(ctx context.Context, path string) error {
	return ix.update(ctx, func(t txn) error {
		old, err := t.local(path)
		if err != nil {
			return err
		}
		if err := t.t.Delete(lKey(path)); err != nil {
			return err
		}
		g, _, err := t.global(path)
		if err != nil {
			return err
		}
		t.moved(g, old, g, nil)
		return t.setNeed(path, g, nil)
	})
}

// held reports which records of in (rs: decoded, nil where not) this
// index holds byte for byte as their path's global record, or nil for
// none. Only a record at or below its origin's mark (every record up to
// it was taken in) is looked up, so a fresh index costs one mark lookup
// per origin.
func (ix *Index) held(ctx context.Context, in []Signed, rs []*Record) (dup []bool, err error) {
	err = ix.view(ctx, func(t txn) error {
		marks := make(map[uint64]uint64)
		for i, r := range rs {
			if r == nil {
				continue // rejected
			}
			m, ok := marks[r.Origin]
			if !ok {
				if m, err = t.mark(r.Origin); err != nil {
					return err
				}
				marks[r.Origin] = m
			}
			if r.Seq > m {
				continue
			}
			_, g, err := t.global(r.Path)
			if err != nil {
				return err
			}
			if bytes.Equal(g.Data, in[i].Data) && bytes.Equal(g.Sig, in[i].Sig) {
				if dup == nil {
					dup = make([]bool, len(in))
				}
				dup[i] = true
			}
		}
		return nil
	})
	return dup, err
}

// decodeAll decodes every record of in (no signature check): rs[i] or errs[i].
func decodeAll(in []Signed) (rs []*Record, errs []error) {
	rs, errs = make([]*Record, len(in)), make([]error, len(in))
	for i, s := range in {
		rs[i], errs[i] = s.decode()
	}
	return rs, errs
}

// checkParallelMin is the batch size from which checkAll uses every core.
const checkParallelMin = 64

// checkAll checks the signature of every record of in that decoded
// (errs[i] nil) and is not held (dup[i]), setting errs[i] where it fails.
func checkAll(in []Signed, dup []bool, errs []error, folder identity.FolderID, pub ed25519.PublicKey) {
	check := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if errs[i] == nil && (dup == nil || !dup[i]) {
				errs[i] = in[i].checkSig(folder, pub)
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(in)/checkParallelMin)
	if workers <= 1 {
		check(0, len(in))
		return
	}
	var wg sync.WaitGroup
	per := (len(in) + workers - 1) / workers
	for lo := 0; lo < len(in); lo += per {
		wg.Go(func() { check(lo, min(lo+per, len(in))) })
	}
	wg.Wait()
}
