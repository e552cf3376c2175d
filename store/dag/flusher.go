package dag

import (
	"os"
	"sync"
)

// flushStep is the unit, in bytes, in which a flusher writes a file to
// disk and then drops it from the page cache. A multiple of the page size.
const flushStep = 8 << 20

// flushMin is the smallest file a TreeWriter writes behind.
const flushMin = 4 * flushStep

// flushLag is how many steps a flusher keeps in the page cache after it
// started writing them, so that writing them has finished when it drops
// them.
const flushLag = 2

// flusher writes the steps of a large output file that are whole to disk
// in the background (write-behind) and, once they are on disk, drops them
// from the page cache (drop-behind). The fsync that completes the file
// then has little left to write, and the file's pages are recycled as it
// grows instead of taking fresh memory for every byte. Only whole steps
// (every byte written) are touched, so no page that is still to be written
// leaves the cache. A nil flusher does nothing.
type flusher struct {
	f    *os.File
	wake chan struct{}
	done chan struct{}

	mu      sync.Mutex
	todo    []int64    // offsets of steps that are whole, not yet started
	ranges  [][2]int64 // ranges to start writing, not to drop
	stopped bool
}

func newFlusher(f *os.File) *flusher {
	fl := &flusher{f: f, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go fl.run()
	return fl
}

// whole says that the step at off holds all its bytes.
func (fl *flusher) whole(off int64) {
	fl.mu.Lock()
	fl.todo = append(fl.todo, off)
	fl.mu.Unlock()
	fl.signal()
}

// partial asks for what is dirty in [lo, hi) to start going to disk,
// without dropping it from the cache: some of it may not be whole yet.
func (fl *flusher) partial(lo, hi int64) {
	fl.mu.Lock()
	fl.ranges = append(fl.ranges, [2]int64{lo, hi})
	fl.mu.Unlock()
	fl.signal()
}

func (fl *flusher) signal() {
	select {
	case fl.wake <- struct{}{}:
	default:
	}
}

// stop ends the flusher and waits for it; the file may be closed after.
// What it did not write, the file's fsync will.
func (fl *flusher) stop() {
	if fl == nil {
		return
	}
	fl.mu.Lock()
	already := fl.stopped
	fl.stopped = true
	fl.mu.Unlock()
	if !already {
		fl.signal()
	}
	<-fl.done
}

func (fl *flusher) run() {
	defer close(fl.done)
	var started []int64 // steps being written, oldest first
	for range fl.wake {
		fl.mu.Lock()
		todo, ranges, stopped := fl.todo, fl.ranges, fl.stopped
		fl.todo, fl.ranges = nil, nil
		fl.mu.Unlock()
		if stopped {
			return
		}
		for _, r := range ranges {
			startWriteback(fl.f, r[0], r[1]-r[0])
		}
		for _, off := range todo {
			startWriteback(fl.f, off, flushStep)
			started = append(started, off)
			if len(started) > flushLag {
				dropWritten(fl.f, started[0], flushStep)
				started = started[1:]
			}
		}
	}
}
