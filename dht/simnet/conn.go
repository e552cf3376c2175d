package simnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Conn is one endpoint of a Network. It implements net.PacketConn the way a
// UDP socket does: WriteTo never blocks, packets that find a full receive
// queue are dropped, ReadFrom honours deadlines and returns when the conn is
// closed, and addresses are *net.UDPAddr.
type Conn struct {
	net   *Network
	addr  netip.AddrPort
	laddr *net.UDPAddr

	wmu sync.Mutex // guards rng and nat; taken after Network.mu, never before
	rng *rand.Rand

	slow   time.Duration // Conditions.SlowDelay: added to every packet sent
	natted bool          // behind a filtering NAT (Conditions.Unreachable)
	nat    natTable      // when natted: the open mappings

	mu      sync.Mutex
	queue   []entry // ring buffer
	head, n int
	closed  bool
	notify  chan struct{} // capacity 1: something arrived
	done    chan struct{} // closed by Close

	rdl, wdl *deadline
}

// idleQueue is the largest ring a conn keeps once its queue has drained.
const idleQueue = 8

type entry struct {
	src  netip.AddrPort
	data []byte
}

type enqueueResult int

const (
	enqueued enqueueResult = iota
	queueFull
	connClosed
)

var _ net.PacketConn = (*Conn)(nil)

func newConn(n *Network, addr netip.AddrPort, rng *rand.Rand) *Conn {
	return &Conn{
		net:    n,
		addr:   addr,
		laddr:  net.UDPAddrFromAddrPort(addr),
		rng:    rng,
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		rdl:    newDeadline(),
		wdl:    newDeadline(),
	}
}

// AddrPort returns the conn's address.
func (c *Conn) AddrPort() netip.AddrPort { return c.addr }

// LocalAddr returns the conn's address as a *net.UDPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// ReadFrom reads the next packet into p and returns its length and sender as
// a *net.UDPAddr. A packet longer than p is truncated, as with UDP.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, src, err := c.ReadFromUDPAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// ReadFromUDPAddrPort is ReadFrom returning the sender as a netip.AddrPort,
// like (*net.UDPConn).ReadFromUDPAddrPort.
func (c *Conn) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	data, src, err := c.next()
	return copy(p, data), src, err
}

// ReadPacket returns the next packet's own bytes, which the caller may keep,
// and its sender as a *net.UDPAddr: a reader of many conns needs no
// buffer per conn.
func (c *Conn) ReadPacket() ([]byte, net.Addr, error) {
	data, src, err := c.next()
	if err != nil {
		return nil, nil, err
	}
	return data, net.UDPAddrFromAddrPort(src), nil
}

// next waits for the next packet and takes it off the queue.
func (c *Conn) next() ([]byte, netip.AddrPort, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, netip.AddrPort{}, c.opErr("read", netip.AddrPort{}, net.ErrClosed)
		}
		if c.n > 0 {
			e := c.queue[c.head]
			c.queue[c.head] = entry{}
			c.head = (c.head + 1) % len(c.queue)
			c.n--
			more := c.n > 0
			if !more && len(c.queue) > idleQueue {
				c.queue, c.head = nil, 0 // drained after a burst: give the ring back
			}
			c.mu.Unlock()
			if more {
				c.signal() // another reader may be waiting
			}
			return e.data, e.src, nil
		}
		c.mu.Unlock()
		if c.rdl.passed() {
			return nil, netip.AddrPort{}, c.opErr("read", netip.AddrPort{}, os.ErrDeadlineExceeded)
		}
		select {
		case <-c.notify:
		case <-c.done:
		case <-c.rdl.wait():
		}
	}
}

// WriteTo sends p to addr, which must be a *net.UDPAddr or print as
// "ip:port". It returns len(p) even when the network later drops the packet.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	dst, err := addrPortOf(addr)
	if err != nil {
		return 0, c.opErr("write", netip.AddrPort{}, err)
	}
	return c.WriteToUDPAddrPort(p, dst)
}

