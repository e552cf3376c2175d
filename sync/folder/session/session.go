package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-sync/shoal/sync/identity"
	"github.com/shoal-sync/shoal/sync/swarm"
	"github.com/shoal-sync/shoal/sync/wire"
)

// Model is what the session needs of the node's folders.
type Model interface {
	// Keys returns the read-only keys of the folders held.
	Keys() []identity.ROKey
	// Summary returns, per origin device, up to which sequence folder f's records are held.
	Summary(ctx context.Context, f identity.FolderID) ([]wire.Mark, error)
	// Since calls fn with every record of f the peer lacks by theirs and
	// returns the marks the peer may take as complete afterwards.
	Since(ctx context.Context, f identity.FolderID, theirs []wire.Mark, fn func(wire.SignedRecord) error) ([]wire.Mark, error)
	// Records hands over records of f from peer; complete is set on the
	// last message of an answer to our summary.
	Records(ctx context.Context, peer identity.NodeID, f identity.FolderID, recs []wire.SignedRecord, complete []wire.Mark) error
	// PeerChanged is called when peer starts or stops sharing f with us.
	PeerChanged(f identity.FolderID, peer identity.NodeID, up bool)
}

// Options configures a Session.
type Options struct {
	Self  identity.NodeID
	Model Model
	// Exchange is how often each folder swaps summaries with a few random
	// peers, repairing what pushes missed. Default 30 s.
	Exchange time.Duration
	Logger   *slog.Logger
}

// Limits on what a peer may send.
const (
	maxProofsPerConn = 1024 // FolderProofs one connection may send
	maxBatch         = 1000 // records in one IndexRecords message
	gossipFanout     = 3    // peers a periodic exchange goes to
)

// ErrNotProved is the protocol error for a folder message about a folder
// the peer has not proved on this connection.
var ErrNotProved = fmt.Errorf("%w: folder not proved on this connection", wire.ErrMalformed)

// Session is the folder protocol of one node: a swarm.Extension.
type Session struct {
	opt Options
	log *slog.Logger

	mu    sync.Mutex
	conns map[*swarm.Conn]*connState
	// told orders the Model's PeerChanged calls as the decisions to make
	// them: a peer's up and down arrive in the order they happened.
	told sync.Mutex

	recordsIn, recordsOut atomic.Int64
	q                     queries // version queries sent (versions.go)
}

// Counts returns how many index records were received and sent.
func (s *Session) Counts() (in, out int64) { return s.recordsIn.Load(), s.recordsOut.Load() }

func (s *Session) sendRecords(c *swarm.Conn, m wire.IndexRecords) error {
	if err := c.Send(m); err != nil {
		return err
	}
	s.recordsOut.Add(int64(len(m.Records)))
	return nil
}

type connState struct {
	proofs int
	shared map[identity.FolderID]bool // proved by the peer, held by us
}

