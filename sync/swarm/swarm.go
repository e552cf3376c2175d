package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/shoal-sync/shoal/store"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm/strategy"
	"github.com/shoal-sync/shoal/sync/transport"
	"github.com/shoal-sync/shoal/sync/wire"
)

// Sentinel errors callers branch on.
var (
	// ErrClosed is returned by calls on a closed Swarm.
	ErrClosed = errors.New("swarm closed")
	// ErrDuplicatePeer is returned by AddConn for a peer already connected.
	ErrDuplicatePeer = errors.New("peer already connected")
	// ErrTooManyPeers is returned by AddConn when twice Options.Conns.High
	// peers are connected: past High idle peers are let go, and the rest
	// are refused.
	ErrTooManyPeers = errors.New("too many peers connected")
)

// Options configures a Swarm. Store is required; every other zero value is
// a useful default.
type Options struct {
	// Store holds the blocks served and is where fetches look first.
	Store store.Store
	// Policy decides which blocks may be served to whom. Default: blocks
	// reachable from pins (PinPolicy), or everything with ServeAll.
	Policy Policy
	// ServeAll serves every block in the store to anyone (when Policy is nil).
	ServeAll bool
	// MaxUploadRate and MaxDownloadRate cap block payload bytes per second
	// across all peers; 0 means unlimited.
	MaxUploadRate, MaxDownloadRate int64
	// Picker and Choker tune the decisions (see sync/swarm/strategy).
	Picker strategy.PickerConfig
	Choker strategy.ChokerConfig
	// MaxQueued bounds the bytes delivered to fetches and not yet taken by
	// their sinks; while over it no new requests are sent. Default 16 MiB.
	MaxQueued int64
	// Self, ListenAddrs and Version go into the Hello sent on every connection.
	Self        identity.NodeID
	ListenAddrs []string
	Version     string
	// BanDuration is how long a peer dropped for sending bad blocks is
	// refused (AddConn returns ErrBanned). Default DefaultBanDuration;
	// negative: not at all.
	BanDuration time.Duration
	// BanStore, if set, keeps bans across restarts.
	BanStore BanStore
	// Conns bounds the peers kept connected (see strategy.ConnLimits).
	Conns strategy.ConnLimits
	// Extensions are protocols carried on the same connections (folder
	// sync), see Extension.
	Extensions []Extension
	// Logger receives the swarm's logs. Default: discarded.
	Logger *slog.Logger
}

// Stats are swarm-wide payload counters.
type Stats struct {
	BytesIn, BytesOut   int64 // block payload received and sent
	BlocksIn, BlocksOut int64 // blocks received and sent
	DupBytes            int64 // good blocks received that were no longer wanted (endgame, races)
	BadBlocks           int64 // blocks whose bytes did not match their CID
	Banned              int   // peers refused now for having sent bad blocks
}

// PeerStats describes one connected peer, for `shoal peers`.
type PeerStats struct {
	ID                  identity.NodeID
	Addr                string
	Outbound            bool
	Connected           time.Time
	BytesIn, BytesOut   int64 // block payload bytes
	BlocksIn, BlocksOut int64
	AmChoking           bool     // we do not upload to it
	AmInterested        bool     // it has blocks we want
	PeerChoking         bool     // it does not upload to us
	PeerInterested      bool     // it wants blocks from us
	Strikes             int      // bad blocks it sent
	Client              string   // client and version from its Hello
	ListenAddrs         []string // addresses it says it accepts on (unverified)
}

// Swarm exchanges blocks with a set of connected peers. Create it with
// New, hand it connections with AddConn, fetch blocks with NewSession or
// FetchBlocks (a whole DAG: sync/swarm/walk).
type Swarm struct {
	opt       Options
	policy    Policy
	log       *slog.Logger
	upLimit   *Limiter
	downLimit *Limiter

	ctx      context.Context
	cancel   context.CancelFunc
	events   chan event
	servable chan struct{} // ServableChanged wakes the owner
	refilter chan struct{} // PeersChanged wakes the owner
	wg       sync.WaitGroup

	bans                                   banList
	protMu                                 sync.Mutex
	protected                              map[identity.NodeID]bool // kept however many peers there are
	npeers                                 atomic.Int32             // connected, as the owner last counted
	seeders                                seeders                  // sinks of running fetches that serve what they took
	uploads                                uploadCounts
	bufs                                   bufPool  // blocks read for sending
	recvBufs                               recvPool // blocks received
	bytesIn, bytesOut, dupBytes, badBlocks atomic.Int64
	blocksIn, blocksOut                    atomic.Int64
	peerSubs                               peerHub // SubscribePeers
}

