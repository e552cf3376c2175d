package dht

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-sync/shoal/dht/krpc"
	"github.com/shoal-sync/shoal/dht/lookup"
	"github.com/shoal-sync/shoal/dht/nodeid"
	"github.com/shoal-sync/shoal/dht/routing"
)

// Server is one DHT node. Create it with New, run it with Serve, and call
// the lookup methods (which need Serve running) from any goroutine.
type Server struct {
	cfg  Config
	conn net.PacketConn
	id   nodeid.ID
	log  *slog.Logger

	life   context.Context // ends on Close or when Serve returns
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines (eviction pings, refresh)

	mu      sync.Mutex // guards everything below
	table   *routing.Table
	pending map[string]*call
	nextT   uint32
	tokens  tokens
	peers   peerStore
	items   itemStore
	limiter limiter
	votes   []ipVotes                     // BEP 42 "ip" seen: our IP and who reported it
	rtts    map[netip.AddrPort]lookup.RTT // round trips of recent contacts, at most maxRTTs
	rttAll  lookup.RTT                    // round trips of every contact

	stats struct {
		in, dropped, malformed, limited, queries, sent atomic.Int64
	}
	pingSem   chan struct{} // bounds concurrent table pings
	closeOnce sync.Once
	bgMu      sync.Mutex  // orders goBackground and the maintenance timer against Close
	closed    bool        // guarded by bgMu
	maintT    *time.Timer // the next maintenance run; guarded by bgMu
	lastSave  time.Time   // used by maintenance runs only, one at a time
}

// ipVotes is one address that nodes report seeing this node at.
type ipVotes struct {
	ip        netip.Addr
	reporters []netip.AddrPort
}

// maxTablePings bounds the eviction and verification pings in flight.
const maxTablePings = 64

// maxRTTs bounds the contacts whose round-trip times are remembered.
const maxRTTs = 128

type call struct {
	addr netip.AddrPort
	ch   chan *krpc.Msg
}

// Stats are a server's packet counters.
type Stats struct {
	PacketsIn   int64 // datagrams read
	Dropped     int64 // from unusable addresses or unmatched responses
	Malformed   int64 // that failed to decode
	RateLimited int64 // dropped by the per-source rate limit
	Queries     int64 // queries answered
	PacketsOut  int64 // datagrams sent
}

// New returns a server on cfg.Conn. It sends nothing until Serve runs.
func New(cfg Config) (*Server, error) {
	if cfg.Conn == nil {
		return nil, errors.New("dht: Config.Conn is required")
	}
	cfg = cfg.withDefaults()
	id := cfg.ID
	if id == ([20]byte{}) {
		if cfg.ExternalIP.IsValid() && !nodeid.Exempt(cfg.ExternalIP) {
			r := nodeid.Random()
			id = nodeid.Secure(cfg.ExternalIP, r[0])
		} else {
			id = nodeid.Random()
		}
	}
	now := time.Now()
	s := &Server{
		cfg:     cfg,
		conn:    cfg.Conn,
		id:      id,
		log:     cfg.Logger.With("dht", nodeid.String(id)[:8]),
		table:   routing.New(id, cfg.K, now),
		pending: map[string]*call{},
		tokens:  newTokens(cfg.TokenRotation, now),
		peers:   peerStore{m: map[nodeid.ID]map[netip.AddrPort]time.Time{}},
		items:   itemStore{m: map[nodeid.ID]storedItem{}},
		limiter: limiter{rate: cfg.RateLimit},
		pingSem: make(chan struct{}, maxTablePings),
	}
	s.life, s.cancel = context.WithCancel(context.Background())
	if cfg.Store != nil {
		nodes, err := cfg.Store.LoadNodes()
		if err != nil {
			s.log.Warn("load routing table", "err", err)
		}
		for _, n := range nodes {
			if s.usable(n.Addr) {
				// Questionable until they answer again: as if heard long ago.
				s.table.Heard(n, s.conforms(n), true, now.Add(-routing.GoodFor))
			}
		}
	}
	return s, nil
}

