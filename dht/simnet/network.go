package simnet

import (
	"container/heap"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors returned by Listen and by conns.
var (
	// ErrAddrInUse means another open conn already listens on the address.
	ErrAddrInUse = errors.New("simnet: address already in use")
	// ErrInvalidAddr means the address cannot be listened on or sent to.
	ErrInvalidAddr = errors.New("simnet: invalid address")
	// ErrTooLarge means a packet exceeds Options.MaxPacket.
	ErrTooLarge = errors.New("simnet: packet too large")
	// ErrNetworkClosed means the network was closed.
	ErrNetworkClosed = errors.New("simnet: network closed")
)

// Link describes one direction of a link: one-way latency drawn uniformly
// from [Latency-Jitter, Latency+Jitter] (never below zero) and the
// probability that a packet is lost.
type Link struct {
	Latency time.Duration
	Jitter  time.Duration
	Loss    float64
}

// String formats the link as "50ms ± 20ms, 1% loss".
func (l Link) String() string {
	return fmt.Sprintf("%v ± %v, %g%% loss", l.Latency, l.Jitter, 100*l.Loss)
}

// Options configures a Network. The zero value is a lossless network with
// zero latency, seed 0 and 256-packet receive queues.
type Options struct {
	// Link is the default for every pair of addresses.
	Link Link
	// LinkFunc, if set, overrides Link for the packets from src to dst.
	LinkFunc func(src, dst netip.AddrPort) Link
	// Seed seeds the PRNGs that draw latency and loss; the same seed and
	// the same sequence of writes per conn give the same outcome.
	Seed uint64
	// QueueLen bounds each conn's receive queue in packets (default 256);
	// packets that arrive at a full queue are dropped, as UDP does.
	QueueLen int
	// MaxPacket bounds the payload of one packet (default 65507, as UDP/IPv4).
	MaxPacket int
	// Conditions add mainline-like hosts and links (NAT, log-normal RTTs,
	// slow hosts, churn); the zero value adds none.
	Conditions Conditions
}

// Stats counts packets over the life of a Network.
type Stats struct {
	Sent        uint64 // WriteTo calls accepted
	Delivered   uint64 // packets placed in a receive queue
	Lost        uint64 // dropped by the link's loss probability
	Unreachable uint64 // no open, up conn at the destination (or the sender was down)
	Overflow    uint64 // dropped because the receive queue was full
	Filtered    uint64 // dropped by the destination's NAT (Conditions.Unreachable)
	InFlight    uint64 // scheduled but not yet delivered or dropped
}

// Dropped is the number of packets sent but never delivered.
func (s Stats) Dropped() uint64 { return s.Lost + s.Unreachable + s.Overflow + s.Filtered }

// Network is an in-memory packet network. Its methods are safe for
// concurrent use. A Network used inside a synctest bubble must be created in
// that bubble.
type Network struct {
	opt Options

	mu      sync.Mutex
	conns   map[netip.AddrPort]*Conn
	down    map[netip.Addr]bool
	queue   packetHeap
	seq     uint64
	timer   *time.Timer
	timerAt time.Time
	closed  bool

	nextPort map[netip.Addr]uint16
	sessions map[netip.Addr]*time.Timer // churn: each host's next change

	sent, delivered, lost, unreachable, overflow, filtered atomic.Uint64
}

// New returns an empty network.
func New(opt Options) *Network {
	if opt.QueueLen <= 0 {
		opt.QueueLen = 256
	}
	if opt.MaxPacket <= 0 {
		opt.MaxPacket = 65507
	}
	return &Network{
		opt:      opt,
		conns:    make(map[netip.AddrPort]*Conn),
		down:     make(map[netip.Addr]bool),
		nextPort: make(map[netip.Addr]uint16),
		sessions: make(map[netip.Addr]*time.Timer),
	}
}

// Listen opens a conn on addr. Port 0 picks a free port on that IP. The
// returned conn's LocalAddr is a *net.UDPAddr.
func (n *Network) Listen(addr netip.AddrPort) (*Conn, error) {
	ip := addr.Addr().Unmap()
	if !ip.IsValid() || ip.IsUnspecified() {
		return nil, fmt.Errorf("simnet: listen %s: %w", addr, ErrInvalidAddr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("simnet: listen %s: %w", addr, ErrNetworkClosed)
	}
	port := addr.Port()
	if port == 0 {
		var ok bool
		if port, ok = n.freePort(ip); !ok {
			return nil, fmt.Errorf("simnet: listen %s: no free port: %w", addr, ErrAddrInUse)
		}
	}
	addr = netip.AddrPortFrom(ip, port)
	if _, busy := n.conns[addr]; busy {
		return nil, fmt.Errorf("simnet: listen %s: %w", addr, ErrAddrInUse)
	}
	c := newConn(n, addr, n.connRand(addr))
	cond := &n.opt.Conditions
	c.slow = cond.SlowDelay(ip)
	c.natted = cond.IsUnreachable(ip)
	n.conns[addr] = c
	if _, ok := n.sessions[ip]; !ok && cond.SessionMedian > 0 {
		n.scheduleLocked(ip, 0, true)
	}
	return c, nil
}

// scheduleLocked arms the timer that ends ip's i-th session (up) or the
// offline period after it. Called with n.mu held.
func (n *Network) scheduleLocked(ip netip.Addr, i int, up bool) {
	on, off := n.opt.Conditions.Session(ip, i)
	d := on
	if !up {
		d = off
	}
	n.sessions[ip] = time.AfterFunc(d, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.closed {
			return
		}
		if up {
			n.down[ip] = true
			n.scheduleLocked(ip, i, false)
		} else {
			delete(n.down, ip)
			n.scheduleLocked(ip, i+1, true)
		}
	})
}

// Reaches reports whether a packet sent now from src would be delivered
// to dst, loss and latency aside: both hosts up, dst listening, and dst's
// NAT (if any) open to src.
func (n *Network) Reaches(src, dst netip.AddrPort) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.conns[dst]
	return c != nil && !n.down[src.Addr()] && !n.down[dst.Addr()] && c.admits(src, time.Now())
}

