package badgerstore

import (
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
	for it.Seek(t.kv.key(start)); it.ValidForPrefix(full); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		item := it.Item()
		err := item.Value(func(v []byte) error { return fn(item.Key()[len(t.kv.prefix):], v) })
		if err == ErrStop {
			return nil
		}
		if err != nil {
			return fmt.Errorf("kv %s: iterate %q: %w", t.kv.name, prefix, err)
		}
	}
	return nil
}

// ErrStop, returned by an IterateFrom callback, ends the iteration
// without an error.
var ErrStop = fmt.Errorf("stop iteration")
