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
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
)

// Options bound what a Listener accepts. Zero fields take the defaults.
type Options struct {
	// HandshakeTimeout bounds each inbound TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds handshakes in progress across all sources (default 64).
	MaxHandshakes int
	// MaxHandshakesPerIP bounds handshakes in progress from one IP (default 4).
	MaxHandshakesPerIP int
	// MaxConnsPerIP bounds established plus handshaking connections from one IP (default 32).
	MaxConnsPerIP int
	// Logger receives refusals and failed handshakes at debug level (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
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
}

type ipCount struct{ handshakes, conns int }

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
		ln:    ln,
		cfg:   tlsConfig(cert, id.ID(), identity.NodeID{}),
		opts:  opts.withDefaults(),
		ready: make(chan *Conn),
		done:  make(chan struct{}),
		perIP: make(map[netip.Addr]*ipCount),
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
		if reason := l.admit(ip); reason != "" {
			l.opts.Logger.Debug("transport: refused connection", "remote", raw.RemoteAddr(), "reason", reason)
			raw.Close()
			continue
		}
		l.wg.Go(func() { l.handshake(raw, ip) })
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// admit counts a new handshake from ip, or says why it is refused.
func (l *Listener) admit(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.perIP[ip]
	if c == nil {
		c = &ipCount{}
	}
	switch {
	case l.handshakes >= l.opts.MaxHandshakes:
		return fmt.Sprintf("%d handshakes in progress", l.handshakes)
	case c.handshakes >= l.opts.MaxHandshakesPerIP:
		return fmt.Sprintf("%d handshakes in progress from %s", c.handshakes, ip)
	case c.handshakes+c.conns >= l.opts.MaxConnsPerIP:
		return fmt.Sprintf("%d connections from %s", c.handshakes+c.conns, ip)
	}
	l.handshakes++
	c.handshakes++
	l.perIP[ip] = c
	return ""
}

// settle ends a handshake from ip; established says whether it became a connection.
func (l *Listener) settle(ip netip.Addr, established bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handshakes--
	c := l.perIP[ip]
	c.handshakes--
	if established {
		c.conns++
	}
	l.dropIfIdle(ip, c)
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

func (l *Listener) handshake(raw net.Conn, ip netip.Addr) {
	// Derived from the listener's context: Close aborts the handshake.
	ctx, cancel := context.WithTimeout(l.ctx, l.opts.HandshakeTimeout)
	defer cancel()
	bc := &batchConn{Conn: raw}
	tc := tls.Server(bc, l.cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		l.settle(ip, false)
		l.opts.Logger.Debug("transport: inbound handshake failed", "remote", raw.RemoteAddr(), "err", err)
		return
	}
	c, err := newConn(tc, bc, false, func() { l.release(ip) })
	if err != nil {
		raw.Close()
		l.settle(ip, false)
		l.opts.Logger.Debug("transport: inbound connection refused", "remote", raw.RemoteAddr(), "err", err)
		return
	}
	l.settle(ip, true)
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}
