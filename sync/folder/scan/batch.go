package scan

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
)

// batch is a store batch that remembers the blocks put in it and is
// committed every few hundred files.
type batch struct {
	ctx  context.Context
	s    store.Store
	b    store.Batch
	n    int // files since the last commit
	cids []cid.Cid
	buf  []byte // where this worker reads small files whole (dag.AddOptions.Buffer)
}

func newBatch(ctx context.Context, s store.Store) *batch {
	return &batch{ctx: ctx, s: s}
}

func (b *batch) open() store.Batch {
	if b.b == nil {
		b.b = b.s.NewBatch(b.ctx)
	}
	return b.b
}

func (b *batch) Put(c cid.Cid, data []byte) error {
	b.cids = append(b.cids, c)
	return b.open().Put(c, data)
}

func (b *batch) PutRef(c cid.Cid, ref store.Ref) error {
	b.cids = append(b.cids, c)
	return b.open().PutRef(c, ref)
}

func (b *batch) Pin(c cid.Cid, mode store.PinMode) error { return b.open().Pin(c, mode) }

// Commit writes what was put so far; the batch stays usable.
func (b *batch) Commit() error { return b.commit() }

func (b *batch) commit() error {
	if b.b == nil {
		return nil
	}
	err := b.b.Commit()
	b.b.Discard()
	b.b, b.n, b.cids = nil, 0, b.cids[:0]
	return err
}

func (b *batch) Discard() {
	if b.b != nil {
		b.b.Discard()
		b.b = nil
	}
}
