// Package events carries a node's state changes (a folder's state, a file
// synced, a peer connected) from where they happen to whoever listens:
// the CLI, the API's event stream, the dialer, tests. Publishing never
// blocks; a subscriber that falls behind loses events and is told so as
// soon as it has room again.
package events

import (
	"sync"
	"time"
)

// Type names a kind of event.
type Type string

// Event types.
const (
	FolderState   Type = "folder-state"   // Data: the state ("scanning", "syncing", "idle", "stopped")
	FileSynced    Type = "file-synced"    // Path: a file written from a peer's record
	LocalChange   Type = "local-change"   // Path: a change found on this disk
	FolderPeer    Type = "folder-peer"    // Peer: a peer started (Data "up") or stopped ("down") sharing Folder
	Conflict      Type = "conflict"       // Path: the conflict copy made
	PullError     Type = "pull-error"     // Path, Data: why a path could not be synced
	EventsDropped Type = "events-dropped" // the subscriber was too slow: Data says how many
)

// Event is one state change.
type Event struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Type   Type      `json:"type"`
	Folder string    `json:"folder,omitempty"`
	Path   string    `json:"path,omitempty"`
	Peer   string    `json:"peer,omitempty"`
	Data   string    `json:"data,omitempty"`
}

// Bus delivers events to subscribers. The zero value is not usable: use New.
type Bus struct {
	mu   sync.Mutex
	seq  uint64
	subs map[*Sub]struct{}
}

// New returns an empty Bus.
func New() *Bus { return &Bus{subs: make(map[*Sub]struct{})} }

// Sub is one subscription.
type Sub struct {
	c        chan Event
	b        *Bus
	dropped  int
	catching bool // a catchUp goroutine runs for it
}

// C delivers the events; it is closed by Close.
func (s *Sub) C() <-chan Event { return s.c }

// Close ends the subscription.
func (s *Sub) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if _, ok := s.b.subs[s]; ok {
		delete(s.b.subs, s)
		close(s.c)
	}
}

// Subscribe returns a subscription buffering up to n events (default 1024).
func (b *Bus) Subscribe(n int) *Sub {
	if n <= 0 {
		n = 1024
	}
	s := &Sub{c: make(chan Event, n), b: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish sends ev to every subscriber without waiting.
func (b *Bus) Publish(ev Event) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev.Seq = b.seq
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	for s := range b.subs {
		if s.dropped > 0 {
			select {
			case s.c <- Event{Seq: ev.Seq, Time: ev.Time, Type: EventsDropped, Data: itoa(s.dropped)}:
				s.dropped = 0
			default:
				s.dropped++
				continue
			}
		}
		select {
		case s.c <- ev:
		default:
			s.dropped++
			if !s.catching {
				s.catching = true
				go b.catchUp(s)
			}
		}
	}
}

// catchEvery is how often a subscriber that lost events is offered the
// notice of it while no new event comes.
const catchEvery = 20 * time.Millisecond

// catchUp tells s that it lost events as soon as it has room, without
// waiting for another event to be published: the last event of a burst
// (a folder gone idle) may be among those lost, and a listener must
// hear that something went missing.
func (b *Bus) catchUp(s *Sub) {
	t := time.NewTicker(catchEvery)
	defer t.Stop()
	for range t.C {
		b.mu.Lock()
		_, open := b.subs[s]
		if !open || s.dropped == 0 {
			s.catching = false
			b.mu.Unlock()
			return
		}
		select {
		case s.c <- Event{Seq: b.seq, Time: time.Now(), Type: EventsDropped, Data: itoa(s.dropped)}:
			s.dropped, s.catching = 0, false
			b.mu.Unlock()
			return
		default:
		}
		b.mu.Unlock()
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
