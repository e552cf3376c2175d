package routing

import (
	"slices"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/nodeid"
)

// Timing constants of BEP 5.
const (
	GoodFor      = 15 * time.Minute // a node is good this long after it was last heard from
	RefreshAfter = 15 * time.Minute // an idle bucket is refreshed after this long
	BadFailures  = 2                // failed queries in a row that make a node bad
)

// State is a node's standing in the table.
type State int

// Node states of BEP 5.
const (
	Good State = iota
	Questionable
	Bad
)

func (s State) String() string {
	switch s {
	case Good:
		return "good"
	case Questionable:
		return "questionable"
	default:
		return "bad"
	}
}

// Entry is one node the table knows.
type Entry struct {
	krpc.NodeInfo
	LastResponse time.Time // last answer to one of our queries
	LastQuery    time.Time // last query it sent us
	Failures     int       // failed queries since its last answer
	Secure       bool      // its ID conforms to BEP 42 for its address
	pinging      bool
}

// LastSeen returns when the node was last heard from.
func (e *Entry) LastSeen() time.Time {
	if e.LastQuery.After(e.LastResponse) {
		return e.LastQuery
	}
	return e.LastResponse
}

// State returns the node's state at now.
func (e *Entry) State(now time.Time) State {
	switch {
	case e.Failures >= BadFailures, e.Failures > 0 && e.LastResponse.IsZero():
		return Bad
	case !e.LastResponse.IsZero() && now.Sub(e.LastSeen()) < GoodFor:
		return Good
	default:
		return Questionable
	}
}

// Action is what the table asks its owner to do after an update.
type Action struct {
	// Ping, when valid, is a node to ping: a questionable node that a
	// newcomer would replace, or a newcomer that has only queried us. On an
	// answer call Heard, on a timeout Failed (which makes it bad).
	Ping krpc.NodeInfo
}

type bucket struct {
	entries      []*Entry
	replacements []*Entry
	changed      time.Time
}

// Table is a routing table. It is not safe for concurrent use: one owner
// holds it (behind a mutex or in one goroutine).
type Table struct {
	self nodeid.ID
	k    int
	// buckets grows on demand up to the deepest bucket that ever held a
	// node (about log2 of the network's size, not 160), so that a table
	// among 100,000 simulated nodes costs its entries and little else.
	// A bucket not yet allocated last changed at born.
	buckets []bucket
	born    time.Time
}

// New returns an empty table for the local ID self with k entries a
// bucket (default 8); now starts every bucket's refresh clock.
func New(self nodeid.ID, k int, now time.Time) *Table {
	if k <= 0 {
		k = 8
	}
	return &Table{self: self, k: k, born: now}
}

// Self returns the local ID.
func (t *Table) Self() nodeid.ID { return t.self }

// K returns the bucket size.
func (t *Table) K() int { return t.k }

// bucketOf returns id's bucket, allocating the buckets up to it.
func (t *Table) bucketOf(id nodeid.ID) *bucket {
	return t.bucketAt(nodeid.PrefixLen(t.self, id))
}

// bucketAt returns bucket i, allocating the buckets up to it.
func (t *Table) bucketAt(i int) *bucket {
	for len(t.buckets) <= i {
		t.buckets = append(t.buckets, bucket{changed: t.born})
	}
	return &t.buckets[i]
}

// lookupBucket returns id's bucket, or nil when none was allocated (so it
// holds no node).
func (t *Table) lookupBucket(id nodeid.ID) *bucket {
	if i := nodeid.PrefixLen(t.self, id); i < len(t.buckets) {
		return &t.buckets[i]
	}
	return nil
}

