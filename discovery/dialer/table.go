package dialer

import (
	"cmp"
	"maps"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// Backoff is the exponential backoff of one address.
type Backoff struct {
	Min, Max time.Duration
}

// After returns the wait after fails failures in a row (1 s, 2 s, 4 s ...
// capped at Max, with the defaults).
func (b Backoff) After(fails int) time.Duration {
	if fails <= 0 {
		return 0
	}
	d := b.Min
	for i := 1; i < fails && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Default backoff bounds.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// forgetAfter: a remembered address that fails this many times in a row
// and has not worked for forgetAge is forgotten.
const (
	forgetAfter = 8
	forgetAge   = 7 * 24 * time.Hour
)

// entry is one candidate address.
type entry struct {
	addr    string
	id      identity.NodeID
	sources map[Source]time.Time // when each source's word runs out; zero: never
	fails   int
	next    time.Time // no attempt before
	lastOK  time.Time
	lastErr string
	dialing bool
	self    bool
	kept    bool // a static peer added at run time: stored as static
	added   time.Time
}

// best returns the entry's best source.
func (e *entry) best() Source {
	best := Source("")
	for s := range e.sources {
		if best == "" || s.rank() < best.rank() {
			best = s
		}
	}
	return best
}

// Attempt is a dial the table decided on.
type Attempt struct {
	Addr   string
	ID     identity.NodeID // zero: any node
	Source Source          // the address's best source
}

// Outcome is how an attempt ended.
type Outcome struct {
	ID      identity.NodeID // the node that answered, when one did
	Err     error           // nil: connected (or the peer already was)
	Self    bool            // the address is this node's own
	RetryAt time.Time       // set: not before then (a ban)
}

// table holds every candidate and decides what to dial. It does no I/O
// and reads no clock: every call is told the time.
type table struct {
	backoff Backoff
	// yield, if set, reports whether a connection dialed by id to us is
	// the one both sides keep when each dials the other; grace is how
	// long a candidate of such a node found by a source that finds both
	// sides at once (mDNS, peer exchange) waits for its dial first.
	yield     func(id identity.NodeID) bool
	grace     time.Duration
	max       int // entries kept; past it a long shot makes room or is refused
	self      identity.NodeID
	selfAddrs map[string]bool
	entries   map[string]*entry
	connected map[identity.NodeID]Source
}

func newTable(self identity.NodeID, b Backoff) *table {
	return &table{backoff: b, self: self, max: DefaultMaxCandidates, selfAddrs: make(map[string]bool),
		entries: make(map[string]*entry), connected: make(map[identity.NodeID]Source)}
}

// normAddr canonicalizes an IP address and port (IPv4-mapped IPv6 as
// IPv4), so one address is one entry; host names stay as given.
func normAddr(s string) string {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return s
}

// add records c; it reports whether the address is new.
func (t *table) add(now time.Time, c Candidate) bool {
	addr := normAddr(c.Addr)
	if c.ID == t.self && !c.ID.IsZero() || t.selfAddrs[addr] {
		return false
	}
	e := t.entries[addr]
	isNew := e == nil
	if isNew && len(t.entries) >= t.max && !t.makeRoom(c.Source) {
		return false
	}
	if isNew {
		e = &entry{addr: addr, sources: make(map[Source]time.Time), added: now}
		t.entries[addr] = e
		if _, conn := t.connected[c.ID]; symmetric(c.Source) && !c.ID.IsZero() && !conn && t.yield != nil && t.yield(c.ID) {
			// It has likely found us too, and its dial is the one
			// both keep: ours would only be a second handshake,
			// closed again. Ours follows if its does not come.
			e.next = now.Add(t.grace)
		}
	}
	if !c.ID.IsZero() && e.id != c.ID {
		_, conn := t.connected[e.id]
		switch {
		case !e.id.IsZero() && conn && !e.lastOK.IsZero():
			// A certificate proved who answers there, and still does: a
			// source naming another node (a stale or lying record) is
			// not believed over it.
		case !e.id.IsZero():
			e.id, e.fails, e.next = c.ID, 0, time.Time{} // another node there now: try it afresh
		default:
			e.id = c.ID
		}
	}
	var until time.Time
	switch {
	case c.TTL > 0:
		until = now.Add(c.TTL)
	case c.Source != Static && c.Source != Remembered:
		until = now.Add(DefaultTTL)
	}
	if old, ok := e.sources[c.Source]; !ok || !old.IsZero() && (until.IsZero() || until.After(old)) {
		e.sources[c.Source] = until
	}
	if cur, conn := t.connected[e.id]; conn && e.id == c.ID && !e.lastOK.IsZero() && c.Source.rank() < cur.rank() {
		// The peer dialed us before this source found it at an address
		// its connection proved: it is known by the better source now,
		// whichever side's dial the two kept.
		t.connected[e.id] = c.Source
	}
	return isNew
}

// DefaultMaxCandidates bounds the addresses the table keeps: sources
// that hand out strangers' addresses (peer exchange, the DHT, trackers;
// any of them may be hostile) cannot grow it without end.
const DefaultMaxCandidates = 4096

// makeRoom frees an entry for a new candidate from src when the table is
// full: the long shot (never worked, from exchange, the DHT or a tracker)
// that failed most, then was added first. A new long shot takes the place
// only of one that has failed; the better sources (static, remembered,
// mDNS: few, and chosen) always get in. It reports whether there is room.
func (t *table) makeRoom(src Source) bool {
	newLow := src.rank() >= PEX.rank()
	var victim *entry
	for _, e := range t.entries {
		if !e.low() || e.dialing || newLow && e.fails == 0 {
			continue
		}
		if _, conn := t.connected[e.id]; conn && !e.id.IsZero() {
			continue
		}
		if victim == nil || e.fails > victim.fails || e.fails == victim.fails && e.added.Before(victim.added) {
			victim = e
		}
	}
	if victim != nil {
		delete(t.entries, victim.addr)
		return true
	}
	return !newLow
}

// symmetric reports whether src finds both sides of a pair at the same
// time: each side then dials the other.
func symmetric(src Source) bool { return src == MDNS || src == PEX }

// restore adds a remembered address that last worked at lastOK.
func (t *table) restore(now time.Time, addr string, id identity.NodeID, lastOK time.Time, static bool) {
	src := Remembered
	if static {
		src = Static
	}
	t.add(now, Candidate{Addr: addr, ID: id, Source: src})
	if e := t.entries[normAddr(addr)]; e != nil {
		e.kept = e.kept || static
		if lastOK.After(e.lastOK) {
			e.lastOK = lastOK
		}
	}
}

// remove withdraws src's word for addr; an address no source vouches for
// is forgotten.
func (t *table) remove(src Source, addr string) {
	addr = normAddr(addr)
	e := t.entries[addr]
	if e == nil {
		return
	}
	delete(e.sources, src)
	if len(e.sources) == 0 && !e.dialing {
		delete(t.entries, addr)
	}
}

// expire drops sources whose word has run out.
func (t *table) expire(now time.Time) {
	for addr, e := range t.entries {
		for s, until := range e.sources {
			if !until.IsZero() && !until.After(now) {
				delete(e.sources, s)
			}
		}
		if len(e.sources) == 0 && !e.dialing {
			delete(t.entries, addr)
		}
	}
}

// eligible reports whether e may be dialed now, ignoring other entries.
func (t *table) eligible(now time.Time, e *entry) bool {
	if e.dialing || e.self || len(e.sources) == 0 || e.next.After(now) {
		return false
	}
	_, conn := t.connected[e.id]
	return e.id.IsZero() || !conn
}

// due picks up to n candidates to dial now and marks them dialing: those
// that worked before first, then by source, then the fewest failures,
// then the longest waiting; at most one address a node at a time. When
// full (enough peers connected), only static ones.
func (t *table) due(now time.Time, n int, full bool) []Attempt {
	return t.dueLimited(now, n, n, full)
}

// low reports whether e is a long shot: never worked, from a source that
// hands out many addresses of strangers (exchange, DHT, trackers).
func (e *entry) low() bool { return e.lastOK.IsZero() && e.best().rank() >= PEX.rank() }

// dueLimited is due with at most low of the picks long shots, so that
// addresses that never answer cannot take every slot from the ones that
// are likely to.
func (t *table) dueLimited(now time.Time, n, low int, full bool) []Attempt {
	if n <= 0 {
		return nil
	}
	busy := make(map[identity.NodeID]bool)
	var cands []*entry
	for _, e := range t.entries {
		if e.dialing && !e.id.IsZero() {
			busy[e.id] = true
		}
		if t.eligible(now, e) && (!full || e.best() == Static) {
			cands = append(cands, e)
		}
	}
	slices.SortFunc(cands, func(a, b *entry) int {
		if c := cmp.Compare(b2i(a.lastOK.IsZero()), b2i(b.lastOK.IsZero())); c != 0 {
			return c
		}
		if c := cmp.Compare(a.best().rank(), b.best().rank()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.fails, b.fails); c != 0 {
			return c
		}
		if c := b.lastOK.Compare(a.lastOK); c != 0 {
			return c
		}
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		if c := a.added.Compare(b.added); c != 0 {
			return c
		}
		return cmp.Compare(a.addr, b.addr)
	})
	var out []Attempt
	for _, e := range cands {
		if len(out) == n {
			break
		}
		if e.low() && low <= 0 {
			continue
		}
		if !e.id.IsZero() {
			if busy[e.id] {
				continue
			}
			busy[e.id] = true
		}
		if e.low() {
			low--
		}
		e.dialing = true
		out = append(out, Attempt{Addr: e.addr, ID: e.id})
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// done records how the attempt at addr ended. It reports whether the
// address should now be remembered (it worked) or forgotten (it has
// failed too long).
func (t *table) done(now time.Time, addr string, o Outcome) (remember, forget bool) {
	e := t.entries[addr]
	if e == nil {
		return false, false
	}
	e.dialing = false
	defer func() {
		if len(e.sources) == 0 {
			delete(t.entries, addr)
		}
	}()
	if !o.ID.IsZero() {
		e.id = o.ID
	}
	switch {
	case o.Self || o.ID == t.self && !o.ID.IsZero():
		e.self = true
		t.selfAddrs[addr] = true
		return false, true
	case o.Err == nil:
		e.fails, e.lastOK, e.lastErr, e.next = 0, now, "", time.Time{}
		if _, ok := t.connected[e.id]; !ok {
			t.connected[e.id] = e.best()
		}
		return true, false
	}
	e.fails++
	e.lastErr = o.Err.Error()
	e.next = now.Add(t.backoff.After(e.fails))
	if o.RetryAt.After(e.next) {
		e.next = o.RetryAt
	}
	_, remembered := e.sources[Remembered]
	forget = remembered && e.fails >= forgetAfter && now.Sub(e.lastOK) > forgetAge
	if forget {
		delete(e.sources, Remembered)
	}
	return false, forget
}

// connect records a connection the swarm reports. For a peer that dialed
// us, the addresses it listens on (its listen port at the address it came
// from, where it listens on all interfaces) become candidates of its node.
// It returns the addresses to remember.
func (t *table) connect(now time.Time, ev Event) []string {
	var addrs []string
	if ev.Outbound {
		addrs = []string{normAddr(ev.Addr)}
	} else {
		addrs = InboundAddrs(ev.Addr, ev.ListenAddrs)
	}
	src := Inbound
	for _, e := range t.entries {
		if e.id == ev.ID && e.best().rank() < src.rank() {
			src = e.best()
		}
	}
	var remember []string
	for _, a := range addrs {
		e := t.entries[a]
		if e == nil {
			if ev.Outbound {
				continue // dialed by name: done() records it
			}
			t.add(now, Candidate{Addr: a, ID: ev.ID, Source: Inbound})
			e = t.entries[a]
			if e == nil {
				continue
			}
		}
		e.id = ev.ID
		if e.best().rank() < src.rank() {
			src = e.best()
		}
		e.lastOK, e.fails, e.next = now, 0, time.Time{}
		remember = append(remember, a)
	}
	if old, ok := t.connected[ev.ID]; !ok || src.rank() < old.rank() {
		t.connected[ev.ID] = src
	}
	return remember
}

// disconnect records a drop: the peer's addresses are dialed again after
// the first backoff step, if a source still wants them.
func (t *table) disconnect(now time.Time, ev Event) {
	delete(t.connected, ev.ID)
	for _, e := range t.entries {
		if e.id == ev.ID && !e.dialing {
			e.next = now.Add(t.backoff.Min)
		}
	}
}

// InboundAddrs derives where a peer that dialed us from remote listens,
// from the addresses it says it listens on.
func InboundAddrs(remote string, listen []string) []string {
	rhost, _, err := net.SplitHostPort(remote)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range listen {
		host, port, err := net.SplitHostPort(l)
		if err != nil || port == "0" {
			continue
		}
		ip, err := netip.ParseAddr(host)
		if err == nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			out = append(out, normAddr(l)) // a specific address it named
			continue
		}
		if err == nil && ip.IsLoopback() && !isLoopbackHost(rhost) {
			continue // its loopback is not ours
		}
		a := normAddr(net.JoinHostPort(rhost, port))
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func isLoopbackHost(h string) bool {
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// wake returns when the table next has something to do (an attempt due
// or a source's word running out); zero: nothing. An attempt held back by
// another of its node's in flight waits for that one's outcome.
func (t *table) wake(now time.Time, full bool) time.Time {
	var w time.Time
	earlier := func(x time.Time) {
		if !x.IsZero() && (w.IsZero() || x.Before(w)) {
			w = x
		}
	}
	busy := make(map[identity.NodeID]bool)
	for _, e := range t.entries {
		if e.dialing && !e.id.IsZero() {
			busy[e.id] = true
		}
	}
	for _, e := range t.entries {
		for _, until := range e.sources {
			earlier(until)
		}
		if e.dialing || e.self || full && e.best() != Static {
			continue
		}
		if !e.id.IsZero() {
			if _, conn := t.connected[e.id]; conn || busy[e.id] {
				continue
			}
		}
		if e.next.After(now) {
			earlier(e.next)
		} else {
			earlier(now)
		}
	}
	return w
}

// infos describes every candidate, best first.
func (t *table) infos(now time.Time) []Info {
	out := make([]Info, 0, len(t.entries))
	for _, e := range t.entries {
		in := Info{Addr: e.addr, ID: e.id, Fails: e.fails, LastOK: e.lastOK, LastErr: e.lastErr}
		for s := range e.sources {
			in.Sources = append(in.Sources, s)
		}
		slices.SortFunc(in.Sources, func(a, b Source) int { return cmp.Compare(a.rank(), b.rank()) })
		_, conn := t.connected[e.id]
		switch {
		case e.self:
			in.State = "self"
		case conn && !e.id.IsZero():
			in.State = "connected"
		case e.dialing:
			in.State = "dialing"
		default:
			in.State = "waiting"
			in.Next = e.next
			if e.next.Before(now) {
				in.Next = now
			}
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := cmp.Compare(firstRank(a.Sources), firstRank(b.Sources)); c != 0 {
			return c
		}
		return cmp.Compare(a.Addr, b.Addr)
	})
	return out
}

// sourcesOf says how each connected peer was found.
func (t *table) sourcesOf() map[identity.NodeID]Source { return maps.Clone(t.connected) }

func firstRank(s []Source) int {
	if len(s) == 0 {
		return Inbound.rank() + 1
	}
	return s[0].rank()
}