// New starts a Swarm on opt.Store.
func New(opt Options) (*Swarm, error) {
	if opt.Store == nil {
		return nil, errors.New("swarm: Options.Store is required")
	}
	if opt.MaxQueued <= 0 {
		opt.MaxQueued = 16 << 20
	}
	if opt.BanDuration == 0 {
		opt.BanDuration = DefaultBanDuration
	}
	opt.Conns = opt.Conns.WithDefaults()
	// Nodes must not share random choices (which blocks among the rarest,
	// whom to unchoke among equals): seed each swarm differently.
	if opt.Picker.Seed == 0 {
		opt.Picker.Seed = rand.Uint64()
	}
	if opt.Choker.Seed == 0 {
		opt.Choker.Seed = rand.Uint64()
	}
	s := &Swarm{
		opt:       opt,
		policy:    opt.Policy,
		log:       opt.Logger,
		upLimit:   NewLimiter(opt.MaxUploadRate),
		downLimit: NewLimiter(opt.MaxDownloadRate),
		events:    make(chan event, 256),
		servable:  make(chan struct{}, 1),
		refilter:  make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.policy == nil {
		if opt.ServeAll {
			s.policy = ServeAll{}
		} else {
			s.policy = &PinPolicy{Store: opt.Store}
		}
	}
	s.bans.changed = make(chan struct{}, 1)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.loadBans()
	if opt.BanStore != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.saveBans()
		}()
	}
	o := newOwner(s)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		o.run()
	}()
	return s, nil
}

// Close disconnects every peer, ends running fetches with ErrClosed and
// waits for the swarm's goroutines.
func (s *Swarm) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// ServableChanged tells the swarm that its Policy may serve more than
// before: peers that asked for blocks it could not serve then are sent
// have for those it serves now. Pin changes of the store are followed
// without it; a Policy with other inputs (a folder's key proved) calls it.
func (s *Swarm) ServableChanged() {
	select {
	case s.servable <- struct{}{}:
	default:
	}
}

// PeersChanged tells the swarm that a running fetch's FetchOptions.Peers
// may admit other peers than before (a peer proved a folder, or stopped
// sharing it): it asks the filters again now rather than at its next tick.
func (s *Swarm) PeersChanged() {
	select {
	case s.refilter <- struct{}{}:
	default:
	}
}

// Protect keeps peer id connected however many peers there are (a peer
// the user named, as with --peer).
func (s *Swarm) Protect(id identity.NodeID) {
	s.protMu.Lock()
	defer s.protMu.Unlock()
	if s.protected == nil {
		s.protected = make(map[identity.NodeID]bool)
	}
	s.protected[id] = true
}

func (s *Swarm) isProtected(id identity.NodeID) bool {
	s.protMu.Lock()
	defer s.protMu.Unlock()
	return s.protected[id]
}

