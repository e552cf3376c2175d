package watch

import (
	"container/heap"
	"slices"
	"time"
)

// Debouncer collects events per path and says when each path is due: after
// Quiet without a new event, or MaxDelay after its first unreported event,
// whichever comes first. It does no I/O and keeps no clock; the caller
// passes the time in. The zero value is not usable: use NewDebouncer.
type Debouncer struct {
	quiet, maxDelay time.Duration
	pending         map[string]*pendingPath
	queue           deadlines // may hold stale entries, skipped when popped
}

type pendingPath struct {
	first, last time.Time
	due         time.Time
}

// NewDebouncer returns a Debouncer with the given quiet period and longest delay.
func NewDebouncer(quiet, maxDelay time.Duration) *Debouncer {
	return &Debouncer{quiet: quiet, maxDelay: maxDelay, pending: map[string]*pendingPath{}}
}

// Event records that path changed at now.
func (d *Debouncer) Event(path string, now time.Time) {
	p := d.pending[path]
	if p == nil {
		p = &pendingPath{first: now}
		d.pending[path] = p
	}
	p.last = now
	due := p.last.Add(d.quiet)
	if limit := p.first.Add(d.maxDelay); limit.Before(due) {
		due = limit
	}
	if due.Equal(p.due) {
		return
	}
	p.due = due
	heap.Push(&d.queue, deadline{due, path})
	if len(d.queue) > 4*len(d.pending)+64 {
		d.compact()
	}
}

// Due removes and returns, sorted, the paths due at now.
func (d *Debouncer) Due(now time.Time) []string {
	var out []string
	for len(d.queue) > 0 && !d.queue[0].at.After(now) {
		e := heap.Pop(&d.queue).(deadline)
		if p := d.pending[e.path]; p != nil && p.due.Equal(e.at) {
			delete(d.pending, e.path)
			out = append(out, e.path)
		}
	}
	slices.Sort(out)
	return out
}

// Next returns when the next path is due; the zero time when none is pending.
func (d *Debouncer) Next() time.Time {
	for len(d.queue) > 0 {
		e := d.queue[0]
		if p := d.pending[e.path]; p != nil && p.due.Equal(e.at) {
			return e.at
		}
		heap.Pop(&d.queue)
	}
	return time.Time{}
}

// Len returns how many paths are waiting.
func (d *Debouncer) Len() int { return len(d.pending) }

// compact drops the stale entries of the queue.
func (d *Debouncer) compact() {
	d.queue = d.queue[:0]
	for path, p := range d.pending {
		d.queue = append(d.queue, deadline{p.due, path})
	}
	heap.Init(&d.queue)
}

type deadline struct {
	at   time.Time
	path string
}

// deadlines is a min-heap of deadlines, earliest first.
type deadlines []deadline

func (q deadlines) Len() int           { return len(q) }
func (q deadlines) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q deadlines) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *deadlines) Push(x any)        { *q = append(*q, x.(deadline)) }
func (q *deadlines) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
