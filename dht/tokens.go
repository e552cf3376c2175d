package dht

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"net/netip"
	"time"
)

// tokens issues and checks announce tokens: a hash of a secret and the
// requester's IP. The secret rotates every period and the previous one is
// still accepted, so a token is valid for between one and two periods.
type tokens struct {
	period    time.Duration
	cur, prev [16]byte
	rotatedAt time.Time
}

func newTokens(period time.Duration, now time.Time) tokens {
	t := tokens{period: period, rotatedAt: now}
	rand.Read(t.cur[:])
	rand.Read(t.prev[:])
	return t
}

// rotate brings the secrets up to date for now.
func (t *tokens) rotate(now time.Time) {
	for n := 0; now.Sub(t.rotatedAt) >= t.period; n++ {
		if n >= 2 {
			// Asleep for long: both secrets are stale; skip ahead.
			t.rotatedAt = now
			rand.Read(t.prev[:])
			rand.Read(t.cur[:])
			return
		}
		t.prev = t.cur
		rand.Read(t.cur[:])
		t.rotatedAt = t.rotatedAt.Add(t.period)
	}
}

func tokenFor(secret [16]byte, ip netip.Addr) string {
	h := sha1.New()
	h.Write(secret[:])
	b := ip.Unmap().As16()
	h.Write(b[:])
	return string(h.Sum(nil)[:8])
}

// issue returns the current token for ip.
func (t *tokens) issue(ip netip.Addr, now time.Time) string {
	t.rotate(now)
	return tokenFor(t.cur, ip)
}

// valid reports whether tok was issued to ip within the last two periods.
func (t *tokens) valid(tok string, ip netip.Addr, now time.Time) bool {
	t.rotate(now)
	return subtle.ConstantTimeCompare([]byte(tok), []byte(tokenFor(t.cur, ip))) == 1 ||
		subtle.ConstantTimeCompare([]byte(tok), []byte(tokenFor(t.prev, ip))) == 1
}