// New returns a Session; Run drives its periodic exchange.
func New(opt Options) *Session {
	if opt.Exchange <= 0 {
		opt.Exchange = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Session{opt: opt, log: opt.Logger, conns: make(map[*swarm.Conn]*connState)}
}

// Handles reports whether t is a folder message.
func (s *Session) Handles(t wire.MsgType) bool {
	return t == wire.TypeFolderProof || t == wire.TypeIndexSummary || t == wire.TypeIndexRecords ||
		t == wire.TypeVersionQuery || t == wire.TypeVersionHave
}

// Connected sends our proof of every folder held.
func (s *Session) Connected(c *swarm.Conn) {
	s.mu.Lock()
	s.conns[c] = &connState{shared: make(map[identity.FolderID]bool)}
	s.mu.Unlock()
	for _, ro := range s.opt.Model.Keys() {
		s.sendProof(c, ro)
	}
}

// Disconnected forgets c. A folder its peer still shares on another
// connection (two dialed at once, the other kept) is not reported gone.
func (s *Session) Disconnected(c *swarm.Conn) {
	s.told.Lock()
	defer s.told.Unlock()
	s.mu.Lock()
	st := s.conns[c]
	delete(s.conns, c)
	var gone []identity.FolderID
	if st != nil {
		for f := range st.shared {
			if !s.sharesLocked(c.ID(), f) {
				gone = append(gone, f)
			}
		}
	}
	s.mu.Unlock()
	for _, f := range gone {
		s.opt.Model.PeerChanged(f, c.ID(), false)
	}
}

func (s *Session) sendProof(c *swarm.Conn, ro identity.ROKey) {
	c.Send(wire.FolderProof{Proof: identity.Proof(ro, c.Exporter(), s.opt.Self)})
}

// AddFolder proves a folder that was added while peers are connected.
func (s *Session) AddFolder(ro identity.ROKey) {
	for _, c := range s.allConns() {
		s.sendProof(c, ro)
	}
}

// RemoveFolder stops sharing f with every peer.
func (s *Session) RemoveFolder(f identity.FolderID) {
	s.told.Lock()
	defer s.told.Unlock()
	s.mu.Lock()
	gone := make(map[identity.NodeID]bool)
	for c, st := range s.conns {
		if st.shared[f] {
			delete(st.shared, f)
			gone[c.ID()] = true
		}
	}
	s.mu.Unlock()
	for p := range gone {
		s.opt.Model.PeerChanged(f, p, false)
	}
}

func (s *Session) allConns() []*swarm.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*swarm.Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// peersOf returns the connections whose peers share f.
func (s *Session) peersOf(f identity.FolderID) []*swarm.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*swarm.Conn
	for c, st := range s.conns {
		if st.shared[f] {
			out = append(out, c)
		}
	}
	return out
}

// Shares reports whether peer proved folder f on a connection now open.
func (s *Session) Shares(peer identity.NodeID, f identity.FolderID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sharesLocked(peer, f)
}

func (s *Session) sharesLocked(peer identity.NodeID, f identity.FolderID) bool {
	for c, st := range s.conns {
		if c.ID() == peer && st.shared[f] {
			return true
		}
	}
	return false
}

// Peers returns the peers sharing f now.
func (s *Session) Peers(f identity.FolderID) []identity.NodeID {
	var out []identity.NodeID
	for _, c := range s.peersOf(f) {
		out = append(out, c.ID())
	}
	return out
}

// Handle takes one folder message from c.
func (s *Session) Handle(c *swarm.Conn, m wire.Message) error {
	ctx := context.Background()
	switch m := m.(type) {
	case wire.FolderProof:
		return s.proof(c, m)
	case wire.IndexSummary:
		f, err := s.proved(c, m.Folder)
		if err != nil {
			return err
		}
		if !m.Reply {
			if err := s.sendSummary(ctx, c, f, true); err != nil {
				return err
			}
		}
		return s.answer(ctx, c, f, m.Marks)
	case wire.IndexRecords:
		f, err := s.proved(c, m.Folder)
		if err != nil {
			return err
		}
		var complete []wire.Mark
		if m.Last {
			complete = m.Complete
		}
		s.recordsIn.Add(int64(len(m.Records)))
		return s.opt.Model.Records(ctx, c.ID(), f, m.Records, complete)
	case wire.VersionQuery:
		return s.versionQuery(ctx, c, m)
	case wire.VersionHave:
		return s.versionHave(c, m)
	}
	return nil
}

