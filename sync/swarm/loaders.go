package swarm

import (
	"sync"
	"sync/atomic"
)

// loaders run a writer's serve jobs (reading blocks from the store) on a
// few goroutines that live while jobs keep coming, instead of one
// goroutine a job: a new goroutine's stack grows again through the
// store's read path for every block, which costs the sender about 5 % of
// its CPU on a big transfer. Workers start as jobs queue, up to max, and
// end when they find the queue empty, so an idle peer holds none.
type loaders struct {
	jobs    chan *serveJob
	run     func(*serveJob)
	max     int32
	running atomic.Int32 // workers started and not ended
	busy    atomic.Int32 // jobs started and not yet run to the end
	wg      sync.WaitGroup
}

// newLoaders returns loaders for at most max jobs queued or running at once.
func newLoaders(run func(*serveJob), max int) *loaders {
	return &loaders{jobs: make(chan *serveJob, max), run: run, max: int32(max)}
}

// start queues j; the caller has fewer than max jobs not yet done, so it
// never blocks.
func (l *loaders) start(j *serveJob) {
	l.jobs <- j
	if l.running.Load() < min(l.busy.Add(1), l.max) {
		l.running.Add(1)
		l.wg.Add(1)
		go l.work()
	}
}

func (l *loaders) work() {
	defer l.wg.Done()
	for {
		select {
		case j := <-l.jobs:
			l.run(j)
			l.busy.Add(-1)
			continue
		default:
		}
		// Count this worker out before a last look: a job queued after
		// the look sees the lower count and starts a worker of its own.
		l.running.Add(-1)
		if len(l.jobs) == 0 {
			return
		}
		l.running.Add(1)
	}
}

// close waits for the workers; no job may be started after.
func (l *loaders) close() { l.wg.Wait() }
