package tracker

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-sync/shoal/dht/bencode"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Interval is the announce interval the tracker asks for; a peer not
	// heard from for twice it is forgotten. Default 2 minutes.
	Interval time.Duration
	// MaxPeers bounds the peers one answer carries. Default 50.
	MaxPeers int
	// MaxSwarm bounds the peers kept for one key (default 1,000) and
	// MaxKeys the keys kept (default 100,000): past them an announce is
	// answered but not recorded, so that announces of made-up keys and
	// ports cannot fill the tracker's memory.
	MaxSwarm, MaxKeys int
	Logger            *slog.Logger
}

// Server is a small tracker of both protocols.
type Server struct {
	opt    ServerOptions
	log    *slog.Logger
	secret [32]byte // keys BEP 15 connection IDs

	mu      sync.Mutex
	swarms  map[[20]byte]map[netip.AddrPort]time.Time // when each peer expires
	swept   time.Time                                 // when every swarm was last swept
	refused int                                       // announces not recorded (full)
}

// NewServer returns a Server with no peers.
func NewServer(opt ServerOptions) *Server {
	if opt.Interval <= 0 {
		opt.Interval = 2 * time.Minute
	}
	if opt.MaxPeers <= 0 {
		opt.MaxPeers = 50
	}
	if opt.MaxSwarm <= 0 {
		opt.MaxSwarm = 1000
	}
	if opt.MaxKeys <= 0 {
		opt.MaxKeys = 100000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opt: opt, log: opt.Logger, swarms: make(map[[20]byte]map[netip.AddrPort]time.Time)}
	rand.Read(s.secret[:])
	return s
}

// announce records peer in the swarm of key (or removes it, stopped) and
// returns up to MaxPeers others.
func (s *Server) announce(now time.Time, key [20]byte, peer netip.AddrPort, ev Event) []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) >= s.opt.Interval {
		s.sweep(now) // keys nobody announces again go too
	}
	sw := s.swarms[key]
	if sw == nil && ev != EventStopped && len(s.swarms) < s.opt.MaxKeys {
		sw = make(map[netip.AddrPort]time.Time)
		s.swarms[key] = sw
	}
	_, known := sw[peer]
	switch {
	case ev == EventStopped:
		delete(sw, peer)
	case sw == nil || !known && len(sw) >= s.opt.MaxSwarm:
		if s.refused++; s.refused%1000 == 1 {
			s.log.Warn("tracker full: announces answered but not recorded", "keys", len(s.swarms), "refused so far", s.refused)
		}
	default:
		sw[peer] = now.Add(2 * s.opt.Interval)
	}
	if known {
		s.log.Debug("announce", "key", fmt.Sprintf("%x", key[:4]), "peer", peer, "event", ev)
	} else {
		s.log.Info("announce", "key", fmt.Sprintf("%x", key[:4]), "peer", peer, "event", ev)
	}
	var out []netip.AddrPort
	for p, until := range sw {
		if now.After(until) {
			delete(sw, p)
			continue
		}
		if p != peer && len(out) < s.opt.MaxPeers {
			out = append(out, p)
		}
	}
	if sw != nil && len(sw) == 0 {
		delete(s.swarms, key)
	}
	return out
}

// sweep forgets the peers whose announces ran out, and the keys left
// with none.
func (s *Server) sweep(now time.Time) {
	s.swept = now
	for k, sw := range s.swarms {
		for p, until := range sw {
			if now.After(until) {
				delete(sw, p)
			}
		}
		if len(sw) == 0 {
			delete(s.swarms, k)
		}
	}
}

// Keys returns how many keys the tracker knows.
func (s *Server) Keys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.swarms)
}

// Peers returns how many peers the tracker knows for key.
func (s *Server) Peers(key [20]byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.swarms[key])
}

// connID is the BEP 15 connection ID of addr's host in the given minute
// (not of its port: a client may send from a new socket).
func (s *Server) connID(addr netip.AddrPort, minute int64) uint64 {
	m := hmac.New(sha256.New, s.secret[:])
	b, _ := addr.Addr().MarshalBinary()
	m.Write(b)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(minute)))
	return binary.BigEndian.Uint64(m.Sum(nil))
}

// ServeUDP answers BEP 15 on pc until ctx ends.
func (s *Server) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tracker: read: %w", err)
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		addr := ua.AddrPort()
		addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
		if resp := s.handleUDP(time.Now(), buf[:n], addr); resp != nil {
			pc.WriteTo(resp, from)
		}
	}
}

// UDPRequest is a decoded BEP 15 request.
type UDPRequest struct {
	Conn   uint64
	Action uint32
	Tx     uint32
	Req    Request
}