// ID returns the node ID.
func (s *Server) ID() [20]byte { return s.id }

// Addr returns the socket's local address.
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// Stats returns the packet counters.
func (s *Server) Stats() Stats {
	return Stats{
		PacketsIn: s.stats.in.Load(), Dropped: s.stats.dropped.Load(),
		Malformed: s.stats.malformed.Load(), RateLimited: s.stats.limited.Load(),
		Queries: s.stats.queries.Load(), PacketsOut: s.stats.sent.Load(),
	}
}

// Close stops the server and closes its socket, saving the table when a
// Store is configured.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.bgMu.Lock()
		s.closed = true
		if s.maintT != nil {
			s.maintT.Stop()
		}
		s.bgMu.Unlock()
		s.cancel()
		s.save()
		err = s.conn.Close()
	})
	return err
}

// Serve reads and answers packets and runs maintenance (token rotation,
// expiry, bucket refresh, table saving) until ctx ends or Close is called.
// It closes the server before returning, and returns ctx's error, nil
// after Close, or the socket's read error.
func (s *Server) Serve(ctx context.Context) error {
	// No goroutine waits for ctx or for the maintenance period: a server
	// that idles costs its reading goroutine only (issue 15: 100,000
	// simulated nodes in one process).
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	s.lastSave = time.Now()
	s.armMaintain()
	err := s.readLoop()
	s.Close()
	s.wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// maxPacket bounds the datagrams read: KRPC messages, BEP 44 items with
// their 1000-byte values included, fit well within it, and a larger
// datagram arrives truncated and fails to decode.
const maxPacket = 4096

// packetReader is a PacketConn that hands over each datagram's own bytes,
// as simnet's conns do, so that an idle server holds no read buffer.
type packetReader interface {
	ReadPacket() ([]byte, net.Addr, error)
}

func (s *Server) readLoop() error {
	pr, zeroCopy := s.conn.(packetReader)
	var buf []byte
	if !zeroCopy {
		buf = make([]byte, maxPacket)
	}
	for {
		var (
			pkt  []byte
			from net.Addr
			err  error
		)
		if zeroCopy {
			pkt, from, err = pr.ReadPacket()
			pkt = pkt[:min(len(pkt), maxPacket)] // as a maxPacket buffer truncates
		} else {
			var n int
			n, from, err = s.conn.ReadFrom(buf)
			pkt = buf[:n]
		}
		if err != nil {
			if s.life.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("dht: read: %w", err)
		}
		s.stats.in.Add(1)
		addr, ok := addrPortOf(from)
		if !ok || !s.usable(addr) {
			s.stats.dropped.Add(1)
			continue
		}
		s.mu.Lock()
		allowed := s.limiter.allow(addr, time.Now())
		s.mu.Unlock()
		if !allowed {
			s.stats.limited.Add(1)
			continue
		}
		s.handlePacket(pkt, addr)
	}
}

func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	if u, ok := a.(*net.UDPAddr); ok {
		ap = u.AddrPort()
	} else if a != nil {
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return ap, false
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}

// usable reports whether the DHT may talk to a: never port 0 or an
// unspecified or multicast address, and with Public only global unicast.
func (s *Server) usable(a netip.AddrPort) bool {
	ip := a.Addr().Unmap()
	if a.Port() == 0 || !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
		return false
	}
	if s.cfg.Public {
		return ip.IsGlobalUnicast() && !ip.IsPrivate() && !nodeid.IsReserved(ip)
	}
	return true
}

func (s *Server) conforms(n NodeInfo) bool { return nodeid.Conforms(n.ID, n.Addr.Addr()) }

