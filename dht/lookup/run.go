package lookup

import (
	"context"
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
	Alpha  int // queries in flight; default 3
	// SoftTimeout, when positive, is how long a query may go unanswered
	// before it stops counting against Alpha, so that a lost datagram does
	// not hold up the lookup; its answer is still used if it comes.
	SoftTimeout time.Duration
	// Attempts is how often a node that does not answer is asked before
	// it counts as failed (lost datagrams are common); default 3.
	Attempts int
	Query    QueryFunc
	// Visit, when set, sees each answer in the lookup's goroutine; it
	// returns true to end the lookup at once (a value was found).
	Visit func(from krpc.NodeInfo, r Reply) bool
	// Failed, when set, is told of each node that did not answer.
	Failed func(n krpc.NodeInfo, err error)
}

// Stats counts a lookup's work.
type Stats struct {
	Rounds    int // deepest hop among the nodes that answered
	Messages  int // queries sent
	Responses int // queries answered
	Failures  int // queries that failed or timed out (each attempt)
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

// Run performs the lookup from the seed nodes. It returns ctx's error if
// ctx ends first, with what was found so far.
func Run(ctx context.Context, cfg Config, seeds []krpc.NodeInfo) (Result, error) {
	if cfg.Alpha <= 0 {
		cfg.Alpha = 3
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	sl := NewShortlist(cfg.Target, cfg.K, cfg.Attempts)
	sl.Add(seeds, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan outcome)
	type slowEvent struct {
		id     nodeid.ID
		launch int
	}
	slowCh := make(chan slowEvent)
	launches := map[nodeid.ID]int{} // per node, to ignore a past attempt's timer
	var timers []*time.Timer
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	slow := map[nodeid.ID]bool{} // in flight past SoftTimeout
	active := 0                  // in flight and not slow: counted against Alpha
	var res Result
	for {
		for active < cfg.Alpha {
			c, ok := sl.Next()
			if !ok {
				break
			}
			res.Stats.Messages++
			active++
			launches[c.ID]++
			go func(n krpc.NodeInfo) {
				r, err := cfg.Query(ctx, n)
				select {
				case results <- outcome{n, r, err}:
				case <-ctx.Done():
				}
			}(c.NodeInfo)
			if cfg.SoftTimeout > 0 {
				ev := slowEvent{c.ID, launches[c.ID]}
				timers = append(timers, time.AfterFunc(cfg.SoftTimeout, func() {
					select {
					case slowCh <- ev:
					case <-ctx.Done():
					}
				}))
			}
		}
		if sl.InFlight() == 0 || sl.Done() {
			break
		}
		var o outcome
		select {
		case ev := <-slowCh:
			if launches[ev.id] == ev.launch && sl.IsInFlight(ev.id) && !slow[ev.id] {
				slow[ev.id] = true
				active--
			}
			continue
		case o = <-results:
		case <-ctx.Done():
			res.Closest = sl.Closest()
			return res, ctx.Err()
		}
		if slow[o.n.ID] {
			delete(slow, o.n.ID)
		} else {
			active--
		}
		if o.err != nil {
			res.Stats.Failures++
			sl.Failed(o.n.ID)
			if cfg.Failed != nil {
				cfg.Failed(o.n, o.err)
			}
			continue
		}
		res.Stats.Responses++
		hop := sl.Hop(o.n.ID)
		res.Stats.Rounds = max(res.Stats.Rounds, hop)
		sl.Answered(o.n.ID, o.r.Token)
		sl.Add(o.r.Nodes, hop+1)
		if cfg.Visit != nil && cfg.Visit(o.n, o.r) {
			res.Stopped = true
			break
		}
	}
	res.Closest = sl.Closest()
	return res, nil
}