// ParseUDPRequest reads a BEP 15 connect or announce request.
func ParseUDPRequest(b []byte) (UDPRequest, error) {
	if len(b) < 16 {
		return UDPRequest{}, fmt.Errorf("%w: %d-byte request", ErrMalformed, len(b))
	}
	u := UDPRequest{Conn: binary.BigEndian.Uint64(b), Action: binary.BigEndian.Uint32(b[8:]), Tx: binary.BigEndian.Uint32(b[12:])}
	switch u.Action {
	case actionConnect:
		if u.Conn != udpMagic {
			return UDPRequest{}, fmt.Errorf("%w: connect without the protocol id", ErrMalformed)
		}
	case actionAnnounce:
		if len(b) < 98 {
			return UDPRequest{}, fmt.Errorf("%w: %d-byte announce", ErrMalformed, len(b))
		}
		copy(u.Req.InfoHash[:], b[16:36])
		copy(u.Req.PeerID[:], b[36:56])
		u.Req.Left = int64(binary.BigEndian.Uint64(b[64:]))
		u.Req.Event = Event(binary.BigEndian.Uint32(b[80:]))
		u.Req.NumWant = int32(binary.BigEndian.Uint32(b[92:]))
		u.Req.Port = binary.BigEndian.Uint16(b[96:])
	default:
		return UDPRequest{}, fmt.Errorf("%w: action %d", ErrMalformed, u.Action)
	}
	return u, nil
}

func udpError(tx uint32, msg string) []byte {
	b := binary.BigEndian.AppendUint32(nil, actionError)
	b = binary.BigEndian.AppendUint32(b, tx)
	return append(b, msg...)
}

func (s *Server) handleUDP(now time.Time, b []byte, from netip.AddrPort) []byte {
	u, err := ParseUDPRequest(b)
	if err != nil {
		s.log.Debug("tracker: bad UDP request", "from", from, "err", err)
		return nil
	}
	minute := now.Unix() / 60
	if u.Action == actionConnect {
		out := binary.BigEndian.AppendUint32(nil, actionConnect)
		out = binary.BigEndian.AppendUint32(out, u.Tx)
		return binary.BigEndian.AppendUint64(out, s.connID(from, minute))
	}
	if u.Conn != s.connID(from, minute) && u.Conn != s.connID(from, minute-1) {
		return udpError(u.Tx, "unknown connection id")
	}
	if u.Req.Port == 0 {
		return udpError(u.Tx, "port 0")
	}
	peers := s.announce(now, u.Req.InfoHash, netip.AddrPortFrom(from.Addr(), u.Req.Port), u.Req.Event)
	out := binary.BigEndian.AppendUint32(nil, actionAnnounce)
	out = binary.BigEndian.AppendUint32(out, u.Tx)
	out = binary.BigEndian.AppendUint32(out, uint32(s.opt.Interval/time.Second))
	out = binary.BigEndian.AppendUint32(out, 0)                  // leechers
	out = binary.BigEndian.AppendUint32(out, uint32(len(peers))) // seeders
	return appendCompact(out, peers, !from.Addr().Is4())
}

// ServeHTTP answers BEP 3 announces at /announce.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/announce" {
		http.NotFound(w, r)
		return
	}
	fail := func(msg string) {
		b, _ := bencode.Encode(map[string]any{"failure reason": msg})
		w.Write(b)
	}
	q := r.URL.Query()
	ih := q.Get("info_hash")
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	if len(ih) != 20 || err != nil || port == 0 {
		fail("want info_hash (20 bytes) and port")
		return
	}
	host, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		fail("unknown remote address")
		return
	}
	ev := EventNone
	switch q.Get("event") {
	case "started":
		ev = EventStarted
	case "stopped":
		ev = EventStopped
	case "completed":
		ev = EventCompleted
	}
	var key [20]byte
	copy(key[:], ih)
	peers := s.announce(time.Now(), key, netip.AddrPortFrom(host.Addr().Unmap(), uint16(port)), ev)
	b, err := bencode.Encode(map[string]any{
		"interval": int64(s.opt.Interval / time.Second),
		"peers":    appendCompact([]byte{}, peers, false),
		"peers6":   appendCompact([]byte{}, peers, true),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b)
}

// ListenAndServe serves both protocols on addr (UDP and TCP, one port)
// until ctx ends; ready, if set, gets the bound addresses first.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(udp, tcp net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("tracker: listen: %w", err)
	}
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
	if err != nil {
		ln.Close()
		return fmt.Errorf("tracker: listen: %w", err)
	}
	if ready != nil {
		ready(pc.LocalAddr(), ln.Addr())
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- s.ServeUDP(ctx, pc) }()
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	pc.Close()
	hs.Close()
	return first
}
