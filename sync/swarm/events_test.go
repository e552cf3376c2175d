package swarm

import (
	"context"
	"testing"
	"time"
)

// TestPeerEvents: a subscriber hears of a peer's connection and of its
// drop, in order, with the peer's identity and direction.
func TestPeerEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := newTestCluster(t, memStores(2), func(int) Options { return Options{} })
	evs, stop := c.nodes[0].swarm.SubscribePeers()
	defer stop()
	if err := c.connect(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	next := func() PeerEvent {
		t.Helper()
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("subscription closed")
			}
			return ev
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return PeerEvent{}
	}
	ev := next()
	if !ev.Connected || ev.ID != c.nodes[1].id.ID() || ev.Outbound {
		t.Fatalf("first event %+v, want an inbound connect of node 1", ev)
	}
	c.nodes[1].swarm.Close()
	ev = next()
	if ev.Connected || ev.ID != c.nodes[1].id.ID() {
		t.Fatalf("second event %+v, want node 1's drop", ev)
	}
	stop()
	for range evs { // closed after stop
	}
}
