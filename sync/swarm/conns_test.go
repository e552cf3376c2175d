package swarm

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sync/shoal/sync/swarm/strategy"
)

// waitPeers waits until sw has n peers.
func waitPeers(t *testing.T, ctx context.Context, sw *Swarm, n int) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(sw.Peers()) != n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d peers, want %d", len(sw.Peers()), n)
		case <-tick.C:
		}
	}
}

// TestTrimIdlePeers: past Conns.High the idle peers are let go, down to
// Low, but never a protected one.
func TestTrimIdlePeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := newTestCluster(t, memStores(4), func(i int) Options {
		if i == 0 {
			return Options{Conns: strategy.ConnLimits{High: 2, Low: 1, Grace: 100 * time.Millisecond}}
		}
		return Options{}
	})
	hub := c.nodes[0].swarm
	hub.Protect(c.nodes[3].id.ID())
	for i := 1; i <= 3; i++ {
		if err := c.connect(ctx, i, 0); err != nil {
			t.Fatal(err)
		}
	}
	waitPeers(t, ctx, hub, 1)
	if ps := hub.Peers(); ps[0].ID != c.nodes[3].id.ID() {
		t.Fatalf("kept %s, not the protected peer", ps[0].ID.Short())
	}
}

// TestTooManyPeers: at twice Conns.High a new peer is refused and told
// why, while a protected one still gets in.
func TestTooManyPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := newTestCluster(t, memStores(5), func(i int) Options {
		if i == 0 {
			return Options{Conns: strategy.ConnLimits{High: 1, Grace: time.Hour}}
		}
		return Options{}
	})
	hub := c.nodes[0].swarm
	hub.Protect(c.nodes[4].id.ID())
	for i := 1; i <= 2; i++ {
		if err := c.connect(ctx, i, 0); err != nil {
			t.Fatal(err)
		}
	}
	waitPeers(t, ctx, hub, 2)
	err := c.connect(ctx, 3, 0)
	if err == nil || !strings.Contains(err.Error(), "too many peers") {
		t.Fatalf("third peer: %v, want a refusal saying too many peers", err)
	}
	if err := c.connect(ctx, 4, 0); err != nil {
		t.Fatalf("protected peer: %v", err)
	}
	waitPeers(t, ctx, hub, 3)
}
