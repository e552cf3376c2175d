package dht

import (
	"net/netip"
	"time"
)

// limiter is a token bucket per source address.
type limiter struct {
	rate float64 // packets a second; negative: unlimited
	m    map[netip.AddrPort]*bucketState
}

type bucketState struct {
	tokens float64
	last   time.Time
}

const maxLimiterEntries = 100000

// allow reports whether a packet from a may be handled at now.
func (l *limiter) allow(a netip.AddrPort, now time.Time) bool {
	if l.rate < 0 {
		return true
	}
	burst := 2 * l.rate
	b, ok := l.m[a]
	if !ok {
		if len(l.m) >= maxLimiterEntries {
			l.sweep(now)
		}
		b = &bucketState{tokens: burst, last: now}
		l.m[a] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets sources whose bucket has refilled.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(2 * float64(time.Second))
	for a, b := range l.m {
		if now.Sub(b.last) > full {
			delete(l.m, a)
		}
	}
	if len(l.m) >= maxLimiterEntries {
		clear(l.m)
	}
}
