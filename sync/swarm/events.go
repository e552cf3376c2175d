package swarm

import (
	"sync"

	"github.com/shoal-sync/shoal/sync/identity"
)

// PeerEvent says that a peer connected (its hellos are through) or
// disconnected.
type PeerEvent struct {
	Connected   bool // false: the peer disconnected
	ID          identity.NodeID
	Addr        string   // the connection's remote address
	Outbound    bool     // this side dialed
	ListenAddrs []string // addresses it says it accepts on (unverified)
}

// SubscribePeers returns a channel that receives every PeerEvent from now
// on, in order, and a func that ends the subscription. Events queue for a
// slow reader rather than being dropped; the channel is closed after
// cancel or when the swarm closes.
func (s *Swarm) SubscribePeers() (<-chan PeerEvent, func()) {
	sub := &peerSub{ch: make(chan PeerEvent), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	s.peerSubs.add(sub)
	go sub.deliver(s.ctx.Done())
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			s.peerSubs.remove(sub)
			close(sub.stop)
		})
	}
}

// peerHub holds the subscribers; its zero value is ready.
type peerHub struct {
	mu   sync.Mutex
	subs map[*peerSub]struct{}
}

func (h *peerHub) add(sub *peerSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = make(map[*peerSub]struct{})
	}
	h.subs[sub] = struct{}{}
}

func (h *peerHub) remove(sub *peerSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, sub)
}

// publish queues ev for every subscriber; it never blocks.
func (h *peerHub) publish(ev PeerEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		sub.push(ev)
	}
}

type peerSub struct {
	ch   chan PeerEvent
	wake chan struct{}
	stop chan struct{}

	mu sync.Mutex
	q  []PeerEvent
}

func (sub *peerSub) push(ev PeerEvent) {
	sub.mu.Lock()
	sub.q = append(sub.q, ev)
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// deliver hands queued events to the reader until stop or done.
func (sub *peerSub) deliver(done <-chan struct{}) {
	defer close(sub.ch)
	for {
		sub.mu.Lock()
		q := sub.q
		sub.q = nil
		sub.mu.Unlock()
		for _, ev := range q {
			select {
			case sub.ch <- ev:
			case <-sub.stop:
				return
			case <-done:
				return
			}
		}
		select {
		case <-sub.wake:
		case <-sub.stop:
			return
		case <-done:
			return
		}
	}
}

func (p *peer) event(connected bool) PeerEvent {
	return PeerEvent{Connected: connected, ID: p.id, Addr: p.addr, Outbound: p.outbound, ListenAddrs: p.listenAddrs}
}

// ListenAddrs returns the addresses the peer says it accepts on (unverified).
func (c *Conn) ListenAddrs() []string { return c.p.listenAddrs }

// Outbound reports whether this side dialed the connection.
func (c *Conn) Outbound() bool { return c.p.outbound }