func (s *Session) proof(c *swarm.Conn, m wire.FolderProof) error {
	s.mu.Lock()
	st := s.conns[c]
	if st == nil {
		s.mu.Unlock()
		return nil
	}
	if st.proofs++; st.proofs > maxProofsPerConn {
		s.mu.Unlock()
		return fmt.Errorf("%w: more than %d folder proofs", wire.ErrMalformed, maxProofsPerConn)
	}
	s.mu.Unlock()
	for _, ro := range s.opt.Model.Keys() {
		if !identity.VerifyProof(ro, c.Exporter(), c.ID(), m.Proof) {
			continue
		}
		f := ro.ID()
		s.told.Lock()
		s.mu.Lock()
		already := st.shared[f]
		// Up already on another connection to the same peer: not again.
		first := !already && !s.sharesLocked(c.ID(), f)
		st.shared[f] = true
		s.mu.Unlock()
		if already {
			s.told.Unlock()
			return nil
		}
		if first {
			s.log.Info("peer shares folder", "peer", c.ID().Short(), "folder", f.String()[:8])
			s.opt.Model.PeerChanged(f, c.ID(), true)
		}
		s.told.Unlock()
		// Our proof again, in case the peer took the folder up after it
		// had our first one (it ignores a repeat), so that it has proof
		// before our summary. It sends its own summary once it has checked
		// ours: no need to ask for it (Reply).
		s.sendProof(c, ro)
		return s.sendSummary(context.Background(), c, f, true)
	}
	return nil // a folder we do not hold: nothing to say, and nothing learnt
}

func (s *Session) proved(c *swarm.Conn, id []byte) (identity.FolderID, error) {
	var f identity.FolderID
	copy(f[:], id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.conns[c]; st == nil || !st.shared[f] {
		return f, ErrNotProved
	}
	return f, nil
}

func (s *Session) sendSummary(ctx context.Context, c *swarm.Conn, f identity.FolderID, reply bool) error {
	marks, err := s.opt.Model.Summary(ctx, f)
	if err != nil {
		s.log.Warn("index summary", "folder", f.String()[:8], "err", err)
		return nil
	}
	return ignoreClosed(c.Send(wire.IndexSummary{Folder: f[:], Marks: marks, Reply: reply}))
}

// answer sends c every record of f it lacks, in batches, the last one
// saying up to where it is now complete.
func (s *Session) answer(ctx context.Context, c *swarm.Conn, f identity.FolderID, theirs []wire.Mark) error {
	var batch []wire.SignedRecord
	complete, err := s.opt.Model.Since(ctx, f, theirs, func(r wire.SignedRecord) error {
		batch = append(batch, r)
		if len(batch) == maxBatch {
			err := s.sendRecords(c, wire.IndexRecords{Folder: f[:], Records: batch})
			batch = nil
			return err
		}
		return nil
	})
	if err != nil {
		s.log.Warn("index records for peer", "peer", c.ID().Short(), "err", err)
		return ignoreClosed(err)
	}
	return ignoreClosed(s.sendRecords(c, wire.IndexRecords{Folder: f[:], Records: batch, Complete: complete, Last: true}))
}

// Push sends new records of f to every peer sharing it (a rumour).
func (s *Session) Push(f identity.FolderID, recs []wire.SignedRecord) {
	s.PushExcept(f, recs, identity.NodeID{})
}

// PushExcept sends records of f to every peer sharing it but from, which
// sent them to us.
func (s *Session) PushExcept(f identity.FolderID, recs []wire.SignedRecord, from identity.NodeID) {
	for len(recs) > 0 {
		n := min(len(recs), maxBatch)
		for _, c := range s.peersOf(f) {
			if c.ID() != from {
				s.sendRecords(c, wire.IndexRecords{Folder: f[:], Records: recs[:n]})
			}
		}
		recs = recs[n:]
	}
}

// Exchange swaps summaries of f with up to a few random peers sharing it.
func (s *Session) Exchange(ctx context.Context, f identity.FolderID) {
	peers := s.peersOf(f)
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	for _, c := range peers[:min(len(peers), gossipFanout)] {
		s.sendSummary(ctx, c, f, false)
	}
}

// Run exchanges summaries of every folder periodically until ctx ends.
func (s *Session) Run(ctx context.Context) error {
	t := time.NewTicker(s.opt.Exchange)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			for _, ro := range s.opt.Model.Keys() {
				s.Exchange(ctx, ro.ID())
			}
		}
	}
}

func ignoreClosed(err error) error {
	if errors.Is(err, swarm.ErrNotConnected) {
		return nil
	}
	return err
}