func (s *Server) handlePacket(b []byte, from netip.AddrPort) {
	m, err := krpc.Decode(b)
	if err != nil {
		s.stats.malformed.Add(1)
		if m != nil && m.Y == "q" {
			s.sendError(from, m.T, krpc.CodeProtocol, "malformed query")
		}
		return
	}
	switch m.Y {
	case "q":
		if s.cfg.ReadOnly {
			s.stats.dropped.Add(1)
			return
		}
		s.handleQuery(m, from)
	case "r", "e":
		s.mu.Lock()
		c, ok := s.pending[m.T]
		if ok && c.addr == from {
			delete(s.pending, m.T)
		}
		s.mu.Unlock()
		if !ok || c.addr != from {
			s.stats.dropped.Add(1)
			return
		}
		c.ch <- m
	}
}

func (s *Server) send(to netip.AddrPort, m *krpc.Msg) error {
	m.V = s.cfg.Version
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("dht: encode %s to %s: %w", m.Y, to, err)
	}
	if _, err := s.conn.WriteTo(b, s.cfg.WriteAddr(to)); err != nil {
		return fmt.Errorf("dht: send to %s: %w", to, err)
	}
	s.stats.sent.Add(1)
	return nil
}

func (s *Server) sendError(to netip.AddrPort, t string, code int, msg string) {
	s.send(to, &krpc.Msg{T: t, Y: "e", E: &krpc.Error{Code: code, Msg: msg}})
}

// query sends method q with args to n and waits QueryTimeout for the
// answer. n.ID may be zero when unknown. The routing table learns of the
// outcome.
func (s *Server) query(ctx context.Context, n NodeInfo, q string, args *krpc.Args) (*krpc.Msg, error) {
	return s.queryWait(ctx, n, q, args, s.cfg.QueryTimeout)
}

// queryWait is query waiting up to wait for the answer.
func (s *Server) queryWait(ctx context.Context, n NodeInfo, q string, args *krpc.Args, wait time.Duration) (*krpc.Msg, error) {
	if !s.usable(n.Addr) {
		return nil, fmt.Errorf("%w: %s", ErrAddress, n.Addr)
	}
	args.ID = s.id
	n.Addr = netip.AddrPortFrom(n.Addr.Addr().Unmap(), n.Addr.Port())
	c := &call{addr: n.Addr, ch: make(chan *krpc.Msg, 1)}
	s.mu.Lock()
	s.nextT++
	t := string(binary.BigEndian.AppendUint32(nil, s.nextT))
	s.pending[t] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, t)
		s.mu.Unlock()
	}()
	sent := time.Now()
	if err := s.send(n.Addr, &krpc.Msg{T: t, Y: "q", Q: q, A: args, RO: s.cfg.ReadOnly}); err != nil {
		s.failed(n)
		return nil, err
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case m := <-c.ch:
		s.noteRTT(n.Addr, time.Since(sent))
		if m.E != nil {
			// An error answer still shows the node is alive, but it carries no ID.
			return nil, fmt.Errorf("dht: %s to %s: %w", q, n.Addr, m.E)
		}
		s.heard(NodeInfo{ID: m.R.ID, Addr: n.Addr}, true, m.RO)
		if m.IP.IsValid() {
			reporter := n.Addr
			if s.cfg.Public { // one vote per host on the internet
				reporter = netip.AddrPortFrom(reporter.Addr(), 0)
			}
			s.vote(m.IP.Addr().Unmap(), reporter)
		}
		if n.ID != ([20]byte{}) && n.ID != m.R.ID {
			s.failed(n)
		}
		return m, nil
	case <-timer.C:
		s.failed(n)
		return nil, fmt.Errorf("dht: %s to %s: %w", q, n.Addr, ErrTimeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("dht: %s to %s: %w", q, n.Addr, ctx.Err())
	case <-s.life.Done():
		return nil, ErrClosed
	}
}

