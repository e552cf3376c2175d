package swarm

import (
	"cmp"
	"errors"
	"slices"
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

// Ban is a peer refused until a time.
type Ban struct {
	Peer  identity.NodeID `json:"peer"`
	Until time.Time       `json:"until"`
}

// BanStore keeps the ban list across restarts, so that a peer caught
// lying is not welcomed back by a restarted daemon. SaveBans is given the
// whole list each time it changes.
type BanStore interface {
	LoadBans() ([]Ban, error)
	SaveBans([]Ban) error
}

// banList remembers peers that struck out, by node ID, until a time.
type banList struct {
	mu      sync.Mutex
	until   map[identity.NodeID]time.Time
	changed chan struct{} // signalled on each new ban (capacity 1)
}

// ban refuses id until the given time (a later ban extends an earlier one).
func (b *banList) ban(id identity.NodeID, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until == nil {
		b.until = make(map[identity.NodeID]time.Time)
	}
	defer func() {
		select {
		case b.changed <- struct{}{}:
		default:
		}
	}()
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

// list returns the bans in force at now, the soonest to end first.
func (b *banList) list(now time.Time) []Ban {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pruneLocked(now)
	out := make([]Ban, 0, len(b.until))
	for id, t := range b.until {
		out = append(out, Ban{Peer: id, Until: t})
	}
	slices.SortFunc(out, func(x, y Ban) int { return cmp.Compare(x.Until.UnixNano(), y.Until.UnixNano()) })
	return out
}

// Bans returns the peers refused for having sent bad blocks, the soonest
// to be let back first.
func (s *Swarm) Bans() []Ban { return s.bans.list(time.Now()) }

// loadBans takes up the bans opt.BanStore kept that have not ended.
func (s *Swarm) loadBans() {
	if s.opt.BanStore == nil {
		return
	}
	bans, err := s.opt.BanStore.LoadBans()
	if err != nil {
		s.log.Warn("ban list not loaded", "err", err)
		return
	}
	now := time.Now()
	for _, b := range bans {
		if !b.Peer.IsZero() && b.Until.After(now) {
			s.bans.ban(b.Peer, b.Until)
		}
	}
	// Loading is no change to save.
	select {
	case <-s.bans.changed:
	default:
	}
}

// saveBans writes the ban list to opt.BanStore each time it gains a ban,
// until the swarm closes, and once more then if a ban is not yet saved.
func (s *Swarm) saveBans() {
	for done := false; !done; {
		select {
		case <-s.ctx.Done():
			done = true
			select {
			case <-s.bans.changed:
			default:
				return
			}
		case <-s.bans.changed:
		}
		if err := s.opt.BanStore.SaveBans(s.Bans()); err != nil {
			s.log.Warn("ban list not saved", "err", err)
		}
	}
}

// BannedUntil reports whether peer id is refused for having sent bad
// blocks, and until when.
func (s *Swarm) BannedUntil(id identity.NodeID) (time.Time, bool) {
	return s.bans.banned(id, time.Now())
}
