package swarm

import (
	"context"
	"errors"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/sync/wire"
)

// outq is a peer's send queue: control messages go first, then block
// serves in request order, taking turns with bulk messages (a long
// index stream), each of which may go once the serves since the last
// one sent bulkQuantum bytes of blocks. Cancels remove queued serves and
// mark the ones being read.
type outq struct {
	mu       sync.Mutex
	ctrl     []outItem
	serves   []cid.Cid
	reading  []*serveJob // serves popped and not yet finished by the writer
	bulk     []outItem
	credit   int           // block bytes serves may send before the next bulk message
	slots    chan struct{} // one per queued bulk message: at most maxBulk
	closed   bool
	overflow bool // over maxCtrl: the peer does not read what it asks for
	wake     chan struct{}
}

// maxBulk is how many bulk messages one peer's queue holds: a sender of
// more waits, so a stream much faster than the peer reads (an index read
// from the store) is held back at its source, not in memory.
const maxBulk = 4

// bulkQuantum is how many bytes of blocks the serves send between two
// bulk messages while both are queued: about the bytes a peer asks for
// at once (strategy's PeerBytes), so the blocks a peer is waiting for
// never queue behind more than one bulk message, nor a stream behind
// more than one round of blocks.
const bulkQuantum = 4 << 20

// maxCtrl bounds the control messages queued for one peer. Most answer
// what the peer sent (have, dont-have, pong); a peer that keeps asking
// without reading the answers would grow the queue without end, so past
// this the connection is closed.
const maxCtrl = 4096

// errUnasked: a peer sent too many blocks we did not ask for.
var errUnasked = errors.New("unasked blocks")

// errOverflow: a peer's control queue passed maxCtrl.
var errOverflow = errors.New("peer does not read its replies: send queue full")

func newOutq() *outq {
	return &outq{wake: make(chan struct{}, 1), slots: make(chan struct{}, maxBulk)}
}

func (q *outq) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *outq) push(it outItem) {
	q.mu.Lock()
	switch {
	case q.closed || q.overflow:
	case len(q.ctrl) >= maxCtrl:
		q.overflow = true
		q.ctrl = nil
	default:
		q.ctrl = append(q.ctrl, it)
	}
	q.mu.Unlock()
	q.signal()
}

// pushBulk queues a bulk message, first waiting while maxBulk are queued,
// until ctx ends or done (the connection's end) is closed.
func (q *outq) pushBulk(ctx context.Context, done <-chan struct{}, it outItem) error {
	select {
	case q.slots <- struct{}{}:
	case <-done:
		return ErrNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
	q.mu.Lock()
	if q.closed || q.overflow {
		q.mu.Unlock()
		<-q.slots
		return ErrNotConnected
	}
	q.bulk = append(q.bulk, it)
	q.mu.Unlock()
	q.signal()
	return nil
}

// sent counts n bytes of a block written against the serves' credit.
func (q *outq) sent(n int) {
	q.mu.Lock()
	q.credit -= n
	q.mu.Unlock()
}

// overflowed reports whether the queue passed maxCtrl.
func (q *outq) overflowed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overflow
}

// maxServes bounds the block requests queued for one peer; a peer that
// asks for more before we catch up has the excess ignored (its picker
// times them out and asks elsewhere).
const maxServes = 8192

func (q *outq) pushServes(cs []cid.Cid) {
	q.mu.Lock()
	if !q.closed {
		q.serves = append(q.serves, cs[:min(len(cs), max(0, maxServes-len(q.serves)))]...)
	}
	q.mu.Unlock()
	q.signal()
}

func (q *outq) cancel(cs []cid.Cid) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range cs {
		for _, j := range q.reading {
			if j.c == c {
				j.dropped = true
			}
		}
		for i, s := range q.serves {
			if s == c {
				q.serves = append(q.serves[:i], q.serves[i+1:]...)
				break
			}
		}
	}
}

func (q *outq) dropServes() {
	q.mu.Lock()
	q.serves = nil
	for _, j := range q.reading {
		j.dropped = true
	}
	q.mu.Unlock()
}

// isDropped reports whether j was cancelled (or the peer choked) so far.
func (q *outq) isDropped(j *serveJob) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return j.dropped
}

// finish ends the writer's work on serve j and reports whether it was
// cancelled (or the peer choked) meanwhile.
func (q *outq) finish(j *serveJob) (cancelled bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, r := range q.reading {
		if r == j {
			q.reading = append(q.reading[:i], q.reading[i+1:]...)
			break
		}
	}
	return j.dropped
}

func (q *outq) close() {
	q.mu.Lock()
	q.closed = true
	q.ctrl, q.serves = nil, nil
	for range q.bulk {
		<-q.slots
	}
	q.bulk = nil
	q.mu.Unlock()
	q.signal()
}

// serveLookahead is how far into a peer's queued serves pop looks for the
// block uploaded least often.
const serveLookahead = 64

// pop returns the next item, or ok=false when the queue is empty (or only
// serves are queued and serves is false, or a bulk message waits for the
// serves' turn). Control messages go first; a bulk message goes when no
// serve is queued or the serves spent their credit. Among the first serveLookahead
// queued serves it takes the one with the lowest uploads count (ties: the
// oldest request), so a seed whose leechers ask for the same blocks sends
// each of them different blocks first, and they trade the rest among
// themselves. A serve comes with its job, registered for cancels.
func (q *outq) pop(uploads func(cid.Cid) uint32, serves bool) (it outItem, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return it, false, true
	case q.overflow:
		return outItem{m: msg{kind: mError, err: wire.Error{Code: wire.CodeRefused, Message: errOverflow.Error()}}}, true, false
	case len(q.ctrl) > 0:
		it = q.ctrl[0]
		q.ctrl[0] = outItem{}
		q.ctrl = q.ctrl[1:]
		return it, true, false
	case len(q.bulk) > 0 && (q.credit <= 0 || len(q.serves) == 0):
		it = q.bulk[0]
		q.bulk[0] = outItem{}
		q.bulk = q.bulk[1:]
		q.credit = bulkQuantum
		<-q.slots
		return it, true, false
	case serves && len(q.serves) > 0:
		best, bestN := 0, uploads(q.serves[0])
		for i := 1; i < min(len(q.serves), serveLookahead) && bestN > 0; i++ {
			if n := uploads(q.serves[i]); n < bestN {
				best, bestN = i, n
			}
		}
		it.serve = q.serves[best]
		q.serves = append(q.serves[:best], q.serves[best+1:]...)
		it.job = &serveJob{c: it.serve, done: make(chan struct{})}
		q.reading = append(q.reading, it.job)
		return it, true, false
	}
	return it, false, false
}
