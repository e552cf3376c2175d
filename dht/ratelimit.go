package dht

import (
	"net/netip"
	"time"
)

// limiter is a token bucket per source address. A source whose bucket has
// refilled is the same as one never seen, so such sources are swept out
// and the map stays as small as the set of recent senders.
type limiter struct {
	rate      float64 // packets a second; negative: unlimited
	m         map[netip.AddrPort]bucketState
	sweepAt   int       // sweep when the map grows to this size
	lastSweep time.Time // and a refill period has passed since the last
}

type bucketState struct {
	tokens float64
	last   time.Time
}

const (
	maxLimiterEntries = 100000
	minSweepAt        = 32
)

// allow reports whether a packet from a may be handled at now.
func (l *limiter) allow(a netip.AddrPort, now time.Time) bool {
	if l.rate < 0 {
		return true
	}
	burst := 2 * l.rate
	b, ok := l.m[a]
	if !ok {
		if l.m == nil {
			l.m = make(map[netip.AddrPort]bucketState)
			l.sweepAt = minSweepAt
		}
		if len(l.m) >= maxLimiterEntries || len(l.m) >= l.sweepAt && now.Sub(l.lastSweep) > refillTime {
			l.sweep(now)
		}
		b = bucketState{tokens: burst, last: now}
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
	}
	l.m[a] = b
	return allowed
}

// refillTime is how long an empty bucket takes to fill (burst / rate).
const refillTime = 2 * time.Second

// sweep forgets sources whose bucket has refilled, into a new map so that
// the old one's memory goes (maps do not shrink).
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	kept := make(map[netip.AddrPort]bucketState)
	for a, b := range l.m {
		if now.Sub(b.last) <= refillTime && len(kept) < maxLimiterEntries/2 {
			kept[a] = b
		}
	}
	l.m = kept
	l.sweepAt = max(minSweepAt, 2*len(kept))
}
