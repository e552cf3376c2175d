package pex

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-sync/shoal/discovery/dialer"
	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/wire"
)

// Dialer takes the addresses learnt (a *dialer.Dialer).
type Dialer interface {
	Add(cands ...dialer.Candidate)
	Remove(src dialer.Source, addr string)
}

// Folders says which folders a peer shares with this node: those both
// proved on their connection. The folder engine implements it.
type Folders interface {
	SharedFolders(peer identity.NodeID) [][]byte
}

// Options configure an Exchange. Self and Dialer are required.
type Options struct {
	Self   identity.NodeID
	Dialer Dialer
	// PublicKeys returns the provider keys of the public roots this node
	// serves or fetches; read again every Rescan and after Kick.
	PublicKeys func(ctx context.Context) ([][20]byte, error)
	// Folders, if set, makes folder scopes.
	Folders Folders
	// Interval is the least time between two deltas to one peer in one
	// scope, and what a peer's allowance refills by one message in.
	// Default one minute (BEP 11).
	Interval time.Duration
	// Rescan is how often PublicKeys is read. Default 5 s.
	Rescan time.Duration
	Logger *slog.Logger
}

// Exchange is peer exchange as a swarm Extension.
type Exchange struct {
	opt     Options
	log     *slog.Logger
	kick    chan struct{}
	changed chan struct{}

	mu    sync.Mutex
	st    *state
	conns map[identity.NodeID]conn
	// learnt and dropped wait for Run to hand them to the dialer: a
	// peer's reader must not wait on the dialer, which serves every
	// source (its folder proof would queue behind).
	learnt  []dialer.Candidate
	dropped []string

	floods, nlearnt atomic.Int64
}

// maxPending bounds the addresses waiting for Run: past it, more are
// dropped (Run hands them on within moments; a flood is capped anyway).
const maxPending = 4096

var _ swarm.Extension = (*Exchange)(nil)

// conn is what the exchange needs of a connection (a *swarm.Conn).
type conn interface {
	ID() identity.NodeID
	Addr() string
	Outbound() bool
	ListenAddrs() []string
	Send(m wire.Message) error
}

