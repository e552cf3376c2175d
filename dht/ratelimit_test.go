package dht

import (
	"net/netip"
	"testing"
	"time"
)

// TestLimiterForgetsIdleSources checks that sources whose bucket has
// refilled are swept out, so the map holds only recent senders, and that
// a swept source starts again with a full bucket.
func TestLimiterForgetsIdleSources(t *testing.T) {
	l := limiter{rate: 10}
	t0 := time.Unix(1000, 0)
	src := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 6881)
	}
	for i := range 1000 {
		l.allow(src(i), t0)
	}
	if len(l.m) != 1000 {
		t.Fatalf("%d sources remembered within one refill period, want 1000", len(l.m))
	}
	later := t0.Add(3 * refillTime)
	for i := range 5 {
		l.allow(src(5000+i), later)
	}
	if len(l.m) > 5 {
		t.Errorf("%d sources remembered after the others went idle, want ≤ 5", len(l.m))
	}
	for i := range 20 {
		if !l.allow(src(1), later) {
			t.Fatalf("packet %d of a swept source refused, want a full burst of 20", i)
		}
	}
	if l.allow(src(1), later) {
		t.Error("21st packet in one instant allowed, want the burst of 20 spent")
	}
}
