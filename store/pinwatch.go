package store

import (
	"sync"
	"sync/atomic"
)

// PinState is what a store's WatchPins returns: counters that grow with
// every change, and a channel closed at the next change of the pins.
type PinState struct {
	Gen     uint64          // grows with every change of the pins
	Writes  uint64          // grows with every committed write of blocks
	Changed <-chan struct{} // closed at the next change of the pins
}

// PinWatch keeps a store's PinState; stores embed one and call PinsChanged
// after a pin change commits and BlocksWritten after blocks do. The zero
// value is ready to use.
type PinWatch struct {
	gen    atomic.Uint64
	writes atomic.Uint64
	mu     sync.Mutex
	ch     chan struct{}
}

// PinsChanged records a committed change of the pins and wakes watchers.
func (w *PinWatch) PinsChanged() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen.Add(1)
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// BlocksWritten records a committed write of blocks (no wake-up: a watcher
// looks at Writes when it needs to).
func (w *PinWatch) BlocksWritten() { w.writes.Add(1) }

// WatchPins returns the current state.
func (w *PinWatch) WatchPins() PinState {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return PinState{Gen: w.gen.Load(), Writes: w.writes.Load(), Changed: w.ch}
}

// PinGen returns the pins' generation without taking a channel: the cheap
// check a reader does on every lookup.
func (w *PinWatch) PinGen() (gen, writes uint64) { return w.gen.Load(), w.writes.Load() }