// IsUnreachable reports whether the host at ip is behind a filtering NAT.
func (n *Network) IsUnreachable(ip netip.Addr) bool {
	return n.opt.Conditions.IsUnreachable(ip)
}

// RoundTrip returns a query's round-trip time from a to b without loss,
// as the network's link and conditions set it.
func (n *Network) RoundTrip(a, b netip.Addr) time.Duration {
	return n.opt.Conditions.RoundTrip(n.opt.Link, a, b)
}

// Conditions returns the network's conditions.
func (n *Network) Conditions() Conditions { return n.opt.Conditions }

// freePort returns an unused ephemeral port on ip. Called with n.mu held.
func (n *Network) freePort(ip netip.Addr) (uint16, bool) {
	const lo, hi = 49152, 65535
	p := n.nextPort[ip]
	for range hi - lo + 1 {
		if p < lo {
			p = lo
		}
		cand := p
		if p == hi {
			p = lo
		} else {
			p++
		}
		if _, busy := n.conns[netip.AddrPortFrom(ip, cand)]; !busy {
			n.nextPort[ip] = p
			return cand, true
		}
	}
	return 0, false
}

// connRand derives a conn's PRNG from the network seed and its address, so
// that each conn's draws depend only on its own sequence of writes.
func (n *Network) connRand(addr netip.AddrPort) *rand.Rand {
	h := fnv.New64a()
	b, _ := addr.MarshalBinary()
	h.Write(b)
	return rand.New(rand.NewPCG(n.opt.Seed, h.Sum64()))
}

// SetDown takes every conn on ip down (true) or brings it back up (false).
// Packets to or from a down IP are dropped and counted as Unreachable, as if
// the host had crashed or left; conns stay open and keep their queues.
func (n *Network) SetDown(ip netip.Addr, down bool) {
	ip = ip.Unmap()
	n.mu.Lock()
	defer n.mu.Unlock()
	if down {
		n.down[ip] = true
	} else {
		delete(n.down, ip)
	}
}

// IsDown reports whether ip was taken down with SetDown.
func (n *Network) IsDown(ip netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.down[ip.Unmap()]
}

// Stats returns the packet counters so far.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	inFlight := uint64(len(n.queue))
	n.mu.Unlock()
	return Stats{
		InFlight:    inFlight,
		Sent:        n.sent.Load(),
		Delivered:   n.delivered.Load(),
		Lost:        n.lost.Load(),
		Unreachable: n.unreachable.Load(),
		Overflow:    n.overflow.Load(),
		Filtered:    n.filtered.Load(),
	}
}

// Pending returns the number of packets in flight.
func (n *Network) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.queue)
}

// Close closes every conn and drops the packets in flight.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	conns := make([]*Conn, 0, len(n.conns))
	for _, c := range n.conns {
		conns = append(conns, c)
	}
	n.queue = nil
	if n.timer != nil {
		n.timer.Stop()
	}
	for _, t := range n.sessions {
		t.Stop()
	}
	n.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	return nil
}

// send schedules data from src to dst; the caller has checked sizes and
// its own state and drawn the link's fate.
func (n *Network) send(src, dst netip.AddrPort, data []byte, delay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.unreachable.Add(1)
		return
	}
	if n.down[src.Addr()] {
		n.unreachable.Add(1)
		return
	}
	if delay <= 0 {
		n.deliverLocked(&packet{src: src, dst: dst, data: data})
		return
	}
	due := time.Now().Add(delay)
	n.seq++
	heap.Push(&n.queue, &packet{src: src, dst: dst, data: data, due: due, seq: n.seq})
	n.armLocked()
}

// armLocked makes sure the timer fires at the earliest due time.
func (n *Network) armLocked() {
	if len(n.queue) == 0 {
		return
	}
	first := n.queue[0].due
	if n.timer != nil && !n.timerAt.IsZero() && !first.Before(n.timerAt) {
		return
	}
	n.timerAt = first
	d := time.Until(first)
	if n.timer == nil {
		n.timer = time.AfterFunc(d, n.fire)
		return
	}
	n.timer.Reset(d)
}

// fire delivers every packet that is due and re-arms the timer.
func (n *Network) fire() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.timerAt = time.Time{}
	now := time.Now()
	for len(n.queue) > 0 && !n.queue[0].due.After(now) {
		p := heap.Pop(&n.queue).(*packet)
		n.deliverLocked(p)
	}
	n.armLocked()
}

// deliverLocked hands p to its destination conn, or drops it.
func (n *Network) deliverLocked(p *packet) {
	c := n.conns[p.dst]
	if c == nil || n.down[p.dst.Addr()] {
		n.unreachable.Add(1)
		return
	}
	if !c.admits(p.src, time.Now()) {
		n.filtered.Add(1)
		return
	}
	switch c.enqueue(p.src, p.data) {
	case enqueued:
		n.delivered.Add(1)
	case queueFull:
		n.overflow.Add(1)
	case connClosed:
		n.unreachable.Add(1)
	}
}

// remove forgets c's address so that it can be listened on again.
func (n *Network) remove(c *Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conns[c.addr] == c {
		delete(n.conns, c.addr)
	}
}

// packet is one datagram in flight.
type packet struct {
	src, dst netip.AddrPort
	data     []byte
	due      time.Time
	seq      uint64
}

// packetHeap orders packets by due time, then by send order.
type packetHeap []*packet

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}