// Heard records a message from node n: responded is true for an answer to
// our query, false for a query it sent us. It returns a ping to carry out
// when n does not fit in a full bucket whose oldest node is questionable.
func (t *Table) Heard(n krpc.NodeInfo, secure, responded bool, now time.Time) Action {
	if n.ID == t.self {
		return Action{}
	}
	b := t.bucketOf(n.ID)
	if i := indexOf(b.entries, n.ID); i >= 0 {
		e := b.entries[i]
		if e.Addr != n.Addr {
			if e.State(now) == Good {
				return Action{} // keep a working node's address; do not let others move it
			}
			e.Addr, e.Secure = n.Addr, secure
		}
		t.touch(e, responded, now)
		if responded {
			b.changed = now
		} else if e.LastResponse.IsZero() && !e.pinging {
			// Still unverified (its ping was lost or skipped): try again.
			e.pinging = true
			return Action{Ping: e.NodeInfo}
		}
		return Action{}
	}
	cand := &Entry{NodeInfo: n, Secure: secure}
	t.touch(cand, responded, now)
	if len(b.entries) < t.k {
		b.entries = append(b.entries, cand)
		b.changed = now
		b.replacements = remove(b.replacements, n.ID)
		if !responded {
			cand.pinging = true
			return Action{Ping: n}
		}
		return Action{}
	}
	// Full bucket: replace a bad node outright.
	if i := t.worst(b, now, func(e *Entry) bool { return e.State(now) == Bad }); i >= 0 {
		b.entries[i] = cand
		b.changed = now
		b.replacements = remove(b.replacements, n.ID)
		return Action{}
	}
	// BEP 42: a conforming node that answered displaces a non-conforming one.
	if secure && responded {
		if i := t.worst(b, now, func(e *Entry) bool { return !e.Secure }); i >= 0 {
			old := b.entries[i]
			b.entries[i] = cand
			b.changed = now
			b.replacements = remove(b.replacements, n.ID)
			t.addReplacement(b, old)
			return Action{}
		}
	}
	t.addReplacement(b, cand)
	if i := t.worst(b, now, func(e *Entry) bool { return e.State(now) == Questionable && !e.pinging }); i >= 0 {
		b.entries[i].pinging = true
		return Action{Ping: b.entries[i].NodeInfo}
	}
	return Action{}
}

func (t *Table) touch(e *Entry, responded bool, now time.Time) {
	if responded {
		e.LastResponse = now
		e.Failures = 0
		e.pinging = false
	} else {
		e.LastQuery = now
	}
}

// worst returns the index of the least recently seen entry matching ok, or -1.
func (t *Table) worst(b *bucket, now time.Time, ok func(*Entry) bool) int {
	best := -1
	for i, e := range b.entries {
		if ok(e) && (best < 0 || e.LastSeen().Before(b.entries[best].LastSeen())) {
			best = i
		}
	}
	return best
}

// addReplacement keeps e in the bucket's replacement cache of k nodes,
// dropping the oldest non-conforming (else oldest) node when full.
func (t *Table) addReplacement(b *bucket, e *Entry) {
	if i := indexOf(b.replacements, e.ID); i >= 0 {
		b.replacements[i] = e
		return
	}
	if len(b.replacements) >= t.k {
		drop := -1
		for i, r := range b.replacements {
			if r.Secure && e.Secure || !r.Secure {
				if drop < 0 || b.replacements[drop].Secure && !r.Secure ||
					b.replacements[drop].Secure == r.Secure && r.LastSeen().Before(b.replacements[drop].LastSeen()) {
					drop = i
				}
			}
		}
		if drop < 0 {
			return // all conforming and e is not: keep them
		}
		b.replacements = slices.Delete(b.replacements, drop, drop+1)
	}
	b.replacements = append(b.replacements, e)
}

// Failed records that node id did not answer a query. A node that has
// become bad is replaced by the best of its bucket's replacement cache.
func (t *Table) Failed(id nodeid.ID, now time.Time) {
	b := t.lookupBucket(id)
	if b == nil {
		return
	}
	b.replacements = remove(b.replacements, id)
	i := indexOf(b.entries, id)
	if i < 0 {
		return
	}
	e := b.entries[i]
	e.Failures++
	e.pinging = false
	if e.State(now) != Bad || len(b.replacements) == 0 {
		return
	}
	best := 0
	for j, r := range b.replacements {
		cur := b.replacements[best]
		if r.Secure && !cur.Secure || r.Secure == cur.Secure && r.LastSeen().After(cur.LastSeen()) {
			best = j
		}
	}
	b.entries[i] = b.replacements[best]
	b.replacements = slices.Delete(b.replacements, best, best+1)
	b.changed = now
}

