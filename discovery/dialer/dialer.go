package dialer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// ErrSelf is what a DialFunc returns when the address is this node's own.
var ErrSelf = errors.New("the address is this node's own")

// DialFunc connects to the attempt's address and hands the connection to
// the swarm; it returns the node that answered. An error wrapping ErrSelf
// marks the address as this node's.
type DialFunc func(ctx context.Context, a Attempt) (identity.NodeID, error)

// Record is an address kept in the store.
type Record struct {
	Addr   string          `json:"addr"`
	ID     identity.NodeID `json:"id,omitzero"`
	LastOK time.Time       `json:"last_ok,omitzero"`
	Static bool            `json:"static,omitempty"` // added by shoal peers add
}

// Store keeps addresses across restarts.
type Store interface {
	LoadPeers(ctx context.Context) ([]Record, error)
	SavePeer(ctx context.Context, r Record) error
	DeletePeer(ctx context.Context, addr string) error
}

// Options configure a Dialer. Dial is required.
type Options struct {
	Self identity.NodeID
	Dial DialFunc
	// Store, if set, keeps good addresses and static peers across restarts.
	Store Store
	// Parallel bounds the dials in flight; a quarter of them are kept
	// from long shots (never-worked addresses from exchange, the DHT,
	// trackers). Default 16.
	Parallel int
	// Rate bounds attempts per second (a token bucket as deep as
	// Parallel). Default 20.
	Rate float64
	// DialTimeout bounds one attempt; a long shot gets half. Default 10 s.
	DialTimeout time.Duration
	// Backoff per address. Default 1 s doubling to 5 min.
	Backoff Backoff
	// MaxPeers: with this many peers connected only static candidates
	// are dialed. Default 96.
	MaxPeers int
	// BannedUntil reports a ban on a node: its addresses wait for it.
	BannedUntil func(identity.NodeID) (time.Time, bool)
	// Yield, if set, reports whether the connection a node dials to this
	// one is the one both keep when each dials the other (the swarm keeps
	// one connection a pair, transport.Prefer). A node found by mDNS or
	// peer exchange, which find both sides at once, is then given Grace
	// to dial first: one handshake a pair instead of two, and no kept
	// connection closed for a better one.
	Yield func(identity.NodeID) bool
	// Grace is how long Yield's nodes are waited for. Default 2 s.
	Grace time.Duration
	// MaxCandidates bounds the addresses kept (DefaultMaxCandidates).
	MaxCandidates int
	// Logger receives attempts that fail and peers found. Default: discarded.
	Logger *slog.Logger
}

// Dialer runs the table. Create it with New, run it with Run; every other
// method may be called from any goroutine, before or during Run.
type Dialer struct {
	opt  Options
	log  *slog.Logger
	cmds chan func(*runner)
	done chan struct{} // closed when Run returns

	attempts atomic.Int64
}

// New returns a Dialer; nothing is dialed before Run.
func New(opt Options) *Dialer {
	if opt.Parallel <= 0 {
		opt.Parallel = 16
	}
	if opt.Rate <= 0 {
		opt.Rate = 20
	}
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = 10 * time.Second
	}
	if opt.Backoff.Min <= 0 {
		opt.Backoff.Min = DefaultMinBackoff
	}
	if opt.Backoff.Max < opt.Backoff.Min {
		opt.Backoff.Max = max(DefaultMaxBackoff, opt.Backoff.Min)
	}
	if opt.MaxPeers <= 0 {
		opt.MaxPeers = 96
	}
	if opt.Grace <= 0 {
		opt.Grace = 2 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dialer{opt: opt, log: opt.Logger, cmds: make(chan func(*runner), 64), done: make(chan struct{})}
}

// runner is the state Run's goroutine owns.
type runner struct {
	d        *Dialer
	t        *table
	inflight int
	lowIn    int // long shots among them
	tokens   float64
	refilled time.Time
	wg       sync.WaitGroup
}

