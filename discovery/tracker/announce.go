package tracker

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// AnnouncerOptions configure an Announcer. URLs, Keys and Port are required.
type AnnouncerOptions struct {
	URLs []string
	// Keys returns the keys to keep announced; it is asked again every
	// Rescan and after Kick.
	Keys func(ctx context.Context) ([][20]byte, error)
	// Port is the TCP port peers reach this node on.
	Port uint16
	// Found gets the peers a tracker returned for a key.
	Found func(key [20]byte, peers []netip.AddrPort, ttl time.Duration)
	// MinInterval is the shortest interval honoured, whatever a tracker
	// asks. Default 10 s. Without an interval in the answer: 30 minutes.
	MinInterval time.Duration
	// Rescan is how often Keys is asked for new keys. Default 30 s.
	Rescan time.Duration
	Client *Client
	Logger *slog.Logger
}

// Announcer keeps keys announced to trackers.
type Announcer struct {
	opt    AnnouncerOptions
	peerID [20]byte
	kick   chan struct{}
}

// NewAnnouncer returns an Announcer; Run does the work.
func NewAnnouncer(opt AnnouncerOptions) *Announcer {
	if opt.MinInterval <= 0 {
		opt.MinInterval = 10 * time.Second
	}
	if opt.Rescan <= 0 {
		opt.Rescan = 30 * time.Second
	}
	if opt.Client == nil {
		opt.Client = &Client{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Found == nil {
		opt.Found = func([20]byte, []netip.AddrPort, time.Duration) {}
	}
	a := &Announcer{opt: opt, kick: make(chan struct{}, 1)}
	copy(a.peerID[:], "-SH0100-")
	rand.Read(a.peerID[8:])
	return a
}

// Kick asks for the keys again now (a new pin or folder).
func (a *Announcer) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// maxInterval caps a tracker's interval.
const maxInterval = time.Hour

// Run announces until ctx ends: one goroutine a tracker.
func (a *Announcer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	kicks := make([]chan struct{}, len(a.opt.URLs))
	for i, u := range a.opt.URLs {
		kicks[i] = make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.runTracker(ctx, u, kicks[i])
		}()
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-a.kick:
			for _, k := range kicks {
				select {
				case k <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (a *Announcer) runTracker(ctx context.Context, url string, kick <-chan struct{}) {
	log := a.opt.Logger.With("tracker", url)
	next := make(map[[20]byte]time.Time)
	fails := make(map[[20]byte]int)
	for ctx.Err() == nil {
		keys, err := a.opt.Keys(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("tracker: keys to announce", "err", err)
		}
		want := make(map[[20]byte]bool, len(keys))
		wake := time.Now().Add(a.opt.Rescan)
		for _, k := range keys {
			want[k] = true
			if n, ok := next[k]; ok && time.Now().Before(n) {
				wake = earliest(wake, n)
				continue
			}
			ev := EventNone
			if _, ok := next[k]; !ok {
				ev = EventStarted
			}
			resp, err := a.opt.Client.Announce(ctx, url, Request{InfoHash: k, PeerID: a.peerID, Port: a.opt.Port, Event: ev, NumWant: 50})
			if ctx.Err() != nil {
				return
			}
			now := time.Now()
			if err != nil {
				fails[k]++
				wait := min(a.opt.MinInterval<<min(fails[k]-1, 8), maxInterval)
				log.Info("tracker: announce failed", "err", err, "retry in", wait)
				next[k] = now.Add(wait)
			} else {
				fails[k] = 0
				iv := resp.Interval
				if iv <= 0 {
					iv = 30 * time.Minute
				}
				iv = min(max(iv, a.opt.MinInterval), maxInterval)
				next[k] = now.Add(iv)
				log.Debug("tracker: announced", "peers", len(resp.Peers), "interval", iv)
				if len(resp.Peers) > 0 {
					a.opt.Found(k, resp.Peers, 2*iv)
				}
			}
			wake = earliest(wake, next[k])
		}
		for k := range next {
			if !want[k] {
				delete(next, k)
				delete(fails, k)
			}
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-kick:
		case <-t.C:
		}
		t.Stop()
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
