package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/shoal-sync/shoal/store"
)

// KV is a namespace of keys in the store's database for other subsystems
// (the folder index, the DHT routing table). Keys are ordered bytewise.
type KV struct {
	s      *Store // for its floor of free space
	db     *badger.DB
	name   string
	prefix []byte
}

// KV returns the namespace called name, 1 to 255 bytes; it panics on any
// other length. Namespaces never see each other's keys.
func (s *Store) KV(name string) *KV {
	if len(name) == 0 || len(name) > 255 {
		panic(fmt.Sprintf("badgerstore: KV namespace name of %d bytes", len(name)))
	}
	p := append(append([]byte(nil), prefixKV...), byte(len(name)))
	return &KV{s: s, db: s.db, name: name, prefix: append(p, name...)}
}

func (kv *KV) key(k []byte) []byte { return key(kv.prefix, k) }

// Get returns a copy of the value of k, or an error wrapping
// store.ErrNotFound.
func (kv *KV) Get(ctx context.Context, k []byte) ([]byte, error) {
	var v []byte
	err := kv.db.View(func(txn *badger.Txn) (err error) {
		v, err = (&KVTxn{kv: kv, txn: txn}).Get(k)
		return err
	})
	return v, err
}

// Put sets k to v.
func (kv *KV) Put(ctx context.Context, k, v []byte) error {
	return kv.Update(ctx, func(t *KVTxn) error { return t.Put(k, v) })
}

// Delete removes k; a missing key is not an error.
func (kv *KV) Delete(ctx context.Context, k []byte) error {
	return kv.Update(ctx, func(t *KVTxn) error { return t.Delete(k) })
}

// Iterate calls fn for every key starting with prefix, in order. The key
// and value are valid only during the call.
func (kv *KV) Iterate(ctx context.Context, prefix []byte, fn func(k, v []byte) error) error {
	return kv.db.View(func(txn *badger.Txn) error {
		return (&KVTxn{kv: kv, txn: txn, ctx: ctx}).Iterate(prefix, fn)
	})
}

// maxConflictRetries bounds how often Update reruns fn when a concurrent
// transaction wrote what it read; between tries it waits a random moment
// of up to a millisecond so that contenders spread out.
const maxConflictRetries = 64

// ErrTxnTooBig means one Update wrote more than a transaction can hold:
// about 600 KiB of keys and small values (15 % of the 4 MiB memtable).
var ErrTxnTooBig = badger.ErrTxnTooBig

// Update runs fn in one transaction and commits its writes atomically; if
// fn returns an error nothing is written. If another transaction changed
// a key fn read, fn runs again (up to a few times), so it must not have
// other side effects. Writes past what one transaction holds fail with
// ErrTxnTooBig: split very large groups.
func (kv *KV) Update(ctx context.Context, fn func(*KVTxn) error) error {
	for try := 0; ; try++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := kv.s.room(0); err != nil {
			return fmt.Errorf("kv %s: %w", kv.name, err)
		}
		err := kv.db.Update(func(txn *badger.Txn) error {
			return fn(&KVTxn{kv: kv, txn: txn, ctx: ctx})
		})
		if errors.Is(err, badger.ErrConflict) && try < maxConflictRetries {
			time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond))))
			continue
		}
		if err != nil {
			return fmt.Errorf("kv %s: %w", kv.name, err)
		}
		return nil
	}
}

// KVTxn is one transaction on a KV namespace, valid only inside Update
// (or a read).
type KVTxn struct {
	kv  *KV
	txn *badger.Txn
	ctx context.Context
}

// Get returns a copy of the value of k, or an error wrapping
// store.ErrNotFound. It sees the transaction's own writes.
func (t *KVTxn) Get(k []byte) ([]byte, error) {
	item, err := t.txn.Get(t.kv.key(k))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, &notFound{ns: t.kv.name, key: string(k)}
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: get %q: %w", t.kv.name, k, err)
	}
	return item.ValueCopy(nil)
}

// notFound is Get's error for a missing key. A miss is an answer on hot
// paths (a scan asks after every file's record), so the message is only
// formatted when someone reads it.
type notFound struct{ ns, key string }

func (e *notFound) Error() string {
	return fmt.Sprintf("kv %s: key %q: %v", e.ns, e.key, store.ErrNotFound)
}

func (e *notFound) Unwrap() error { return store.ErrNotFound }

// Put sets k to v when the transaction commits; k and v are copied.
func (t *KVTxn) Put(k, v []byte) error {
	if err := t.txn.Set(t.kv.key(k), append([]byte(nil), v...)); err != nil {
		return fmt.Errorf("kv %s: put %q: %w", t.kv.name, k, err)
	}
	return nil
}

// Delete removes k when the transaction commits.
func (t *KVTxn) Delete(k []byte) error {
	if err := t.txn.Delete(t.kv.key(k)); err != nil {
		return fmt.Errorf("kv %s: delete %q: %w", t.kv.name, k, err)
	}
	return nil
}

// Iterate calls fn for every key starting with prefix, in order, seeing
// the transaction's own writes. The key and value are valid only during
// the call.
func (t *KVTxn) Iterate(prefix []byte, fn func(k, v []byte) error) error {
	ctx := t.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	full := t.kv.key(prefix)
	err := iterateTxn(ctx, t.txn, full, true, func(item *badger.Item) error {
		return item.Value(func(v []byte) error {
			return fn(item.Key()[len(t.kv.prefix):], v)
		})
	})
	if err != nil {
		return fmt.Errorf("kv %s: iterate %q: %w", t.kv.name, prefix, err)
	}
	return nil
}
