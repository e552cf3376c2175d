package badgerstore

import (
	"math/bits"
	"sync"
)

// bufPool recycles the buffers batches copy block data into, by power-of-
// two size class. A batch returns them once badger has written them, so a
// long write reuses a few dozen buffers instead of leaving hundreds of MiB
// of garbage for the collector (which badger's large memtable arena would
// otherwise let grow to twice its size).
type bufPool struct {
	classes [maxClass + 1]sync.Pool
}

const (
	minClass = 10 // 1 KiB: smaller values live in the LSM tree, not worth pooling
	maxClass = 22 // 4 MiB: larger blocks are allocated each time
)

func sizeClass(n int) int {
	if n <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(n - 1))
}

// get returns a buffer of length n.
func (p *bufPool) get(n int) []byte {
	c := sizeClass(n)
	if c > maxClass || n < 1<<minClass {
		return make([]byte, n)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<c)
}

// put returns buffers from get once nothing refers to them any more.
func (p *bufPool) put(bufs [][]byte) {
	for _, b := range bufs {
		c := sizeClass(cap(b))
		if cap(b) != 1<<c || c > maxClass || c < minClass {
			continue
		}
		b = b[:0]
		p.classes[c].Put(&b)
	}
}
