package badgerstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// View runs fn in one read-only transaction: every read in it sees the
// same moment of the database.
func (kv *KV) View(ctx context.Context, fn func(*KVTxn) error) error {
	return kv.db.View(func(txn *badger.Txn) error {
		return fn(&KVTxn{kv: kv, txn: txn, ctx: ctx})
	})
}

// IterateFrom calls fn for every key starting with prefix that sorts at or
// after start, in order, until fn returns ErrStop or an error. The key
// and value are valid only during the call.
func (t *KVTxn) IterateFrom(prefix, start []byte, fn func(k, v []byte) error) error {
	ctx := t.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	full := t.kv.key(prefix)
	o := badger.DefaultIteratorOptions
	o.Prefix = full
	it := t.txn.NewIterator(o)
	defer it.Close()
	it.Seek(t.kv.key(start))
	if err := t.each(ctx, it, full, fn); err != nil {
		return fmt.Errorf("kv %s: iterate %q: %w", t.kv.name, prefix, err)
	}
	return nil
}

// each calls fn for the keys from its position on while they start with
// full, until fn returns ErrStop (nil) or an error.
func (t *KVTxn) each(ctx context.Context, it *badger.Iterator, full []byte, fn func(k, v []byte) error) error {
	for ; it.ValidForPrefix(full); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		item := it.Item()
		err := item.Value(func(v []byte) error { return fn(item.Key()[len(t.kv.prefix):], v) })
		if err == ErrStop {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ErrStop, returned by an IterateFrom callback, ends the iteration
// without an error.
var ErrStop = fmt.Errorf("stop iteration")

// IterateBefore calls fn for every key starting with prefix that sorts
// before end (nil: every such key), backwards from the last, until fn
// returns ErrStop or an error. The key and value are valid only during
// the call.
func (t *KVTxn) IterateBefore(prefix, end []byte, fn func(k, v []byte) error) error {
	ctx := t.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	full := t.kv.key(prefix)
	seek := t.kv.key(end)
	if end == nil {
		seek = successor(full)
	}
	o := badger.DefaultIteratorOptions
	o.Reverse = true
	it := t.txn.NewIterator(o) // no o.Prefix: the seek key may lie past it
	defer it.Close()
	it.Seek(seek)
	if seek != nil && it.Valid() && bytes.Equal(it.Item().Key(), seek) {
		it.Next() // end itself is not before end
	}
	if err := t.each(ctx, it, full, fn); err != nil {
		return fmt.Errorf("kv %s: iterate %q backwards: %w", t.kv.name, prefix, err)
	}
	return nil
}

// successor is the least key greater than every key that starts with p,
// or nil when there is none (p is all 0xff).
func successor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}