// WriteToUDPAddrPort is WriteTo with a netip.AddrPort destination, like
// (*net.UDPConn).WriteToUDPAddrPort.
func (c *Conn) WriteToUDPAddrPort(p []byte, dst netip.AddrPort) (int, error) {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	if !dst.IsValid() || dst.Port() == 0 {
		return 0, c.opErr("write", dst, ErrInvalidAddr)
	}
	if c.isClosed() {
		return 0, c.opErr("write", dst, net.ErrClosed)
	}
	if c.wdl.passed() {
		return 0, c.opErr("write", dst, os.ErrDeadlineExceeded)
	}
	if len(p) > c.net.opt.MaxPacket {
		return 0, c.opErr("write", dst, ErrTooLarge)
	}
	link := c.net.opt.Link
	if c.net.opt.LinkFunc != nil {
		link = c.net.opt.LinkFunc(c.addr, dst)
	}
	cond := &c.net.opt.Conditions
	if cond.Loss > 0 {
		link.Loss = cond.Loss
	}
	c.wmu.Lock()
	lost := link.Loss > 0 && c.rng.Float64() < link.Loss
	var delay time.Duration
	if cond.RTTMedian > 0 {
		delay = cond.LinkRTT(c.addr.Addr(), dst.Addr()) / 2
	} else {
		delay = link.Latency
		if link.Jitter > 0 {
			delay += time.Duration(c.rng.Int64N(int64(2*link.Jitter)+1)) - link.Jitter
		}
	}
	delay += c.slow
	if c.natted {
		c.nat.open(dst, time.Now(), cond.natTimeout())
	}
	c.wmu.Unlock()
	c.net.sent.Add(1)
	if lost {
		c.net.lost.Add(1)
		return len(p), nil
	}
	c.net.send(c.addr, dst, append([]byte(nil), p...), delay)
	return len(p), nil
}

// Close closes the conn, unblocks its readers and frees its address.
func (c *Conn) Close() error {
	if !c.close() {
		return c.opErr("close", netip.AddrPort{}, net.ErrClosed)
	}
	c.net.remove(c)
	return nil
}

// SetDeadline sets both the read and the write deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opErr("set", netip.AddrPort{}, net.ErrClosed)
	}
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the time after which ReadFrom fails with a timeout.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opErr("set", netip.AddrPort{}, net.ErrClosed)
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the time after which WriteTo fails with a timeout.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opErr("set", netip.AddrPort{}, net.ErrClosed)
	}
	c.wdl.set(t)
	return nil
}

// admits reports whether a packet from src gets through the conn's NAT at
// now (always, for a conn not behind one).
func (c *Conn) admits(src netip.AddrPort, now time.Time) bool {
	if !c.natted {
		return true
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.nat.isOpen(src, now)
}

// natTable holds a NAT's open mappings: destination → expiry. Expired
// ones are swept when the map doubles, so it stays the size of the
// recent destinations.
type natTable struct {
	m       map[uint64]int64 // addrKey → expiry, Unix nanoseconds
	sweepAt int
}

func (t *natTable) open(dst netip.AddrPort, now time.Time, timeout time.Duration) {
	if t.m == nil {
		t.m = make(map[uint64]int64)
		t.sweepAt = 16
	}
	k := addrKey(dst)
	if _, ok := t.m[k]; !ok && len(t.m) >= t.sweepAt {
		kept := make(map[uint64]int64, len(t.m)/2)
		for a, exp := range t.m {
			if exp > now.UnixNano() {
				kept[a] = exp
			}
		}
		t.m = kept
		t.sweepAt = max(16, 2*len(kept))
	}
	t.m[k] = now.Add(timeout).UnixNano()
}

func (t *natTable) isOpen(src netip.AddrPort, now time.Time) bool {
	exp, ok := t.m[addrKey(src)]
	return ok && now.UnixNano() < exp
}

// close marks the conn closed; it reports false if it already was.
func (c *Conn) close() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	c.queue, c.head, c.n = nil, 0, 0
	close(c.done)
	return true
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// enqueue appends a packet to the receive queue.
func (c *Conn) enqueue(src netip.AddrPort, data []byte) enqueueResult {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return connClosed
	}
	limit := c.net.opt.QueueLen
	if c.n >= limit {
		c.mu.Unlock()
		return queueFull
	}
	if c.n == len(c.queue) { // grow the ring, up to limit
		size := min(max(2*len(c.queue), 8), limit)
		q := make([]entry, size)
		for i := range c.n {
			q[i] = c.queue[(c.head+i)%len(c.queue)]
		}
		c.queue, c.head = q, 0
	}
	c.queue[(c.head+c.n)%len(c.queue)] = entry{src: src, data: data}
	c.n++
	c.mu.Unlock()
	c.signal()
	return enqueued
}

func (c *Conn) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// opErr wraps err the way the net package does for UDP sockets, so callers
// can test errors.Is(err, net.ErrClosed) and err.(net.Error).Timeout().
func (c *Conn) opErr(op string, remote netip.AddrPort, err error) error {
	e := &net.OpError{Op: op, Net: "udp", Source: c.laddr, Err: err}
	if remote.IsValid() {
		e.Addr = net.UDPAddrFromAddrPort(remote)
	}
	return e
}

// addrPortOf converts a net.Addr to a netip.AddrPort.
func addrPortOf(a net.Addr) (netip.AddrPort, error) {
	switch a := a.(type) {
	case *net.UDPAddr:
		if a == nil {
			return netip.AddrPort{}, ErrInvalidAddr
		}
		return a.AddrPort(), nil
	case nil:
		return netip.AddrPort{}, ErrInvalidAddr
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %w", ErrInvalidAddr, err)
	}
	return ap, nil
}
