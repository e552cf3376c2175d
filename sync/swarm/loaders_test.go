package swarm

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestLoaders: up to limit jobs run at the same time (each waits here
// until all of its round have started), every job runs once however jobs
// and workers' ends interleave, and close waits for them all.
func TestLoaders(t *testing.T) {
	for _, limit := range []int{1, 3, 8} {
		var ran atomic.Int32
		started := make(chan struct{}, limit)
		l := newLoaders(func(j *serveJob) {
			started <- struct{}{}
			<-j.done
			ran.Add(1)
		}, limit)
		total := int32(0)
		// Rounds of limit jobs at once, then of one: workers end between
		// rounds and must start again.
		for round := range 20 {
			n := limit
			if round%2 == 1 {
				n = 1
			}
			jobs := make([]*serveJob, n)
			for i := range jobs {
				jobs[i] = &serveJob{done: make(chan struct{})}
				l.start(jobs[i])
			}
			for i := range n {
				select {
				case <-started:
				case <-time.After(20 * time.Second):
					t.Fatalf("limit %d round %d: only %d of %d jobs run at once", limit, round, i, n)
				}
			}
			for _, j := range jobs {
				close(j.done)
			}
			total += int32(n)
			l.close()
			if got := ran.Load(); got != total {
				t.Fatalf("limit %d round %d: %d jobs ran, want %d", limit, round, got, total)
			}
		}
	}
}
