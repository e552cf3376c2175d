package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
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
	// answerWindow is how many IndexRecords messages an answer keeps
	// sent and not yet acknowledged (IndexAck) by a peer that acks:
	// enough that the peer always has the next batch at hand, few enough
	// that its blocks and replies are never behind more than these.
	answerWindow = 4
	gossipFanout = 3 // peers a periodic exchange goes to
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

	// answers and inboxes run off the readers until stop; Run waits
	// for them.
	answers sync.WaitGroup
	stop    context.Context
	stopped context.CancelFunc
}

// Counts returns how many index records were received and sent.
func (s *Session) Counts() (in, out int64) { return s.recordsIn.Load(), s.recordsOut.Load() }

func (s *Session) sendRecords(c *swarm.Conn, m wire.IndexRecords) error {
	if err := c.Send(m); err != nil {
		return err
	}
	s.sent(c, m)
	return nil
}

// sendBulk sends m as one message of an answer's stream (swarm's bulk
// class): to a peer that acknowledges records it first waits until fewer
// than answerWindow messages are unacknowledged, and then while the
// peer's send queue holds a few.
func (s *Session) sendBulk(ctx context.Context, c *swarm.Conn, m wire.IndexRecords) error {
	if c.ProtocolMinor() >= wire.MinorIndexAck {
		if err := s.window(ctx, c); err != nil {
			return err
		}
	}
	if err := c.SendBulk(ctx, m); err != nil {
		return err
	}
	s.sent(c, m)
	return nil
}

// sent counts m as sent to c: in the records sent, and as one more
// message c is to acknowledge.
func (s *Session) sent(c *swarm.Conn, m wire.IndexRecords) {
	s.recordsOut.Add(int64(len(m.Records)))
	s.mu.Lock()
	if st := s.conns[c]; st != nil {
		st.unacked++
	}
	s.mu.Unlock()
}

