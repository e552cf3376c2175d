package lookup

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// Reply is what one queried node answered.
type Reply struct {
	Nodes  []krpc.NodeInfo  // closer nodes it knows
	Values []netip.AddrPort // get_peers peers
	Token  string           // write token for announce_peer or put
	Item   any              // BEP 44 item, for the caller's Visit
}

// QueryFunc asks node n about the target; it must return within its own
// timeout (an error marks n failed).
type QueryFunc func(ctx context.Context, n krpc.NodeInfo) (Reply, error)

// Config describes one lookup.
type Config struct {
	Target nodeid.ID
	K      int // closest nodes to reach; default 8
	Alpha  int // queries in flight to the Alpha closest contacts waited on, before they stall; default 3 (Shortlist.Active, Width)
	// MaxInFlight bounds the contacts awaiting an answer, stalled ones
	// included, when the lookup widens past stalled queries; default 4·Alpha.
	MaxInFlight int
	// Timeout, when set, returns how long a query to c may go unanswered:
	// past Stall it stops holding an α slot (the lookup widens), past
	// Timeout c is asked again while it has attempts left, else given up.
	// An answer still counts whenever it comes while the lookup runs.
	// Default: 1 s and 1 s for every contact.
	Timeout TimeoutFunc
	// Attempts is how often a node that does not answer is asked before
	// it counts as failed (lost datagrams are common); default 3.
	Attempts int
	// MinGiveUp is the least time from a node's first query to giving it
	// up, however short its timeouts; default 2.2 s: a live node with a
	// round trip near 2 s (the longest a query is waited for, Config's
	// QueryTimeout in dht) whose first query or answer is lost is heard
	// only a round trip after its second query, sent when the first
	// stalls (a few hundred ms). A lookup that gave it up sooner and ended
	// missed one of its k closest (issue 15: 3 of 298 lookups at 10,000
	// nodes under simnet.Mainline with 1.5 s, before queries were sent
	// again at their stall time; none of 299 with 2.2 s, p90 2.69 ->
	// 2.40 s against 2.5 s). Waiting on a dead contact among the k
	// closest takes this long, which sets a lookup's p90 under mainline
	// conditions.
	MinGiveUp time.Duration
	// Vouch, when positive, ends the lookup without waiting for the
	// answer of a queried contact that Vouch distinct answering nodes
	// returned (Shortlist.SetVouch): such a contact is in Closest with no
	// token. Leave it 0 for an announce or a put, which need tokens.
	Vouch int
	Query QueryFunc
	// Visit, when set, sees each answer in the lookup's goroutine; it
	// returns true to end the lookup at once (a value was found).
	Visit func(from krpc.NodeInfo, r Reply) bool
	// Failed, when set, is told of each node given up on (it never
	// answered any of its attempts in time), in the lookup's goroutine.
	Failed func(n krpc.NodeInfo, err error)
}

// Stats counts a lookup's work.
type Stats struct {
	Rounds    int // deepest hop among the nodes that answered
	Messages  int // queries sent, attempts again included
	Responses int // queries answered
	Failures  int // queries that failed, stalled (and were sent again) or timed out, each attempt
}

// Result is a finished lookup.
type Result struct {
	Closest []Contact // up to K closest nodes that answered, closest first
	Stopped bool      // Visit ended the lookup early
	Stats   Stats
}

type outcome struct {
	n   krpc.NodeInfo
	r   Reply
	err error
}

// ErrGaveUp is passed to Config.Failed for a node that answered none of
// its attempts in time.
var ErrGaveUp = errors.New("lookup: no answer in time")

// Run performs the lookup from the seed nodes. It returns ctx's error if
// ctx ends first, with what was found so far.
func Run(ctx context.Context, cfg Config, seeds []krpc.NodeInfo) (Result, error) {
	if cfg.Alpha <= 0 {
		cfg.Alpha = 3
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4 * cfg.Alpha
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Timeout == nil {
		cfg.Timeout = func(Contact) Timing { return Timing{Stall: time.Second, Timeout: time.Second} }
	}
	if cfg.MinGiveUp <= 0 {
		cfg.MinGiveUp = 2200 * time.Millisecond
	}
	sl := NewShortlist(cfg.Target, cfg.K, cfg.Attempts)
	sl.SetMinGiveUp(cfg.MinGiveUp)
	sl.SetVouch(cfg.Vouch)
	sl.Add(seeds, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Buffered so that a query that answers after the lookup ended does
	// not wait for ctx to be seen; cancel ends the others.
	results := make(chan outcome, cfg.MaxInFlight)
	var res Result
	launch := func(n krpc.NodeInfo) {
		res.Stats.Messages++
		go func() {
			r, err := cfg.Query(ctx, n)
			select {
			case results <- outcome{n, r, err}:
			case <-ctx.Done():
			}
		}()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		resend, gaveUp := sl.Expire(now, cfg.Timeout)
		for _, c := range resend {
			res.Stats.Failures++
			launch(c.NodeInfo)
		}
		for _, c := range gaveUp {
			res.Stats.Failures++
			if cfg.Failed != nil {
				cfg.Failed(c.NodeInfo, ErrGaveUp)
			}
		}
		for w := sl.Width(cfg.Alpha); sl.Active(now, w) < w && sl.InFlight() < cfg.MaxInFlight; {
			c, ok := sl.Next(now, cfg.Timeout)
			if !ok {
				break
			}
			launch(c.NodeInfo)
		}
		if sl.InFlight() == 0 || sl.Done() {
			break
		}
		if at, ok := sl.NextDeadline(now); ok {
			timer.Reset(max(time.Until(at), 0))
		}
		var o outcome
		select {
		case <-timer.C:
			continue
		case o = <-results:
		case <-ctx.Done():
			res.Closest = sl.Closest()
			return res, ctx.Err()
		}
		if o.err != nil {
			sl.Failed(o.n.ID, time.Now())
			continue
		}
		if !sl.Answered(o.n.ID, o.r.Token) {
			continue // a second answer, to a query sent again
		}
		res.Stats.Responses++
		hop := sl.Hop(o.n.ID)
		res.Stats.Rounds = max(res.Stats.Rounds, hop)
		sl.Reported(o.r.Nodes, hop+1)
		if cfg.Visit != nil && cfg.Visit(o.n, o.r) {
			res.Stopped = true
			break
		}
	}
	res.Closest = sl.Closest()
	return res, nil
}