// send passes ev to the owner goroutine.
func (s *Swarm) send(ctx context.Context, ev event) bool {
	select {
	case s.events <- ev:
		return true
	case <-ctx.Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

// AddConn exchanges hellos on an authenticated connection, then runs the
// swarm protocol on it until it fails or the swarm closes; it returns once
// the hellos are through. The swarm owns and closes conn, also on error.
func (s *Swarm) AddConn(conn *transport.Conn) error {
	l := newWireLink(conn, &s.recvBufs)
	if until, ok := s.BannedUntil(conn.RemoteID()); ok {
		l.refuse(wire.Error{Code: wire.CodeRefused, Message: "banned until " + until.UTC().Format(time.RFC3339) + " for sending bad blocks"})
		conn.Close()
		return fmt.Errorf("%s: %w", conn, ErrBanned)
	}
	if n := int(s.npeers.Load()); n >= 2*s.opt.Conns.High && !s.isProtected(conn.RemoteID()) {
		l.refuse(wire.Error{Code: wire.CodeRefused, Message: "too many peers"})
		conn.Close()
		return fmt.Errorf("%s: %w (%d)", conn, ErrTooManyPeers, n)
	}
	h, err := l.hello(wire.NewHello(s.selfBytes(), "shoal", s.opt.Version, s.opt.ListenAddrs))
	if err != nil {
		conn.Close()
		return fmt.Errorf("hello with %s: %w", conn, err)
	}
	client := h.Client
	if h.ClientVersion != "" {
		client += " " + h.ClientVersion
	}
	return s.addPeer(&peer{
		id:          conn.RemoteID(),
		addr:        conn.RemoteAddr().String(),
		outbound:    conn.Outbound(),
		connected:   time.Now(),
		link:        l,
		client:      client,
		minor:       h.Minor,
		listenAddrs: h.ListenAddrs,
		exporter:    conn.Exporter(),
	})
}

func (s *Swarm) addPeer(p *peer) error {
	p.out = newOutq()
	p.done = make(chan struct{})
	p.failed = make(chan error, 1)
	p.amChoking.Store(true)
	p.peerChoking.Store(true)
	reply := make(chan error, 1)
	if !s.send(s.ctx, event{kind: evAddPeer, peer: p, reply: reply}) {
		p.link.close()
		return ErrClosed
	}
	select {
	case err := <-reply:
		if err != nil {
			p.link.close()
			return err
		}
	case <-s.ctx.Done(): // the owner may have stopped before taking it
		p.link.close()
		return ErrClosed
	}
	p.ext = &Conn{p: p, exporter: p.exporter}
	for _, e := range s.opt.Extensions {
		e.Connected(p.ext)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runPeer(p)
	}()
	return nil
}

// runPeer runs p's reader and writer until either stops, then removes p.
// A peer that breaks the protocol is told why (an Error frame) first.
func (s *Swarm) runPeer(p *peer) {
	ctx, cancel := context.WithCancel(s.ctx)
	rerr, werr := make(chan error, 1), make(chan error, 1)
	go func() { rerr <- s.reader(ctx, p) }()
	go func() { werr <- s.writer(ctx, p) }()
	var err error
	reading := rerr // the reader, until it has stopped
	select {
	case err = <-rerr:
		reading = nil
		tellWhy(p, err, werr)
	case err = <-p.failed: // an extension's own goroutine (Conn.Fail)
		tellWhy(p, err, werr)
	case err = <-werr:
	}
	cancel()
	p.link.close()
	p.out.close()
	if reading != nil {
		<-reading
	}
	close(p.done)
	for _, e := range s.opt.Extensions {
		e.Disconnected(p.ext)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Info("peer disconnected", "peer", p.id.Short(), "err", err)
	}
	s.send(context.Background(), event{kind: evRemovePeer, peer: p})
}

// tellWhy sends a peer that broke the protocol (err) an Error frame
// saying so, waiting a moment for the writer to get it out.
func tellWhy(p *peer, err error, werr <-chan error) {
	if !protocolError(err) {
		return
	}
	p.out.push(outItem{m: msg{kind: mError, err: errorFor(err)}})
	select {
	case <-werr:
	case <-time.After(2 * time.Second):
	}
}

// Peers returns the connected peers' states.
func (s *Swarm) Peers() []PeerStats {
	reply := make(chan []*peer, 1)
	if !s.send(s.ctx, event{kind: evPeers, peers: reply}) {
		return nil
	}
	var out []PeerStats
	for _, p := range <-reply {
		out = append(out, PeerStats{
			ID: p.id, Addr: p.addr, Outbound: p.outbound, Connected: p.connected,
			BytesIn: p.bytesIn.Load(), BytesOut: p.bytesOut.Load(),
			BlocksIn: p.blocksIn.Load(), BlocksOut: p.blocksOut.Load(),
			AmChoking: p.amChoking.Load(), AmInterested: p.amInterested.Load(),
			PeerChoking: p.peerChoking.Load(), PeerInterested: p.peerInterested.Load(),
			Strikes: int(p.strikes.Load()),
			Client:  p.client, ListenAddrs: p.listenAddrs,
		})
	}
	return out
}

func (s *Swarm) selfBytes() []byte {
	if s.opt.Self.IsZero() {
		return nil
	}
	return s.opt.Self.Bytes()
}

// protocolError reports whether err means the peer spoke out of protocol.
func protocolError(err error) bool {
	return errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge) || errors.Is(err, wire.ErrUnknownType) ||
		errors.Is(err, errUnasked)
}

// errorFor is the Error frame that tells a peer why we close on err.
func errorFor(err error) wire.Error {
	if errors.Is(err, errUnasked) {
		return wire.Error{Code: wire.CodeRefused, Message: err.Error()}
	}
	return wire.ErrorFor(err)
}

// Stats returns the swarm-wide counters.
func (s *Swarm) Stats() Stats {
	return Stats{BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(),
		BlocksIn: s.blocksIn.Load(), BlocksOut: s.blocksOut.Load(),
		DupBytes: s.dupBytes.Load(), BadBlocks: s.badBlocks.Load(),
		Banned: len(s.Bans())}
}

// event is a message to the owner goroutine.
type event struct {
	kind  evKind
	peer  *peer
	msg   msg
	cids  []cid.Cid
	sizes []int
	data  []byte
	ok    bool
	owned bool // evBlock: data is from recvBufs, and no one else has it
	fetch *fetch
	reply chan error
	peers chan []*peer
	call  func(*owner)
}

type evKind uint8

const (
	evAddPeer     evKind = iota + 1
	evRemovePeer         // reader or writer stopped
	evMsg                // have, dont-have, choke, unchoke, interested, not-interested
	evBlock              // a block arrived (ok: it hashed to its CID)
	evPeerWants          // the peer asked want-have for blocks we lack
	evPeerCancels        // the peer withdrew wants
	evFetchStart
	evWant   // a fetch wants blocks not in the store
	evStored // a fetch's sink took a block
	evFetchEnd
	evPeers
	evAnnounced // a peer's writer sent have for blocks it had asked about
	evCall      // run call on the owner's goroutine (probe.go)
)
