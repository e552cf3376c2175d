package lookup

import (
	"slices"

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
	attempts int
}

// Shortlist is the state of one lookup. It is pure and not safe for
// concurrent use; Run owns it from a single goroutine.
type Shortlist struct {
	target   nodeid.ID
	k        int
	attempts int     // queries a node gets before it counts as failed
	cands    []*cand // sorted by distance to target
	byID     map[nodeid.ID]*cand
	inFlight int
}

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
func (s *Shortlist) Add(nodes []krpc.NodeInfo, hop int) {
	for _, n := range nodes {
		if _, ok := s.byID[n.ID]; ok {
			continue
		}
		c := &cand{Contact: Contact{NodeInfo: n, Hop: hop}}
		s.byID[n.ID] = c
		i, _ := slices.BinarySearchFunc(s.cands, c, func(a, b *cand) int {
			return nodeid.Cmp(s.target, a.ID, b.ID)
		})
		s.cands = slices.Insert(s.cands, i, c)
	}
}

// Next returns the closest node not yet queried among the k closest that
// have not failed, and marks it in flight.
func (s *Shortlist) Next() (Contact, bool) {
	seen := 0
	for _, c := range s.cands {
		if c.st == failed {
			continue
		}
		if seen++; seen > s.k {
			break
		}
		if c.st == fresh {
			c.st = inFlight
			s.inFlight++
			return c.Contact, true
		}
	}
	return Contact{}, false
}

// IsInFlight reports whether a query to id awaits an answer.
func (s *Shortlist) IsInFlight(id nodeid.ID) bool {
	c, ok := s.byID[id]
	return ok && c.st == inFlight
}

// InFlight returns the number of queries awaiting an answer.
func (s *Shortlist) InFlight() int { return s.inFlight }

// Answered records id's answer with its token.
func (s *Shortlist) Answered(id nodeid.ID, token string) {
	if c, ok := s.byID[id]; ok && c.st == inFlight {
		c.st = answered
		c.Token = token
		s.inFlight--
	}
}

// Failed records that id did not answer; it is asked again while it has
// attempts left, else it counts as failed.
func (s *Shortlist) Failed(id nodeid.ID) {
	if c, ok := s.byID[id]; ok && c.st == inFlight {
		c.attempts++
		c.st = failed
		if c.attempts < s.attempts {
			c.st = fresh
		}
		s.inFlight--
	}
}

// Hop returns the hop at which id was learnt (0 when unknown).
func (s *Shortlist) Hop(id nodeid.ID) int {
	if c, ok := s.byID[id]; ok {
		return c.Hop
	}
	return 0
}

// Done reports whether the k closest nodes that have not failed have all
// answered; queries to farther nodes may still be in flight.
func (s *Shortlist) Done() bool {
	seen := 0
	for _, c := range s.cands {
		if c.st == failed {
			continue
		}
		if seen++; seen > s.k {
			break
		}
		if c.st != answered {
			return false
		}
	}
	return true
}

// Closest returns up to k nodes that answered, closest first.
func (s *Shortlist) Closest() []Contact {
	var out []Contact
	for _, c := range s.cands {
		if c.st == answered {
			out = append(out, c.Contact)
			if len(out) == s.k {
				break
			}
		}
	}
	return out
}
