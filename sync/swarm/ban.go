package swarm

import (
	"errors"
	"sync"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// ErrBanned is returned by AddConn for a peer dropped for sending bad
// blocks, while its ban lasts.
var ErrBanned = errors.New("peer banned for sending bad blocks")

// DefaultBanDuration is how long a peer that struck out stays refused.
const DefaultBanDuration = time.Hour

// maxBans bounds the ban list; when full, the ban that ends first goes.
const maxBans = 4096

// banList remembers peers that struck out, by node ID, until a time.
type banList struct {
	mu    sync.Mutex
	until map[identity.NodeID]time.Time
}

// ban refuses id until the given time (a later ban extends an earlier one).
func (b *banList) ban(id identity.NodeID, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until == nil {
		b.until = make(map[identity.NodeID]time.Time)
	}
	if len(b.until) >= maxBans {
		b.pruneLocked(time.Now())
	}
	if len(b.until) >= maxBans {
		var first identity.NodeID
		var at time.Time
		for id, t := range b.until {
			if at.IsZero() || t.Before(at) {
				first, at = id, t
			}
		}
		delete(b.until, first)
	}
	if until.After(b.until[id]) {
		b.until[id] = until
	}
}

// banned reports until when id is refused, if it is at now.
func (b *banList) banned(id identity.NodeID, now time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[id]
	if !ok {
		return time.Time{}, false
	}
	if !now.Before(t) {
		delete(b.until, id)
		return time.Time{}, false
	}
	return t, true
}

func (b *banList) pruneLocked(now time.Time) {
	for id, t := range b.until {
		if !now.Before(t) {
			delete(b.until, id)
		}
	}
}

// BannedUntil reports whether peer id is refused for having sent bad
// blocks, and until when.
func (s *Swarm) BannedUntil(id identity.NodeID) (time.Time, bool) {
	return s.bans.banned(id, time.Now())
}
