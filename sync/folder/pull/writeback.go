package pull

import (
	"os"
	"sync"
)

// writebackEvery is how many bytes a pull writes between two nudges to
// the kernel to start writing the file out.
const writebackEvery = 16 << 20

// writeback starts the kernel writing a file's dirty pages out while a
// pull still fills it, from a goroutine of its own so that the pull never
// waits on the disk: by the time the file is complete most of it is on
// disk, and the flush that makes it durable (Commit) has little left to
// do, instead of the whole file after the last block. It only starts
// writes; durability still comes from the flush.
type writeback struct {
	kick chan struct{}
	done chan struct{}
	once sync.Once
}

func newWriteback(f *os.File) *writeback {
	w := &writeback{kick: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for range w.kick {
			startWriteback(f)
		}
	}()
	return w
}

// nudge asks for a writeback soon; it never blocks.
func (w *writeback) nudge() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// stop ends the goroutine and waits for it: the file may be closed after.
func (w *writeback) stop() {
	w.once.Do(func() {
		close(w.kick)
		<-w.done
	})
}