// New returns an Exchange; Run keeps it going.
func New(opt Options) *Exchange {
	if opt.Interval <= 0 {
		opt.Interval = time.Minute
	}
	if opt.Rescan <= 0 {
		opt.Rescan = 5 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Exchange{opt: opt, log: opt.Logger, kick: make(chan struct{}, 1), changed: make(chan struct{}, 1),
		st: newState(opt.Self, opt.Interval), conns: make(map[identity.NodeID]conn)}
}

// Handles claims PeerExchange messages.
func (x *Exchange) Handles(t wire.MsgType) bool { return t == wire.TypePeerExchange }

// Connected starts exchanging with c.
func (x *Exchange) Connected(c *swarm.Conn) { x.connected(c) }

func (x *Exchange) connected(c conn) {
	info := peerInfo{ID: c.ID(), Addrs: peerAddrs(c), Loopback: isLoopback(c.Addr())}
	x.mu.Lock()
	x.st.connect(info)
	x.conns[c.ID()] = c
	x.mu.Unlock()
	x.FoldersChanged() // Run sends what is due: many events, one pass
}

// Disconnected forgets c; its peers learn it is gone with the next delta.
func (x *Exchange) Disconnected(c *swarm.Conn) { x.disconnected(c) }

func (x *Exchange) disconnected(c conn) {
	x.mu.Lock()
	if x.conns[c.ID()] == c {
		x.st.disconnect(c.ID())
		delete(x.conns, c.ID())
	}
	x.mu.Unlock()
	x.FoldersChanged()
}

// Handle takes a PeerExchange from c. A flood or a scope not shared is
// ignored and logged, never a reason to drop the peer.
func (x *Exchange) Handle(c *swarm.Conn, m wire.Message) error { return x.handle(c, m) }

func (x *Exchange) handle(c conn, m wire.Message) error {
	pm, ok := m.(wire.PeerExchange)
	if !ok {
		return nil
	}
	x.mu.Lock()
	r := x.st.receive(time.Now(), c.ID(), pm, x.shared())
	x.mu.Unlock()
	if r.Flood {
		if x.floods.Add(1)%100 == 1 {
			x.log.Info("pex: ignored messages over the limit", "peer", c.ID().Short(), "ignored so far", x.floods.Load())
		}
		return nil
	}
	if r.Why != "" {
		x.log.Debug("pex: ignored", "peer", c.ID().Short(), "why", r.Why)
	}
	if len(r.Add) > 0 {
		x.nlearnt.Add(int64(len(r.Add)))
		x.log.Debug("pex: learnt", "from", c.ID().Short(), "addrs", len(r.Add))
	}
	x.mu.Lock()
	x.learnt = append(x.learnt, r.Add[:min(len(r.Add), maxPending-len(x.learnt))]...)
	x.dropped = append(x.dropped, r.Drop[:min(len(r.Drop), maxPending-len(x.dropped))]...)
	x.mu.Unlock()
	x.FoldersChanged() // Run hands them on; a public scope it declared may be due a delta
	return nil
}

// handOn gives the dialer what was learnt since the last call.
func (x *Exchange) handOn() {
	x.mu.Lock()
	add, drop := x.learnt, x.dropped
	x.learnt, x.dropped = nil, nil
	x.mu.Unlock()
	if len(add) > 0 {
		x.opt.Dialer.Add(add...)
	}
	for _, a := range drop {
		x.opt.Dialer.Remove(dialer.PEX, a)
	}
}

// Kick reads the public keys again now.
func (x *Exchange) Kick() {
	select {
	case x.kick <- struct{}{}:
	default:
	}
}

// FoldersChanged says that a peer proved a folder on its connection, or
// stopped sharing one (the folder engine's folder-peer event): the new
// member is told the folder's other peers at once, without waiting. Run
// sends, so that a burst of changes costs one pass.
func (x *Exchange) FoldersChanged() {
	select {
	case x.changed <- struct{}{}:
	default:
	}
}

// Stats are the exchange's counters.
type Stats struct {
	Ignored int64 // messages over a peer's allowance
	Learnt  int64 // addresses handed to the dialer
}

// Stats returns the counters.
func (x *Exchange) Stats() Stats { return Stats{Ignored: x.floods.Load(), Learnt: x.nlearnt.Load()} }

// Run rereads the public keys and sends the deltas due until ctx ends. It
// wakes when told of a change (Kick, FoldersChanged), when the next delta
// to a peer is due, and every Rescan for the public keys; peers
// connecting and their messages are handled as they come.
func (x *Exchange) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var rescanned time.Time
	for {
		wait := time.Hour
		if x.opt.PublicKeys != nil {
			if time.Since(rescanned) >= x.opt.Rescan {
				keys, err := x.opt.PublicKeys(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					x.log.Warn("pex: public keys", "err", err)
				} else {
					x.mu.Lock()
					x.st.setOurs(keys)
					x.mu.Unlock()
				}
				rescanned = time.Now()
			}
			wait = x.opt.Rescan - time.Since(rescanned)
		}
		x.handOn()
		if next := x.flush(); !next.IsZero() {
			wait = min(wait, time.Until(next))
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-x.changed:
		case <-x.kick:
			rescanned = time.Time{}
		}
	}
}

func (x *Exchange) shared() Shared {
	if x.opt.Folders == nil {
		return nil
	}
	f := x.opt.Folders
	return func(peer identity.NodeID, folder []byte) bool {
		for _, id := range f.SharedFolders(peer) {
			if string(id) == string(folder) {
				return true
			}
		}
		return false
	}
}

// flush sends what is due, and returns when the next delta held back by
// the interval is due (zero: none is). Each peer's folders are asked for
// once a pass: the state asks of every pair of peers.
func (x *Exchange) flush() time.Time {
	var shared Shared
	var folders func(identity.NodeID) [][]byte
	if x.opt.Folders != nil {
		x.mu.Lock()
		ids := make([]identity.NodeID, 0, len(x.conns))
		for id := range x.conns {
			ids = append(ids, id)
		}
		x.mu.Unlock()
		of := make(map[identity.NodeID][][]byte, len(ids))
		for _, id := range ids {
			of[id] = x.opt.Folders.SharedFolders(id)
		}
		folders = func(id identity.NodeID) [][]byte { return of[id] }
		shared = func(peer identity.NodeID, folder []byte) bool {
			for _, f := range of[peer] {
				if string(f) == string(folder) {
					return true
				}
			}
			return false
		}
	}
	x.mu.Lock()
	out, next := x.st.flush(time.Now(), shared, folders)
	conns := make([]conn, len(out))
	for i, o := range out {
		conns[i] = x.conns[o.To]
	}
	x.mu.Unlock()
	for i, o := range out {
		if c := conns[i]; c != nil {
			c.Send(o.Msg)
		}
	}
	return next
}

// peerAddrs is where others may reach c's peer: the address dialed, or
// its listen port at the address it came from.
func peerAddrs(c conn) []string {
	if c.Outbound() {
		return []string{c.Addr()}
	}
	return dialer.InboundAddrs(c.Addr(), c.ListenAddrs())
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
