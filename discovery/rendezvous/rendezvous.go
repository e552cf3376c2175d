package rendezvous

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/netip"
	"time"

	"github.com/shoal-sync/shoal/dht"
)

// Key returns a folder's rendezvous key for the UTC day of t.
func Key(folderID []byte, t time.Time) [20]byte {
	h := sha256.New()
	h.Write([]byte("shoal rendezvous"))
	h.Write(folderID)
	h.Write([]byte(t.UTC().Format(time.DateOnly)))
	var k [20]byte
	copy(k[:], h.Sum(nil))
	return k
}

// Margin is how close to midnight UTC the neighbouring day's key is used
// as well.
const Margin = time.Hour

// Keys returns the keys a folder uses at t: its day's, and within Margin
// of midnight the neighbouring day's.
func Keys(folderID []byte, t time.Time) [][20]byte {
	t = t.UTC()
	keys := [][20]byte{Key(folderID, t)}
	day := t.Truncate(24 * time.Hour)
	switch {
	case t.Sub(day) < Margin:
		keys = append(keys, Key(folderID, day.Add(-time.Hour)))
	case day.Add(24*time.Hour).Sub(t) <= Margin:
		keys = append(keys, Key(folderID, day.Add(24*time.Hour)))
	}
	return keys
}

// DHT is what rendezvous needs of a DHT node (*dht.Server).
type DHT interface {
	Announce(ctx context.Context, infohash [20]byte, port int, impliedPort bool) (dht.AnnounceResult, error)
	GetPeers(ctx context.Context, infohash [20]byte) ([]netip.AddrPort, dht.LookupStats, error)
}