// window waits until fewer than answerWindow IndexRecords messages sent
// to c are unacknowledged, until ctx ends or c closes.
func (s *Session) window(ctx context.Context, c *swarm.Conn) error {
	for {
		s.mu.Lock()
		st := s.conns[c]
		if st == nil {
			s.mu.Unlock()
			return swarm.ErrNotConnected
		}
		if st.unacked < answerWindow {
			s.mu.Unlock()
			return nil
		}
		acked := st.acked
		s.mu.Unlock()
		select {
		case <-acked:
		case <-c.Closed():
			return swarm.ErrNotConnected
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ack takes an IndexAck from c.
func (s *Session) ack(c *swarm.Conn, m wire.IndexAck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.conns[c]
	if st == nil {
		return
	}
	// A peer acknowledging more than it was sent only opens its own
	// window wider, up to the sends queued (swarm's maxBulk).
	st.unacked -= min(st.unacked, m.Messages)
	select {
	case st.acked <- struct{}{}:
	default:
	}
}

type connState struct {
	proofs int
	shared map[identity.FolderID]bool // proved by the peer, held by us
	// answering: folders whose answer to the peer's summary is being
	// sent; a newer summary that came meanwhile waits in again.
	answering map[identity.FolderID]bool
	again     map[identity.FolderID][]wire.Mark
	in        *inbox // records received, once any were
	// unacked counts IndexRecords messages sent to the peer and not yet
	// acknowledged; acked wakes an answer waiting for its window.
	unacked uint64
	acked   chan struct{}
	// expect: folders whose answer to a summary we sent the peer is still
	// to end; announced: the newest announcement of the peer per folder,
	// waiting for every answer expected of that folder to end.
	expect    map[identity.FolderID]bool
	announced map[identity.FolderID][]wire.Mark
}

// New returns a Session; Run drives its periodic exchange.
func New(opt Options) *Session {
	if opt.Exchange <= 0 {
		opt.Exchange = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Session{opt: opt, log: opt.Logger, conns: make(map[*swarm.Conn]*connState)}
	s.stop, s.stopped = context.WithCancel(context.Background())
	return s
}

// Handles reports whether t is a folder message.
func (s *Session) Handles(t wire.MsgType) bool {
	return t == wire.TypeFolderProof || t == wire.TypeIndexSummary || t == wire.TypeIndexRecords ||
		t == wire.TypeIndexAck || t == wire.TypeVersionQuery || t == wire.TypeVersionHave
}

// Connected sends our proof of every folder held.
func (s *Session) Connected(c *swarm.Conn) {
	s.mu.Lock()
	s.conns[c] = &connState{shared: make(map[identity.FolderID]bool),
		answering: make(map[identity.FolderID]bool), again: make(map[identity.FolderID][]wire.Mark),
		acked: make(chan struct{}, 1), expect: make(map[identity.FolderID]bool),
		announced: make(map[identity.FolderID][]wire.Mark)}
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
	var gone, expected []identity.FolderID
	if st != nil {
		for f := range st.shared {
			if !s.sharesLocked(c.ID(), f) {
				gone = append(gone, f)
			}
		}
		for f := range st.expect {
			expected = append(expected, f)
		}
	}
	s.mu.Unlock()
	for _, f := range gone {
		s.opt.Model.PeerChanged(f, c.ID(), false)
	}
	for _, f := range expected {
		s.settle(f, false) // its answer will not end: do not wait for it
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
		if m.Announce {
			return s.announced(ctx, c, f, m.Marks)
		}
		if !m.Reply {
			if err := s.sendSummary(ctx, c, f, true); err != nil {
				return err
			}
		}
		s.answerLater(c, f, m.Marks)
		return nil
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
		s.receive(c, recordsJob{f: f, recs: m.Records, complete: complete, last: m.Last, size: recordsSize(m.Records)})
		return nil
	case wire.IndexAck:
		s.ack(c, m)
		return nil
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
	return s.sendMarks(c, f, marks, reply)
}

// sendMarks sends c our summary marks of f, which c answers: until the
// answer's last message is taken in, announcements of f wait.
func (s *Session) sendMarks(c *swarm.Conn, f identity.FolderID, marks []wire.Mark, reply bool) error {
	s.mu.Lock()
	if st := s.conns[c]; st != nil {
		st.expect[f] = true
	}
	s.mu.Unlock()
	return ignoreClosed(c.Send(wire.IndexSummary{Folder: f[:], Marks: marks, Reply: reply}))
}

// receive hands records from c to c's inbox, starting its taker with
// the first; it waits while the inbox is full.
func (s *Session) receive(c *swarm.Conn, j recordsJob) {
	s.mu.Lock()
	st := s.conns[c]
	if st == nil || s.stop.Err() != nil {
		s.mu.Unlock()
		return
	}
	b := st.in
	if b == nil {
		b = newInbox()
		st.in = b
		acks := c.ProtocolMinor() >= wire.MinorIndexAck
		s.answers.Go(func() {
			b.take(s.stop, c, func(j recordsJob) error {
				if err := s.opt.Model.Records(s.stop, c.ID(), j.f, j.recs, j.complete); err != nil {
					return err
				}
				if j.last {
					s.answered(c, j.f)
				}
				if acks {
					return ignoreClosed(c.Send(wire.IndexAck{Messages: 1}))
				}
				return nil
			})
		})
	}
	s.mu.Unlock()
	b.put(j, c.Closed())
}

func recordsSize(rs []wire.SignedRecord) int {
	n := 0
	for _, r := range rs {
		n += len(r.Data) + len(r.Sig)
	}
	return n
}

// answerLater answers the summary theirs of f from c on a goroutine of
// its own, so that c's reader goes on (the blocks c sends us, its
// requests for ours) while a large index streams out at the pace c
// takes it in. One answer per connection and folder runs at a time; a
// summary that comes meanwhile is answered after it, the newest only.
func (s *Session) answerLater(c *swarm.Conn, f identity.FolderID, theirs []wire.Mark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.conns[c]
	switch {
	case st == nil || s.stop.Err() != nil:
		return
	case st.answering[f]:
		st.again[f] = theirs
		return
	}
	st.answering[f] = true
	s.answers.Go(func() {
		for {
			sent, err := s.answer(s.stop, c, f, theirs)
			if err != nil {
				s.log.Warn("index records for peer", "peer", c.ID().Short(), "err", err)
			}
			s.mu.Lock()
			next, ok := st.again[f]
			delete(st.again, f)
			if !ok {
				delete(st.answering, f)
			}
			s.mu.Unlock()
			if !ok {
				return
			}
			// The newer summary was made while this answer streamed in:
			// what the answer sent, the peer holds (the connection is
			// one ordered stream), however far its summary lagged.
			theirs = raise(next, sent)
		}
	})
}

// raise returns theirs with each origin's sequence raised to the one
// sent says, where that is higher.
func raise(theirs, sent []wire.Mark) []wire.Mark {
	out := append([]wire.Mark(nil), theirs...)
	for _, m := range sent {
		i := slices.IndexFunc(out, func(x wire.Mark) bool { return x.Origin == m.Origin })
		switch {
		case i < 0:
			out = append(out, m)
		case m.Seq > out[i].Seq:
			out[i].Seq = m.Seq
		}
	}
	return out
}

// answer sends c every record of f it lacks, in batches, the last one
// saying up to where it is now complete, and returns those marks once it
// sent them. A connection that closed is no error.
func (s *Session) answer(ctx context.Context, c *swarm.Conn, f identity.FolderID, theirs []wire.Mark) ([]wire.Mark, error) {
	var batch []wire.SignedRecord
	complete, err := s.opt.Model.Since(ctx, f, theirs, func(r wire.SignedRecord) error {
		batch = append(batch, r)
		if len(batch) == maxBatch {
			err := s.sendBulk(ctx, c, wire.IndexRecords{Folder: f[:], Records: batch})
			batch = nil
			return err
		}
		return nil
	})
	if err == nil {
		err = s.sendBulk(ctx, c, wire.IndexRecords{Folder: f[:], Records: batch, Complete: complete, Last: true})
	}
	if err == nil {
		return complete, nil
	}
	if errors.Is(err, context.Canceled) && s.stop.Err() != nil {
		return nil, nil
	}
	return nil, ignoreClosed(err)
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

// Run exchanges summaries of every folder periodically until ctx ends,
// then stops the answers being sent and waits for them: the Model is not
// called after Run returned.
func (s *Session) Run(ctx context.Context) error {
	t := time.NewTicker(s.opt.Exchange)
	defer t.Stop()
	defer func() {
		s.mu.Lock()
		s.stopped()
		s.mu.Unlock()
		s.answers.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			for _, ro := range s.opt.Model.Keys() {
				s.Exchange(ctx, ro.ID())
				s.settle(ro.ID(), true)
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
