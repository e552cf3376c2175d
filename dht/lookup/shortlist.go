package lookup

import (
	"slices"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

type status int

const (
	fresh status = iota
	inFlight
	answered
	failed
)

// Contact is a node that answered a lookup, with the token it gave.
type Contact struct {
	krpc.NodeInfo
	Token string
	Hop   int // 1 for a seed, n+1 for a node learnt from a hop-n node
}

type cand struct {
	Contact
	st       status
	attempts int       // queries sent to it
	deadline time.Time // when the last one counts as timed out
	stallAt  time.Time // when the first one stops holding an α slot
	first    time.Time // when the first one was sent
	stalled  bool      // in flight past its stall time or first timeout
	vouched  int       // distinct nodes that answered with it
}

// Timing is how long a query to a contact waits: after Stall it stops
// holding one of the lookup's α slots (the lookup widens), after Timeout
// it counts as timed out (it is sent again, or the contact given up).
type Timing struct{ Stall, Timeout time.Duration }

// TimeoutFunc returns the timing of the next query to c.
type TimeoutFunc func(c Contact) Timing

// Shortlist is the state of one lookup and every decision it makes: which
// contact to query next, when a query counts as timed out (and is sent
// again, or the contact given up), when a stalled query stops holding one
// of the α slots so that the lookup widens, and when the lookup is done.
// It is pure (time comes in as an argument) and not safe for concurrent
// use; Run owns it from a single goroutine.
type Shortlist struct {
	target   nodeid.ID
	k        int
	attempts int     // queries a node gets before it counts as failed
	cands    []*cand // sorted by distance to target
	byID     map[nodeid.ID]*cand
	inFlight int
	giveUp   time.Duration // least time from a contact's first query to giving it up
	vouch    int           // reporters that let a queried contact count without its answer; 0: never
	stale    int           // answers in a row that brought no node closer than the closest known
}

// SetVouch lets a contact that n distinct answering nodes returned, and
// that has been queried, count among the k closest for Done and Closest
// before (or without) its own answer; n = 0 (the default) waits for every
// one of the k closest to answer. A contact counted so has given no token.
func (s *Shortlist) SetVouch(n int) { s.vouch = max(n, 0) }

// SetMinGiveUp makes the lookup give a contact up no sooner than d after
// its first query, however short its timeouts (a busy machine's own
// delays must not make live contacts look dead).
func (s *Shortlist) SetMinGiveUp(d time.Duration) { s.giveUp = d }

// NewShortlist returns an empty shortlist for target that stops when the
// k closest have answered; a node that does not answer is asked up to
// attempts times (default 1) before it counts as failed.
func NewShortlist(target nodeid.ID, k, attempts int) *Shortlist {
	if k <= 0 {
		k = 8
	}
	return &Shortlist{target: target, k: k, attempts: max(attempts, 1), byID: map[nodeid.ID]*cand{}}
}

// Add merges nodes learnt at hop into the shortlist, ignoring known IDs.
func (s *Shortlist) Add(nodes []krpc.NodeInfo, hop int) { s.add(nodes, hop, 0) }

// Reported merges the nodes one answering node returned (learnt at hop),
// each of them vouched for once more (see SetVouch). Call it once per
// answer.
func (s *Shortlist) Reported(nodes []krpc.NodeInfo, hop int) {
	closer := false
	best := s.closestLive()
	for _, n := range nodes {
		if _, ok := s.byID[n.ID]; !ok && (best == nil || nodeid.Cmp(s.target, n.ID, best.ID) < 0) {
			closer = true
			break
		}
	}
	if closer {
		s.stale = 0
	} else {
		s.stale++
	}
	s.add(nodes, hop, 1)
}

// closestLive returns the closest contact that has not failed, or nil.
func (s *Shortlist) closestLive() *cand {
	for _, c := range s.cands {
		if c.st != failed {
			return c
		}
	}
	return nil
}

// Width returns how many first queries may hold a slot at once: alpha
// while answers bring nodes closer than the closest known, k once alpha
// answers in a row (a round, in Kademlia's terms) brought none, so that
// the rest of the k closest are all asked at once rather than alpha at a
// time (Maymounkov and Mazières: "the initiator resends the find_node to
// all of the k closest nodes it has not already queried"). A closer node
// narrows it again.
func (s *Shortlist) Width(alpha int) int {
	if s.stale >= alpha {
		return max(alpha, s.k)
	}
	return alpha
}

func (s *Shortlist) add(nodes []krpc.NodeInfo, hop, vouch int) {
	for _, n := range nodes {
		if c, ok := s.byID[n.ID]; ok {
			c.vouched += vouch
			continue
		}
		c := &cand{Contact: Contact{NodeInfo: n, Hop: hop}, vouched: vouch}
		s.byID[n.ID] = c
		i, _ := slices.BinarySearchFunc(s.cands, c, func(a, b *cand) int {
			return nodeid.Cmp(s.target, a.ID, b.ID)
		})
		s.cands = slices.Insert(s.cands, i, c)
	}
}

// Next returns the closest node not yet queried among the k closest that
// have neither failed nor stalled, marks it in flight and gives its query
// the timing timeout(c) from now. A stalled contact (past its Stall time)
// still counts for Done, but the lookup already queries the next contact
// in its place, so that if it is given up the lookup need not start
// another round trip.
func (s *Shortlist) Next(now time.Time, timeout TimeoutFunc) (Contact, bool) {
	seen := 0
	for _, c := range s.cands {
		if c.st == failed || c.st == inFlight && (c.stalled || !now.Before(c.stallAt)) {
			continue
		}
		if seen++; seen > s.k {
			break
		}
		if c.st == fresh {
			tm := timeout(c.Contact)
			c.st = inFlight
			c.attempts = 1
			c.first = now
			c.deadline = now.Add(tm.Timeout)
			c.stallAt = now.Add(min(tm.Stall, tm.Timeout))
			s.inFlight++
			return c.Contact, true
		}
	}
	return Contact{}, false
}

// Active returns the queries that hold one of the width slots: first
// queries younger than their Stall time to contacts that are still among
// the width closest contacts the lookup waits on (not answered, failed or
// stalled). Past its Stall time the lookup sends another query in a
// stalled one's place (it widens) while still waiting for its answer; and
// a query whose contact closer nodes have pushed out of the width closest
// frees its slot at once, so that the closer ones are asked without
// waiting for it (its answer still counts).
func (s *Shortlist) Active(now time.Time, width int) int {
	n, pos := 0, 0
	for _, c := range s.cands {
		if pos >= width {
			break
		}
		switch {
		case c.st == fresh:
			pos++
		case c.st == inFlight && !c.stalled && now.Before(c.stallAt):
			pos++
			n++
		}
	}
	return n
}

// Expire applies the timeouts due at now: a contact whose query timed out
// is queried again (returned in resend, with a new timeout) while it has
// attempts left, and counts as failed (returned in gaveUp) when not.
func (s *Shortlist) Expire(now time.Time, timeout TimeoutFunc) (resend, gaveUp []Contact) {
	for _, c := range s.cands {
		if c.st != inFlight {
			continue
		}
		if !c.stalled && !now.Before(c.stallAt) && c.stallAt.Before(c.deadline) && c.attempts < s.attempts {
			// Stalled before its timeout: asked again at once, so that a
			// lost query or answer costs a stall time, not a timeout.
			c.stalled = true
			c.attempts++
			resend = append(resend, c.Contact)
			continue
		}
		if now.Before(c.deadline) {
			continue
		}
		c.stalled = true
		if c.attempts < s.attempts {
			c.attempts++
			c.deadline = now.Add(timeout(c.Contact).Timeout)
			resend = append(resend, c.Contact)
			continue
		}
		if wait := c.first.Add(s.giveUp); now.Before(wait) {
			c.deadline = wait
			continue
		}
		c.st = failed
		s.inFlight--
		gaveUp = append(gaveUp, c.Contact)
	}
	return resend, gaveUp
}

// NextDeadline returns the earliest stall or timeout after now0 among the
// queries in flight.
func (s *Shortlist) NextDeadline(now0 time.Time) (time.Time, bool) {
	var first time.Time
	for _, c := range s.cands {
		if c.st != inFlight {
			continue
		}
		if first.IsZero() || c.deadline.Before(first) {
			first = c.deadline
		}
		if !c.stalled && c.stallAt.After(now0) && c.stallAt.Before(first) {
			first = c.stallAt
		}
	}
	return first, !first.IsZero()
}

// IsInFlight reports whether a query to id awaits an answer.
func (s *Shortlist) IsInFlight(id nodeid.ID) bool {
	c, ok := s.byID[id]
	return ok && c.st == inFlight
}

// InFlight returns the number of contacts whose queries await an answer.
func (s *Shortlist) InFlight() int { return s.inFlight }

// Answered records id's answer with its token and reports whether it was
// the first: a late answer from a contact given up on still counts, a
// second answer (to a query sent again) does not.
func (s *Shortlist) Answered(id nodeid.ID, token string) bool {
	c, ok := s.byID[id]
	if !ok || c.st == answered || c.st == fresh {
		return false
	}
	if c.st == inFlight {
		s.inFlight--
	}
	c.st = answered
	c.Token = token
	return true
}

// Failed records that a query to id failed at now without an answer (an
// error, not a timeout): it counts as timed out, so the next Expire asks
// again or gives up.
func (s *Shortlist) Failed(id nodeid.ID, now time.Time) {
	if c, ok := s.byID[id]; ok && c.st == inFlight && c.deadline.After(now) {
		c.deadline = now
	}
}

// Hop returns the hop at which id was learnt (0 when unknown).
func (s *Shortlist) Hop(id nodeid.ID) int {
	if c, ok := s.byID[id]; ok {
		return c.Hop
	}
	return 0
}

// settled reports whether c counts for Done and Closest: it answered, or
// it is queried and vouched for by enough answering nodes (SetVouch).
func (s *Shortlist) settled(c *cand) bool {
	return c.st == answered || s.vouch > 0 && c.st == inFlight && c.vouched >= s.vouch
}

// Done reports whether the k closest nodes that have not failed have all
// answered (or are vouched for, see SetVouch); queries to farther nodes
// may still be in flight.
func (s *Shortlist) Done() bool {
	seen := 0
	for _, c := range s.cands {
		if c.st == failed {
			continue
		}
		if seen++; seen > s.k {
			break
		}
		if !s.settled(c) {
			return false
		}
	}
	return true
}

// Closest returns up to k nodes that answered (or are vouched for, see
// SetVouch), closest first.
func (s *Shortlist) Closest() []Contact {
	var out []Contact
	for _, c := range s.cands {
		if s.settled(c) {
			out = append(out, c.Contact)
			if len(out) == s.k {
				break
			}
		}
	}
	return out
}
