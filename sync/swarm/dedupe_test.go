package swarm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/store/memstore"
)

// TestSimultaneousDial has two nodes dial each other at once, many times:
// each must end with exactly one connection, and the same one on both
// sides (one's outbound is the other's inbound).
func TestSimultaneousDial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := 0; round < 10; round++ {
		c, err := newCluster(ctx, []store.Store{memstore.New(memstore.Options{}), memstore.New(memstore.Options{})},
			func(int) Options { return Options{ServeAll: true} })
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		go func() { errs <- c.connect(ctx, 0, 1) }()
		go func() { errs <- c.connect(ctx, 1, 0) }()
		for range 2 {
			if err := <-errs; err != nil && !errors.Is(err, ErrDuplicatePeer) {
				t.Fatal(err)
			}
		}
		a, b := waitOnePeer(ctx, t, c.nodes[0].swarm), waitOnePeer(ctx, t, c.nodes[1].swarm)
		if a.Outbound == b.Outbound {
			t.Fatalf("round %d: both sides kept a connection they dialed (%v): different connections", round, a.Outbound)
		}
		c.close()
	}
}

// waitOnePeer waits until s has settled on exactly one peer (the losing
// connection of a simultaneous dial may take a moment to go).
func waitOnePeer(ctx context.Context, t *testing.T, s *Swarm) PeerStats {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	stable := 0
	for {
		ps := s.Peers()
		if len(ps) == 1 {
			stable++
			if stable == 20 {
				return ps[0]
			}
		} else {
			stable = 0
		}
		select {
		case <-ctx.Done():
			t.Fatalf("peers never settled on one: %d", len(ps))
		case <-tick.C:
		}
	}
}