// Run dials until ctx ends, then waits for the dials in flight.
func (d *Dialer) Run(ctx context.Context) error {
	defer close(d.done)
	r := &runner{d: d, t: newTable(d.opt.Self, d.opt.Backoff), tokens: float64(d.opt.Parallel), refilled: time.Now()}
	r.t.yield, r.t.grace = d.opt.Yield, d.opt.Grace
	if d.opt.MaxCandidates > 0 {
		r.t.max = d.opt.MaxCandidates
	}
	defer r.wg.Wait()
	if d.opt.Store != nil {
		recs, err := d.opt.Store.LoadPeers(ctx)
		if err != nil {
			d.log.Warn("load remembered peers", "err", err)
		}
		now := time.Now()
		for _, rec := range recs {
			r.t.restore(now, rec.Addr, rec.ID, rec.LastOK, rec.Static)
		}
		if len(recs) > 0 {
			d.log.Info("remembered peers", "addrs", len(recs))
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		r.t.expire(now)
		full := r.dialDue(ctx, now)
		timer.Reset(r.sleep(now, full))
		select {
		case <-ctx.Done():
			return nil
		case fn := <-d.cmds:
			fn(r)
		case <-timer.C:
		}
	}
}

// dialDue starts every attempt due that the slots and the rate allow.
func (r *runner) dialDue(ctx context.Context, now time.Time) (full bool) {
	o := r.d.opt
	r.tokens = min(float64(o.Parallel), r.tokens+now.Sub(r.refilled).Seconds()*o.Rate)
	r.refilled = now
	n := min(o.Parallel-r.inflight, int(r.tokens))
	full = len(r.t.connected) >= o.MaxPeers
	// A quarter of the slots are kept from long shots.
	low := o.Parallel - max(1, o.Parallel/4) - r.lowIn
	for _, a := range r.t.dueLimited(now, n, low, full) {
		if until, banned := r.banned(a.ID); banned {
			r.t.done(now, a.Addr, Outcome{Err: errors.New("banned"), RetryAt: until})
			continue
		}
		e := r.t.entries[a.Addr]
		a.Source = e.best()
		isLow := e.low()
		if isLow {
			r.lowIn++
		}
		r.tokens--
		r.inflight++
		r.d.attempts.Add(1)
		r.wg.Add(1)
		go r.dial(ctx, a, isLow)
	}
	return full
}

func (r *runner) banned(id identity.NodeID) (time.Time, bool) {
	if id.IsZero() || r.d.opt.BannedUntil == nil {
		return time.Time{}, false
	}
	return r.d.opt.BannedUntil(id)
}

// sleep returns how long until the loop has something to do, short of a
// command.
func (r *runner) sleep(now time.Time, full bool) time.Duration {
	w := r.t.wake(now, full)
	if w.IsZero() {
		return time.Hour
	}
	d := w.Sub(now)
	if d > 0 {
		return d
	}
	// Something is due now but held back: by the slots, or the share of
	// them long shots may take (a result will come), or by the rate
	// (tokens refill).
	if r.inflight >= r.d.opt.Parallel || r.tokens >= 1 {
		return time.Hour
	}
	return max(time.Duration((1-r.tokens)/r.d.opt.Rate*float64(time.Second)), time.Millisecond)
}

func (r *runner) dial(ctx context.Context, a Attempt, low bool) {
	defer r.wg.Done()
	timeout := r.d.opt.DialTimeout
	if low {
		timeout /= 2
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	id, err := r.d.opt.Dial(dctx, a)
	cancel()
	o := Outcome{ID: id, Err: err, Self: errors.Is(err, ErrSelf)}
	if err != nil && !o.Self {
		if until, banned := r.banned(id); banned {
			o.RetryAt = until
		}
	}
	r.d.do(func(r *runner) {
		r.inflight--
		if low {
			r.lowIn--
		}
		now := time.Now()
		remember, forget := r.t.done(now, a.Addr, o)
		switch {
		case o.Self:
			r.d.log.Debug("address is our own", "addr", a.Addr)
		case err != nil && ctx.Err() == nil:
			e := r.t.entries[a.Addr]
			if e != nil {
				r.d.log.Debug("dial", "addr", a.Addr, "source", a.Source, "err", err, "fails", e.fails, "retry in", e.next.Sub(now).Round(time.Millisecond))
			}
		case err == nil:
			r.d.log.Info("connected to peer", "peer", id, "addr", a.Addr, "source", a.Source)
		}
		if remember {
			r.save(ctx, a.Addr, now)
		}
		if forget {
			r.forget(ctx, a.Addr)
		}
	})
}

func (r *runner) save(ctx context.Context, addr string, now time.Time) {
	e := r.t.entries[addr]
	if r.d.opt.Store == nil || e == nil {
		return
	}
	rec := Record{Addr: addr, ID: e.id, LastOK: now, Static: e.kept}
	if err := r.d.opt.Store.SavePeer(ctx, rec); err != nil {
		r.d.log.Warn("remember peer", "addr", addr, "err", err)
	}
}

func (r *runner) forget(ctx context.Context, addr string) {
	if r.d.opt.Store == nil {
		return
	}
	if err := r.d.opt.Store.DeletePeer(ctx, addr); err != nil {
		r.d.log.Warn("forget peer", "addr", addr, "err", err)
	}
}

// do runs fn on Run's goroutine; it reports false once Run has returned.
func (d *Dialer) do(fn func(*runner)) bool {
	select {
	case d.cmds <- fn:
		return true
	case <-d.done:
		return false
	}
}

// Add hands the dialer candidates.
func (d *Dialer) Add(cands ...Candidate) {
	d.do(func(r *runner) {
		now := time.Now()
		for _, c := range cands {
			if r.t.add(now, c) {
				r.d.log.Debug("candidate", "addr", c.Addr, "id", c.ID, "source", c.Source)
			}
		}
	})
}

// Remove withdraws src's word for addr (an mDNS record that expired).
func (d *Dialer) Remove(src Source, addr string) {
	d.do(func(r *runner) { r.t.remove(src, addr) })
}

// Event tells the dialer of a connection or a drop.
func (d *Dialer) Event(ev Event) {
	d.do(func(r *runner) {
		now := time.Now()
		if !ev.Connected {
			r.t.disconnect(now, ev)
			return
		}
		for _, a := range r.t.connect(now, ev) {
			r.save(context.Background(), a, now)
		}
	})
}

// AddStatic adds addr as a static peer, kept across restarts.
func (d *Dialer) AddStatic(ctx context.Context, addr string, id identity.NodeID) error {
	errc := make(chan error, 1)
	if !d.do(func(r *runner) {
		r.t.add(time.Now(), Candidate{Addr: addr, ID: id, Source: Static})
		e := r.t.entries[normAddr(addr)]
		if e == nil {
			errc <- fmt.Errorf("add peer %s: it is this node", addr)
			return
		}
		e.kept = true
		if d.opt.Store != nil {
			errc <- d.opt.Store.SavePeer(ctx, Record{Addr: e.addr, ID: e.id, LastOK: e.lastOK, Static: true})
			return
		}
		errc <- nil
	}) {
		return errors.New("dialer stopped")
	}
	return <-errc
}

// RemoveStatic forgets addr: it is no longer dialed nor remembered.
func (d *Dialer) RemoveStatic(ctx context.Context, addr string) error {
	errc := make(chan error, 1)
	if !d.do(func(r *runner) {
		addr := normAddr(addr)
		if r.t.entries[addr] == nil {
			errc <- fmt.Errorf("remove peer %s: not a peer of this node", addr)
			return
		}
		r.t.entries[addr].kept = false
		r.t.remove(Static, addr)
		r.t.remove(Remembered, addr)
		if d.opt.Store != nil {
			errc <- d.opt.Store.DeletePeer(ctx, addr)
			return
		}
		errc <- nil
	}) {
		return errors.New("dialer stopped")
	}
	return <-errc
}

// Candidates describes every candidate with its state and next attempt.
func (d *Dialer) Candidates() []Info {
	c := make(chan []Info, 1)
	if !d.do(func(r *runner) { c <- r.t.infos(time.Now()) }) {
		return nil
	}
	return <-c
}

// Sources says how each connected peer was found.
func (d *Dialer) Sources() map[identity.NodeID]Source {
	c := make(chan map[identity.NodeID]Source, 1)
	if !d.do(func(r *runner) { c <- r.t.sourcesOf() }) {
		return nil
	}
	return <-c
}

// Attempts returns the dials started so far.
func (d *Dialer) Attempts() int64 { return d.attempts.Load() }
