package session

import (
	"context"
	"sync"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/wire"
)

// maxInbox bounds the bytes of index records one connection holds
// waiting to be checked and stored (about 25,000 records): past it the
// connection's reader waits, and the peer's sending with it.
const maxInbox = 8 << 20

// inbox is one connection's queue of received index records, taken in by
// a goroutine of its own, in order. Checking a record's signature and
// storing it is slow next to reading it (some 20,000 a second here), and
// while a large index streams in, the blocks and replies the peer sends
// between its batches are read on: a joining peer's first files arrive
// while the rest of the index still does.
type inbox struct {
	mu    sync.Mutex
	jobs  []recordsJob
	bytes int
	wake  chan struct{} // the taker: a job came
	room  chan struct{} // a waiting put: bytes went
	done  chan struct{} // closed once the taker stopped
}

type recordsJob struct {
	f        identity.FolderID
	recs     []wire.SignedRecord
	complete []wire.Mark
	last     bool // the last message of an answer to our summary
	size     int
}

func newInbox() *inbox {
	return &inbox{wake: make(chan struct{}, 1), room: make(chan struct{}, 1), done: make(chan struct{})}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// put queues j, waiting while the inbox is full (one job always fits)
// until the taker stops or closed is closed; it reports whether j was
// queued.
func (b *inbox) put(j recordsJob, closed <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if b.bytes == 0 || b.bytes+j.size <= maxInbox {
			b.jobs = append(b.jobs, j)
			b.bytes += j.size
			b.mu.Unlock()
			signal(b.wake)
			return true
		}
		b.mu.Unlock()
		select {
		case <-b.room:
		case <-b.done:
			return false
		case <-closed:
			return false
		}
	}
}

// failer is the connection an inbox belongs to, as its taker sees it.
type failer interface {
	Closed() <-chan struct{}
	Fail(err error)
}

// take hands each queued job to fn in order until ctx ends or c closes;
// an error from fn fails the connection (unless ctx ended: the node is
// stopping), and the taker stops.
func (b *inbox) take(ctx context.Context, c failer, fn func(recordsJob) error) {
	defer close(b.done)
	for ctx.Err() == nil {
		b.mu.Lock()
		if len(b.jobs) == 0 {
			b.mu.Unlock()
			select {
			case <-b.wake:
				continue
			case <-c.Closed():
				return
			case <-ctx.Done():
				return
			}
		}
		j := b.jobs[0]
		b.jobs[0] = recordsJob{}
		b.jobs = b.jobs[1:]
		b.mu.Unlock()
		err := fn(j)
		b.mu.Lock()
		b.bytes -= j.size
		b.mu.Unlock()
		signal(b.room)
		if err != nil && ctx.Err() == nil {
			c.Fail(err)
			return
		}
	}
}
