package swarm

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"
)

// intoGetter is a store that can read a block into a buffer it is given
// (badgerstore does). The swarm serves through it with recycled buffers,
// instead of allocating (and the GC collecting) one per block sent.
type intoGetter interface {
	GetInto(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

// peerGetter is an intoGetter that can skip re-hashing a referenced block
// whose file is unchanged, for a block going to a peer (which hashes it).
type peerGetter interface {
	GetForPeer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

// maxPooledBuf bounds the buffers kept for reuse: the largest block.
const maxPooledBuf = 4<<20 + 1024

// bufPool recycles the buffers blocks are read into for sending. A buffer
// too small for a block is replaced by the larger one the store allocates.
type bufPool struct{ p sync.Pool }

func (b *bufPool) get() []byte {
	if p, ok := b.p.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

// put returns buf's memory for reuse; nothing may use buf after.
func (b *bufPool) put(buf []byte) {
	if cap(buf) == 0 || cap(buf) > maxPooledBuf {
		return
	}
	buf = buf[:0]
	b.p.Put(&buf)
}

// recvPool recycles the buffers received blocks are copied into, in size
// classes (powers of two from 16 KiB), so that a buffer taken always fits
// and wastes at most half.
type recvPool struct{ classes [recvClasses]sync.Pool }

const (
	recvMinShift = 14 // 16 KiB
	recvClasses  = 9  // up to 4 MiB
)

// class returns the size class of an n-byte block, or -1 for none.
func (*recvPool) class(n int) int {
	for k := range recvClasses {
		if n <= 1<<(recvMinShift+k) {
			return k
		}
	}
	return -1
}

// get returns a buffer of n bytes (contents undefined).
func (r *recvPool) get(n int) []byte {
	k := r.class(n)
	if k < 0 {
		return make([]byte, n)
	}
	if p, ok := r.classes[k].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<(recvMinShift+k))
}

// put returns a buffer from get for reuse; nothing may use it after.
func (r *recvPool) put(buf []byte) {
	k := r.class(cap(buf))
	if k < 0 || cap(buf) != 1<<(recvMinShift+k) {
		return
	}
	buf = buf[:0]
	r.classes[k].Put(&buf)
}

// DataBorrower is a Sink that keeps nothing of a raw block's data once Put
// returns (dag.TreeWriter writes it into a file). A fetch into one lets
// the swarm reuse the memory of the blocks it passed, instead of
// allocating (and collecting) a buffer for every block received.
type DataBorrower interface {
	Sink
	BorrowsData()
}