// Remove drops node id from the table and its replacement cache.
func (t *Table) Remove(id nodeid.ID) {
	b := t.lookupBucket(id)
	if b == nil {
		return
	}
	b.entries = remove(b.entries, id)
	b.replacements = remove(b.replacements, id)
}

// Get returns a copy of the entry for id.
func (t *Table) Get(id nodeid.ID) (Entry, bool) {
	b := t.lookupBucket(id)
	if b == nil {
		return Entry{}, false
	}
	if i := indexOf(b.entries, id); i >= 0 {
		return *b.entries[i], true
	}
	return Entry{}, false
}

// Closest returns up to n nodes that have answered us and have not failed
// a query since, closest to target first: a node that stopped answering
// is quarantined (never handed to others, never a lookup's seed) until it
// answers again.
func (t *Table) Closest(target nodeid.ID, n int, now time.Time) []krpc.NodeInfo {
	var all []krpc.NodeInfo
	for i := range t.buckets {
		for _, e := range t.buckets[i].entries {
			if e.Failures == 0 && !e.LastResponse.IsZero() {
				all = append(all, e.NodeInfo)
			}
		}
	}
	slices.SortFunc(all, func(a, b krpc.NodeInfo) int { return nodeid.Cmp(target, a.ID, b.ID) })
	if len(all) > n {
		all = all[:n]
	}
	return all
}

// Len returns the number of entries (of any state).
func (t *Table) Len() int {
	n := 0
	for i := range t.buckets {
		n += len(t.buckets[i].entries)
	}
	return n
}

// Entries returns copies of every entry, bucket by bucket.
func (t *Table) Entries() []Entry {
	var out []Entry
	for i := range t.buckets {
		for _, e := range t.buckets[i].entries {
			out = append(out, *e)
		}
	}
	return out
}

// Stale returns the buckets up to the deepest occupied one that have not
// changed for RefreshAfter; the owner looks up a random ID in each (see
// nodeid.RandomInBucket) and calls Refreshed.
func (t *Table) Stale(now time.Time) []int {
	deepest := -1
	for i := range t.buckets {
		if len(t.buckets[i].entries) > 0 {
			deepest = i
		}
	}
	var out []int
	for i := 0; i <= deepest && i < len(t.buckets); i++ {
		if now.Sub(t.buckets[i].changed) >= RefreshAfter {
			out = append(out, i)
		}
	}
	return out
}

// Refreshed restarts bucket i's refresh clock.
func (t *Table) Refreshed(i int, now time.Time) {
	if i >= 0 && i < 160 {
		t.bucketAt(i).changed = now
	}
}

// BucketInfo describes one non-empty bucket.
type BucketInfo struct {
	Index        int // shared prefix length with the local ID
	Good         int
	Questionable int
	Bad          int
	Replacements int
	LastChanged  time.Time
	Nodes        []Entry
}

// Buckets returns the non-empty buckets.
func (t *Table) Buckets(now time.Time) []BucketInfo {
	var out []BucketInfo
	for i := range t.buckets {
		b := &t.buckets[i]
		if len(b.entries) == 0 && len(b.replacements) == 0 {
			continue
		}
		bi := BucketInfo{Index: i, Replacements: len(b.replacements), LastChanged: b.changed}
		for _, e := range b.entries {
			switch e.State(now) {
			case Good:
				bi.Good++
			case Questionable:
				bi.Questionable++
			default:
				bi.Bad++
			}
			bi.Nodes = append(bi.Nodes, *e)
		}
		out = append(out, bi)
	}
	return out
}

func indexOf(es []*Entry, id nodeid.ID) int {
	return slices.IndexFunc(es, func(e *Entry) bool { return e.ID == id })
}

func remove(es []*Entry, id nodeid.ID) []*Entry {
	if i := indexOf(es, id); i >= 0 {
		return slices.Delete(es, i, i+1)
	}
	return es
}
