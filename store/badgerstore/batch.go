package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
)

// A batch writes into one badger transaction until it holds flushBytes of
// values, flushEntries entries or flushEstimate of what badger counts
// against its transaction limit (15 % of memTableSize: keys, small values
// and value pointers), then commits it asynchronously and starts the next;
// at most maxInflight commits run at once. This bounds the memory a large
// batch holds (about (maxInflight+1) * flushBytes) while keeping badger's
// write pipeline busy, as its WriteBatch does (which bounds only what
// badger counts, so it would hold up to ~1 GiB of 64 KiB blocks).
const (
	flushBytes    = 4 << 20
	flushEntries  = 4096
	flushEstimate = 512 << 10
	maxInflight   = 4
)

var errBatchDone = errors.New("batch already committed or discarded")

// NewBatch starts a batch. It waits while a collection is sweeping.
func (s *Store) NewBatch(ctx context.Context) store.Batch {
	b := &batch{s: s, ctx: ctx}
	if s.readOnly != nil {
		b.done, b.err = true, s.readOnly
		return b
	}
	if err := s.gc.RLock(ctx); err != nil {
		b.done, b.err = true, err
		return b
	}
	b.txn = s.db.NewTransaction(true)
	b.sem = make(chan struct{}, maxInflight)
	return b
}

type batch struct {
	s    *Store
	ctx  context.Context
	txn  *badger.Txn
	rtxn *badger.Txn // for kind; nil until needed
	pins []store.Pin

	bytes   int      // value bytes in txn
	entries int      // entries in txn
	est     int      // badger's size estimate of txn
	total   int      // value bytes in the whole batch
	bufs    [][]byte // pooled buffers txn refers to

	sem      chan struct{}
	inflight sync.WaitGroup
	errMu    sync.Mutex
	asyncErr error

	done bool
	err  error // why the batch is done, if not by Commit or Discard
}

func (b *batch) usable(c cid.Cid) error {
	if b.done {
		if b.err != nil {
			return b.err
		}
		return errBatchDone
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	if err := b.firstAsyncErr(); err != nil {
		return err
	}
	return store.CheckCid(c)
}

func (b *batch) firstAsyncErr() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.asyncErr
}

// Put stores a copy of data as block c.
func (b *batch) Put(c cid.Cid, data []byte) error {
	if err := b.usable(c); err != nil {
		return fmt.Errorf("put block %s: %w", c, err)
	}
	k, err := b.kind(c)
	if err != nil {
		return fmt.Errorf("put block %s: %w", c, err)
	}
	if k == kindCopy {
		return nil
	}
	v := b.s.bufs.get(len(data))
	copy(v, data)
	entries := []*badger.Entry{badger.NewEntry(key(prefixBlock, c.Hash()), v)}
	if k == kindRef {
		e := badger.NewEntry(key(prefixRef, c.Hash()), nil)
		entries = append(entries, e)
	}
	if err := b.set(entries, len(v), k == kindRef); err != nil {
		// v may be in the transaction: leave it to the garbage collector.
		return fmt.Errorf("put block %s: %w", c, err)
	}
	// Only now: a flush inside set must not hand v back to the pool while
	// the new transaction refers to it.
	b.bufs = append(b.bufs, v)
	return nil
}

// PutRef stores block c as a reference into a file.
func (b *batch) PutRef(c cid.Cid, ref store.Ref) error {
	if err := b.usable(c); err != nil {
		return fmt.Errorf("put reference %s: %w", c, err)
	}
	if err := store.CheckRef(ref); err != nil {
		return fmt.Errorf("put reference %s: %w", c, err)
	}
	// Only a copy matters here (it wins over a reference); a reference
	// already held is written over: one lookup, not two.
	copied, err := b.hasCopy(c)
	if err != nil {
		return fmt.Errorf("put reference %s: %w", c, err)
	}
	if copied {
		return nil
	}
	v := encodeRef(ref)
	if err := b.set([]*badger.Entry{badger.NewEntry(key(prefixRef, c.Hash()), v)}, len(v), false); err != nil {
		return fmt.Errorf("put reference %s: %w", c, err)
	}
	return nil
}

// Pin pins c when the batch commits.
func (b *batch) Pin(c cid.Cid, mode store.PinMode) error {
	if err := b.usable(c); err != nil {
		return fmt.Errorf("pin %s: %w", c, err)
	}
	if err := checkPin(c, mode); err != nil {
		return err
	}
	b.pins = append(b.pins, store.Pin{Cid: c, Mode: mode})
	return nil
}

// kind looks c up in a read transaction the batch keeps until its next
// flush, rather than opening one per block. What commits meanwhile, this
// batch's earlier transactions included, it may not see: the worst that
// does is a reference written beside a copy, which reads never choose.
func (b *batch) kind(c cid.Cid) (blockKind, error) {
	k, _, err := b.s.kind(b.read(), c.Hash())
	return k, err
}