// noteRTT adds a round-trip sample for addr; when the memory is full a
// random contact's estimate makes room.
func (s *Server) noteRTT(addr netip.AddrPort, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rtts[addr]
	if !ok {
		if s.rtts == nil {
			s.rtts = make(map[netip.AddrPort]lookup.RTT)
		}
		if len(s.rtts) >= maxRTTs {
			for a := range s.rtts {
				delete(s.rtts, a)
				break
			}
		}
	}
	s.rtts[addr] = r.Add(d)
	s.rttAll = s.rttAll.Add(d)
}

// queryTimeout is how long a lookup's query to addr waits before it counts
// as timed out (Config.LookupTimeouts).
func (s *Server) queryTimeout(addr netip.AddrPort) lookup.Timing {
	s.mu.Lock()
	r, all := s.rtts[addr], s.rttAll
	s.mu.Unlock()
	return s.cfg.LookupTimeouts.Timing(r, all)
}

func (s *Server) failed(n NodeInfo) {
	if n.ID == ([20]byte{}) {
		return
	}
	s.mu.Lock()
	s.table.Failed(n.ID, time.Now())
	s.mu.Unlock()
}

// heard updates the table with a message from n and carries out any ping
// the table asks for.
func (s *Server) heard(n NodeInfo, responded, readOnly bool) {
	if readOnly || n.ID == s.id || !s.usable(n.Addr) {
		return
	}
	s.mu.Lock()
	act := s.table.Heard(n, s.conforms(n), responded, time.Now())
	s.mu.Unlock()
	if !act.Ping.Addr.IsValid() {
		return
	}
	if !responded && act.Ping.ID == n.ID && s.cfg.VerifyDelay > 0 {
		// A newcomer that only queried us: verified once its NAT, if
		// any, has forgotten it (Config.VerifyDelay).
		time.AfterFunc(s.cfg.VerifyDelay, func() { s.ping(act.Ping) })
		return
	}
	s.ping(act.Ping)
}

// ping carries out a ping the routing table asked for, in the background,
// and tells the table how it went.
func (s *Server) ping(n NodeInfo) {
	act := routing.Action{Ping: n}
	select {
	case s.pingSem <- struct{}{}:
	default:
		// Too many pings under way (a flood of newcomers): count it as
		// unanswered rather than queue without bound.
		s.failed(act.Ping)
		return
	}
	if !s.goBackground(func(ctx context.Context) {
		defer func() { <-s.pingSem }()
		// BEP 5: try once more before discarding the node.
		for range routing.BadFailures {
			if _, err := s.query(ctx, act.Ping, krpc.Ping, &krpc.Args{}); err == nil || ctx.Err() != nil {
				return
			}
		}
	}) {
		<-s.pingSem
	}
}

// goBackground runs f in a goroutine that ends with the server; it
// reports false if the server is closed and f will not run.
func (s *Server) goBackground(f func(ctx context.Context)) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.life)
	}()
	return true
}

// maxVoteIPs bounds the addresses and maxVoters the reporters per address
// remembered for ExternalIP.
const maxVoteIPs, maxVoters = 16, 16

func (s *Server) vote(ip netip.Addr, reporter netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.votes, func(v ipVotes) bool { return v.ip == ip })
	if i < 0 {
		if len(s.votes) >= maxVoteIPs {
			return
		}
		s.votes = append(s.votes, ipVotes{ip: ip})
		i = len(s.votes) - 1
	}
	v := &s.votes[i]
	if len(v.reporters) < maxVoters && !slices.Contains(v.reporters, reporter) {
		v.reporters = append(v.reporters, reporter)
	}
}

// ExternalIP returns the address that most of the nodes that answered
// report seeing this node at (BEP 42 "ip"), once at least two distinct
// nodes agree. Use it as Config.ExternalIP of the next run to get a BEP 42
// node ID.
func (s *Server) ExternalIP() (netip.Addr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best netip.Addr
	n := 0
	for _, v := range s.votes {
		if r := len(v.reporters); r > n || r == n && v.ip.Less(best) {
			best, n = v.ip, r
		}
	}
	return best, n >= 2
}