// Options configure a Rendezvous. DHT and Folders are required.
type Options struct {
	DHT DHT
	// Folders returns the IDs of the folders this node serves.
	Folders func(ctx context.Context) ([][]byte, error)
	// Port is the TCP port peers reach the node on; zero: the DHT
	// socket's own (implied port), as for providers.
	Port int
	// Interval is how often each key is announced again, well within the
	// time DHT nodes keep an announce. Default 15 minutes.
	Interval time.Duration
	// Lookup is how often each key is looked up between announces (an
	// announce looks up too). Default 5 minutes.
	Lookup time.Duration
	// FirstLookup is how soon a key is looked up again after its first
	// announce, doubling up to Lookup: a folder just joined meets the
	// peers that join with it within seconds, not after Lookup. Its first
	// announce is followed at once by a lookup, so of two peers that
	// announce at the same time the later always finds the earlier.
	// Default 10 s.
	FirstLookup time.Duration
	// Rescan is how often Folders is read for new folders. Default 5 s.
	Rescan time.Duration
	// Found gets the peers seen under a folder's key.
	Found func(folderID []byte, peers []netip.AddrPort)
	// Now is the clock. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Rendezvous keeps the folders' keys announced and looked up.
type Rendezvous struct {
	opt  Options
	kick chan struct{}
}

// New returns a Rendezvous; Run does the work.
func New(opt Options) *Rendezvous {
	if opt.Interval <= 0 {
		opt.Interval = 15 * time.Minute
	}
	if opt.Lookup <= 0 {
		opt.Lookup = 5 * time.Minute
	}
	if opt.FirstLookup <= 0 {
		opt.FirstLookup = 10 * time.Second
	}
	if opt.Rescan <= 0 {
		opt.Rescan = 5 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Found == nil {
		opt.Found = func([]byte, []netip.AddrPort) {}
	}
	return &Rendezvous{opt: opt, kick: make(chan struct{}, 1)}
}

// Kick makes Run read the folders again now (a folder added).
func (r *Rendezvous) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// CurrentKeys returns the keys of every folder now, for trackers.
func (r *Rendezvous) CurrentKeys(ctx context.Context) ([][20]byte, error) {
	folders, err := r.opt.Folders(ctx)
	if err != nil {
		return nil, err
	}
	now := r.opt.Now()
	var keys [][20]byte
	for _, f := range folders {
		keys = append(keys, Keys(f, now)...)
	}
	return keys, nil
}

// keyState is when a key was last announced and looked up.
type keyState struct {
	folder              []byte
	announced, lookedUp time.Time
	looks               int // lookups since its first announce
	fails               int // announces failed in a row
	retry               time.Time
}

// every is how long after its last lookup s's key is looked up again:
// first after the lookup that follows the first announce, doubling with
// each lookup since, up to lookup.
func (s *keyState) every(first, lookup time.Duration) time.Duration {
	return min(lookup, first<<min(max(s.looks-1, 0), 20))
}

// plan is what is due at now for the keys in use: which keys to
// announce, which only to look up, and when the next thing is due.
func plan(now time.Time, state map[[20]byte]*keyState, interval, first, lookup time.Duration) (announce, look [][20]byte, next time.Time) {
	next = now.Add(lookup)
	for k, s := range state {
		every := s.every(first, lookup)
		switch {
		case !s.retry.IsZero() && now.Before(s.retry):
			next = earlier(next, s.retry)
		case s.announced.IsZero() || !now.Before(s.announced.Add(interval)):
			announce = append(announce, k)
		case !now.Before(s.lookedUp.Add(every)):
			look = append(look, k)
		default:
			next = earlier(next, s.announced.Add(interval))
			next = earlier(next, s.lookedUp.Add(every))
		}
	}
	return announce, look, next
}

// retryMin is the first wait after a failed announce; it doubles to a minute.
const retryMin = 2 * time.Second

// Run announces and looks up until ctx ends.
func (r *Rendezvous) Run(ctx context.Context) {
	state := make(map[[20]byte]*keyState)
	log := r.opt.Logger
	for ctx.Err() == nil {
		now := r.opt.Now()
		folders, err := r.opt.Folders(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("rendezvous: list folders", "err", err)
		}
		inUse := make(map[[20]byte]bool)
		for _, f := range folders {
			for _, k := range Keys(f, now) {
				inUse[k] = true
				if state[k] == nil {
					state[k] = &keyState{folder: f}
				}
			}
		}
		for k := range state {
			if !inUse[k] {
				delete(state, k) // yesterday's, or a folder removed: left to expire
			}
		}
		announce, look, next := plan(now, state, r.opt.Interval, r.opt.FirstLookup, r.opt.Lookup)
		for _, k := range announce {
			s := state[k]
			first := s.announced.IsZero()
			res, err := r.opt.DHT.Announce(ctx, k, r.opt.Port, r.opt.Port == 0)
			if ctx.Err() != nil {
				return
			}
			s.lookedUp = r.opt.Now()
			if err != nil {
				// The DHT may still be joining: try again soon, then less often.
				s.fails++
				wait := min(retryMin<<min(s.fails-1, 8), time.Minute)
				s.retry = s.lookedUp.Add(wait)
				log.Info("rendezvous: announce", "err", err, "retry in", wait)
				next = earlier(next, s.retry)
			} else {
				s.announced, s.fails, s.retry = s.lookedUp, 0, time.Time{}
				next = earlier(next, s.announced.Add(r.opt.Interval))
			}
			if len(res.Peers) > 0 {
				r.opt.Found(s.folder, res.Peers)
			}
			if err == nil && first {
				// The announce's own lookup ran before our record was
				// stored: a peer announcing at the same time saw neither.
				// Looking again now, after ours is stored, one of any two
				// such peers finds the other.
				look = append(look, k)
			}
		}
		for _, k := range look {
			peers, _, err := r.opt.DHT.GetPeers(ctx, k)
			if ctx.Err() != nil {
				return
			}
			s := state[k]
			s.lookedUp = r.opt.Now()
			s.looks++
			next = earlier(next, s.lookedUp.Add(s.every(r.opt.FirstLookup, r.opt.Lookup)))
			if err != nil && len(peers) == 0 {
				log.Debug("rendezvous: look up", "err", err)
				continue
			}
			if len(peers) > 0 {
				r.opt.Found(s.folder, peers)
			}
		}
		// Wake at midnight's margin too, when the set of keys changes, and
		// to read the folders again.
		next = earlier(next, nextBoundary(r.opt.Now()))
		next = earlier(next, r.opt.Now().Add(r.opt.Rescan))
		t := time.NewTimer(max(next.Sub(r.opt.Now()), time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// nextBoundary is the next time the keys in use change: an hour before
// or an hour after midnight UTC.
func nextBoundary(t time.Time) time.Time {
	t = t.UTC()
	day := t.Truncate(24 * time.Hour)
	for _, b := range []time.Time{day.Add(Margin), day.Add(24*time.Hour - Margin), day.Add(24*time.Hour + Margin)} {
		if b.After(t) {
			return b
		}
	}
	return day.Add(24*time.Hour + Margin)
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