// hasCopy reports whether a copy of block c is held (in kind's read
// transaction).
func (b *batch) hasCopy(c cid.Cid) (bool, error) {
	_, err := b.read().Get(key(prefixBlock, c.Hash()))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// read returns the batch's read transaction, begun at its first use.
func (b *batch) read() *badger.Txn {
	if b.rtxn == nil {
		b.rtxn = b.s.db.NewTransaction(false)
	}
	return b.rtxn
}

// endRead ends the read transaction kind uses.
func (b *batch) endRead() {
	if b.rtxn != nil {
		b.rtxn.Discard()
		b.rtxn = nil
	}
}

// set adds entries to the current transaction, all in the same one; if
// lastIsDelete, the last entry is a deletion.
func (b *batch) set(entries []*badger.Entry, n int, lastIsDelete bool) error {
	est := 0
	for _, e := range entries {
		est += len(e.Key) + 2
		if len(e.Value) < valueThreshold {
			est += len(e.Value)
		} else {
			est += 12 // value pointer
		}
	}
	if b.bytes+n > flushBytes || b.entries+len(entries) > flushEntries || b.est+est > flushEstimate {
		if err := b.flush(); err != nil {
			return err
		}
	}
	err := b.add(entries, lastIsDelete)
	if errors.Is(err, badger.ErrTxnTooBig) {
		// Only with unusual sizes: commit what is there (perhaps with the
		// first of entries, which is then written twice, harmlessly) and
		// add them all to the next transaction.
		if err = b.flush(); err == nil {
			err = b.add(entries, lastIsDelete)
		}
	}
	if err != nil {
		return err
	}
	b.bytes += n
	b.total += n
	b.est += est
	b.entries += len(entries)
	return nil
}

func (b *batch) add(entries []*badger.Entry, lastIsDelete bool) error {
	for i, e := range entries {
		var err error
		if lastIsDelete && i == len(entries)-1 {
			err = b.txn.Delete(e.Key)
		} else {
			err = b.txn.SetEntry(e)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// flush commits the current transaction in the background and starts the
// next.
func (b *batch) flush() error {
	if b.entries == 0 {
		return nil
	}
	if err := b.s.room(b.bytes + b.est); err != nil {
		return err
	}
	select {
	case b.sem <- struct{}{}:
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
	b.inflight.Add(1)
	bufs := b.bufs
	b.bufs = nil
	b.txn.CommitWith(func(err error) {
		b.s.bufs.put(bufs)
		if err == nil {
			b.s.watch.BlocksWritten()
		}
		if err != nil {
			b.errMu.Lock()
			if b.asyncErr == nil {
				b.asyncErr = err
			}
			b.errMu.Unlock()
		}
		<-b.sem
		b.inflight.Done()
	})
	b.txn = b.s.db.NewTransaction(true)
	b.endRead()
	b.s.wrote(b.bytes)
	b.bytes, b.entries, b.est = 0, 0, 0
	return b.firstAsyncErr()
}

// Commit waits for the batch's earlier transactions, then commits the last
// one with the pins.
func (b *batch) Commit() error {
	if b.done {
		if b.err != nil {
			return b.err
		}
		return errBatchDone
	}
	b.done = true
	b.endRead()
	defer b.s.gc.RUnlock()
	err := b.commit()
	if err != nil {
		b.txn.Discard()
	} else if b.total >= trimEvery/4 {
		// A large write ends: leave little of it resident.
		trimMapped(b.s.mapDir)
	}
	b.s.bufs.put(b.bufs)
	b.bufs = nil
	if err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	return nil
}

func (b *batch) commit() error {
	if len(b.pins) > 0 {
		// Also on failure: some pins may have committed (a spurious
		// change only makes watchers look again).
		defer b.s.watch.PinsChanged()
	}
	b.inflight.Wait()
	if err := b.firstAsyncErr(); err != nil {
		return err
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	if b.entries > 0 || len(b.pins) > 0 {
		if err := b.s.room(b.bytes + b.est + 64*len(b.pins)); err != nil {
			return err
		}
	}
	for _, p := range b.pins {
		err := pinEntries(b.txn, p.Cid, p.Mode)
		if errors.Is(err, badger.ErrTxnTooBig) {
			// Thousands of pins: commit what is there and go on.
			if err = b.txn.Commit(); err == nil {
				b.txn = b.s.db.NewTransaction(true)
				err = pinEntries(b.txn, p.Cid, p.Mode)
			}
		}
		if err != nil {
			return err
		}
	}
	if err := b.txn.Commit(); err != nil {
		return err
	}
	b.s.watch.BlocksWritten()
	b.s.wrote(b.bytes)
	return nil
}

// Discard drops what is not written yet and releases the batch.
func (b *batch) Discard() {
	if b.done {
		return
	}
	b.done = true
	b.endRead()
	b.txn.Discard()
	b.inflight.Wait()
	b.s.bufs.put(b.bufs)
	b.bufs = nil
	b.s.gc.RUnlock()
}
