package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// Options bound what a Listener accepts. Zero fields take the defaults.
//
// Handshakes in progress are bounded per IP, per network (an IPv4 /24 or
// an IPv6 /64, what one party usually holds) and in all. When all slots
// are taken, a handshake from a network holding fewer of them than the
// network holding most (by more than one) takes that network's oldest
// slot, so that a few sources of silent connections cannot lock others
// out however many slots they fill.
type Options struct {
	// HandshakeTimeout bounds each inbound TLS handshake (default 5 s).
	HandshakeTimeout time.Duration
	// HelloTimeout bounds the wait for a client's first byte (default 2 s):
	// a peer that means to connect speaks at once.
	HelloTimeout time.Duration
	// MaxHandshakes bounds handshakes in progress across all sources (default 64).
	MaxHandshakes int
	// MaxHandshakesPerIP bounds handshakes in progress from one IP (default 4).
	MaxHandshakesPerIP int
	// MaxHandshakesPerNet bounds handshakes in progress from one /24
	// (IPv4) or /64 (IPv6) (default 16).
	MaxHandshakesPerNet int
	// MaxConnsPerIP bounds established plus handshaking connections from one IP (default 32).
	MaxConnsPerIP int
	// TrustLoopback exempts loopback sources (this machine's own
	// processes: several daemons on one host) from the per-IP and
	// per-network bounds; MaxHandshakes still holds. Without it, a host
	// running more daemons than MaxConnsPerIP cannot connect them all.
	TrustLoopback bool
	// Logger receives refusals and failed handshakes at debug level (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultAcceptTimeout
	}
	if o.HelloTimeout <= 0 {
		o.HelloTimeout = 2 * time.Second
	}
	if o.MaxHandshakesPerNet <= 0 {
		o.MaxHandshakesPerNet = 16
	}
	if o.MaxHandshakes <= 0 {
		o.MaxHandshakes = 64
	}
	if o.MaxHandshakesPerIP <= 0 {
		o.MaxHandshakesPerIP = 4
	}
	if o.MaxConnsPerIP <= 0 {
		o.MaxConnsPerIP = 32
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Listener accepts authenticated peer connections. Handshakes run in their
// own goroutines, so a slow or silent client never holds up Accept.
type Listener struct {
	ln   net.Listener
	cfg  *tls.Config
	opts Options

	ready  chan *Conn
	done   chan struct{}
	ctx    context.Context // cancelled on shutdown
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup
	stop   func() bool // stops watching the caller's context

	mu         sync.Mutex
	handshakes int
	perIP      map[netip.Addr]*ipCount
	perNet     map[netip.Prefix][]*pending // handshakes in progress, oldest first
}

type ipCount struct{ handshakes, conns int }

// DefaultAcceptTimeout bounds an inbound TLS handshake by default.
const DefaultAcceptTimeout = 5 * time.Second

// pending is one handshake in progress.
type pending struct {
	ip      netip.Addr
	net     netip.Prefix
	cancel  context.CancelFunc
	evicted bool // its slot was given to another: settle counts nothing
}

// netOf returns the network an address counts against: its /24 for IPv4,
// its /64 for IPv6.
func netOf(ip netip.Addr) netip.Prefix {
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// Listen listens on addr ("host:port"; port 0 picks a free one) and accepts
// peers that present any valid node certificate except id's own. The
// listener closes when ctx is done or Close is called.
func Listen(ctx context.Context, addr string, id *identity.Identity, opts Options) (*Listener, error) {
	cert, err := certificate(id)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	l := &Listener{
		ln:     ln,
		cfg:    tlsConfig(cert, id.ID(), identity.NodeID{}),
		opts:   opts.withDefaults(),
		ready:  make(chan *Conn),
		done:   make(chan struct{}),
		perIP:  make(map[netip.Addr]*ipCount),
		perNet: make(map[netip.Prefix][]*pending),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.stop = context.AfterFunc(ctx, l.shutdown)
	l.wg.Go(l.acceptLoop)
	return l, nil
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Accept returns the next authenticated connection. It fails with an error
// wrapping net.ErrClosed once the listener is closed.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("accept on %s: %w", l.ln.Addr(), net.ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops listening, aborts handshakes in progress and waits for them.
// Connections already returned by Accept stay open.
func (l *Listener) Close() error {
	l.shutdown()
	l.stop()
	l.wg.Wait()
	return nil
}

func (l *Listener) shutdown() {
	l.once.Do(func() {
		close(l.done)
		l.cancel()
		l.ln.Close()
	})
}

func (l *Listener) acceptLoop() {
	backoff := 5 * time.Millisecond
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry.
			l.opts.Logger.Warn("transport: accept failed", "addr", l.ln.Addr(), "err", err, "retry", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		ip := remoteIP(raw)
		ctx, cancel := context.WithTimeout(l.ctx, l.opts.HandshakeTimeout)
		hs, reason := l.admit(ip, cancel)
		if reason != "" {
			cancel()
			l.opts.Logger.Debug("transport: refused connection", "remote", raw.RemoteAddr(), "reason", reason)
			raw.Close()
			continue
		}
		l.wg.Go(func() { l.handshake(ctx, cancel, raw, hs) })
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// admit counts a new handshake from ip, or says why it is refused. When
// every slot is taken it may take one from the network holding most.
func (l *Listener) admit(ip netip.Addr, cancel context.CancelFunc) (*pending, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.perIP[ip]
	if c == nil {
		c = &ipCount{}
	}
	n := netOf(ip)
	bounded := !l.opts.TrustLoopback || !ip.IsLoopback()
	switch {
	case bounded && c.handshakes >= l.opts.MaxHandshakesPerIP:
		return nil, fmt.Sprintf("%d handshakes in progress from %s", c.handshakes, ip)
	case bounded && len(l.perNet[n]) >= l.opts.MaxHandshakesPerNet:
		return nil, fmt.Sprintf("%d handshakes in progress from %s", len(l.perNet[n]), n)
	case bounded && c.handshakes+c.conns >= l.opts.MaxConnsPerIP:
		return nil, fmt.Sprintf("%d connections from %s", c.handshakes+c.conns, ip)
	case l.handshakes >= l.opts.MaxHandshakes && !l.evictFor(n):
		return nil, fmt.Sprintf("%d handshakes in progress", l.handshakes)
	}
	l.handshakes++
	c.handshakes++
	l.perIP[ip] = c
	hs := &pending{ip: ip, net: n, cancel: cancel}
	l.perNet[n] = append(l.perNet[n], hs)
	return hs, ""
}

// evictFor frees a slot for a handshake from network n by aborting the
// oldest handshake of the network holding most, if that one holds more
// than n would with the new one. It reports whether it freed one.
func (l *Listener) evictFor(n netip.Prefix) bool {
	var worst netip.Prefix
	most := 0
	for p, hs := range l.perNet {
		if len(hs) > most {
			worst, most = p, len(hs)
		}
	}
	if most <= len(l.perNet[n])+1 {
		return false
	}
	victim := l.perNet[worst][0]
	l.forget(victim)
	victim.evicted = true
	victim.cancel()
	l.opts.Logger.Debug("transport: handshake evicted for another network's", "remote", victim.ip, "net", worst, "for", n)
	return true
}

// forget drops hs from the counts.
func (l *Listener) forget(hs *pending) {
	l.handshakes--
	c := l.perIP[hs.ip]
	c.handshakes--
	l.dropIfIdle(hs.ip, c)
	list := l.perNet[hs.net]
	for i, h := range list {
		if h == hs {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(l.perNet, hs.net)
	} else {
		l.perNet[hs.net] = list
	}
}

// settle ends a handshake; established says whether it became a connection.
func (l *Listener) settle(hs *pending, established bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if hs.evicted {
		return false
	}
	l.forget(hs)
	if established {
		c := l.perIP[hs.ip]
		if c == nil {
			c = &ipCount{}
			l.perIP[hs.ip] = c
		}
		c.conns++
	}
	return true
}

func (l *Listener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.perIP[ip]
	c.conns--
	l.dropIfIdle(ip, c)
}

func (l *Listener) dropIfIdle(ip netip.Addr, c *ipCount) {
	if c.handshakes == 0 && c.conns == 0 {
		delete(l.perIP, ip)
	}
}

func (l *Listener) handshake(ctx context.Context, cancel context.CancelFunc, raw net.Conn, hs *pending) {
	// ctx derives from the listener's context: Close aborts the handshake,
	// and so does an eviction.
	defer cancel()
	fr := &firstRead{Conn: raw}
	hello := time.AfterFunc(l.opts.HelloTimeout, func() {
		if !fr.got.Load() {
			cancel()
		}
	})
	defer hello.Stop()
	bc := &batchConn{Conn: fr}
	tc := tls.Server(bc, l.cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		l.settle(hs, false)
		l.opts.Logger.Debug("transport: inbound handshake failed", "remote", raw.RemoteAddr(), "err", err)
		return
	}
	c, err := newConn(tc, bc, false, func() { l.release(hs.ip) })
	if err != nil {
		raw.Close()
		l.settle(hs, false)
		l.opts.Logger.Debug("transport: inbound connection refused", "remote", raw.RemoteAddr(), "err", err)
		return
	}
	if !l.settle(hs, true) {
		c.onClose = nil // evicted just as it finished: it holds no slot
		c.Close()
		return
	}
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

// firstRead notes when the client's first byte arrives.
type firstRead struct {
	net.Conn
	got atomic.Bool
}

func (f *firstRead) Read(p []byte) (int, error) {
	n, err := f.Conn.Read(p)
	if n > 0 {
		f.got.Store(true)
	}
	return n, err
}
